r"""The points of one graded cell, part by part, as a number nbgrader reads.

A graded cell of an assignment notebook builds a :class:`Marks`, runs the check of the
exercise and the hidden tests as *parts* of it, and ends with the ``Marks`` object itself::

    checks = nh.graded_checks()                     # the package's own, see below
    marks = checks.Marks(points=2)
    checks.check_pixel_loss(pixel_loss, marks)      # parts: values, gradient, vectorised
    with marks.part("a worked example"):            # a hidden test: one more part
        checks.expect("pixel_loss", pixel_loss(y, z), torch.tensor([5.0]), "on ...")
    marks

A part that fails is recorded with its one-line message instead of stopping the cell, so the
parts that work still count. The cell's points are shared among the parts that ran, in
proportion to their weights, and shown as the cell's result: ``text/plain`` is the number
alone, which nbgrader's autograder reads as partial credit (``nbgrader.utils.determine_grade``:
a grade cell's ``execute_result`` that parses as a float is its score, an error or anything
written to stderr is 0); HTML shows each part with ✓ or ✗ and its message; JSON
(``application/json``) gives the parts to :mod:`nstyle_helpers.classroom.grading`.

Because the points are shared among the parts that *ran*, a correct function gets every
point in the student version too, where the hidden tests are removed: nbgrader's
``validate`` agrees with the grade.

A graded cell takes its ``checks`` from
:func:`~nstyle_helpers.classroom.integrity.graded_checks`: if a cell changed what the checks
use, that copy's :data:`REFUSED` says what, and every ``Marks`` it makes scores 0 with that
sentence.

A failed check outside a ``Marks`` raises :class:`CheckFailed`, which IPython shows as its
message alone (``_render_traceback_``), not as forty lines of this package's frames;
:func:`full_traceback` shows the whole traceback on request.
"""

from __future__ import annotations

import contextlib
import html
import io
import math
import re
import sys
import traceback
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..base.errors import SettingsError

__all__ = ["CheckFailed", "Marks", "Part", "IN_PLACE_HINT", "constant_factor", "error_hint",
           "failure_message", "expect", "first_line", "full_traceback"]


#: Set in a graded cell's fresh copy of this module when a cell changed the checks
#: (:mod:`nstyle_helpers.classroom.integrity`): the sentence every ``Marks`` then shows, with 0
#: points.
REFUSED: str | None = None


class CheckFailed(AssertionError):
    """A student's function disagrees with the formula; the message says how to fix it."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of the traceback (see the module docstring).
        return [f"CheckFailed: {self}",
                "(checks.full_traceback() shows where it failed)"]


#: How to avoid changing a tensor in place (used by several messages).
IN_PLACE_HINT = ("Compute a new tensor instead (`a - b`, not `a -= b`, `a.sub_(b)`, "
                 "`a.pow_(2)` or `a[...] = ...`).")


def error_hint(error: Exception) -> str:
    """A sentence on what usually causes ``error`` in a student's tensor code ('' if none)."""
    text = str(error)
    if "numpy" in text.lower() and "requires grad" in text:
        return ("Calling .numpy() leaves PyTorch, and autograd cannot follow: compute the "
                "loss with torch operations only.")
    if "leaf Variable" in text or "in-place operation" in text:
        return "An in-place operation modified a tensor autograd needs: " + IN_PLACE_HINT
    if "does not require grad" in text:
        return ("Autograd has nothing to differentiate: call .requires_grad_(True) on (a copy "
                "of) the image before computing the loss.")
    if "only for scalar outputs" in text:
        return ("The loss is one value per image, shape (N,): sum it to one number "
                "(`.sum()`) before calling .backward().")
    if "t() expects a tensor with <= 2 dimensions" in text:
        return (".t() transposes a 2-D matrix only; a batch of flattened maps is 3-D, "
                "(N, C, H·W): swap its last two dimensions with .transpose(1, 2).")
    if isinstance(error, TypeError) and "NoneType" in text:
        return ("Something is None where a tensor was expected: often image.grad, which stays "
                "None unless the image requires grad and loss.backward() ran.")
    if "shapes cannot be multiplied" in text or "size mismatch" in text:
        return ("Check the shapes: features.flatten(2) is (N, C, H·W), and .transpose(1, 2) "
                "of it is (N, H·W, C).")
    if isinstance(error, (RuntimeError, IndexError)) and ("shape" in text or "size" in text):
        return ("Does your code assume particular sizes? Read N, C, H and W from the "
                "input's .shape.")
    return ""


def failure_message(error: BaseException) -> str:
    """The message a student reads for an exception raised inside a check or a hidden test."""
    if isinstance(error, CheckFailed):
        return str(error)
    if isinstance(error, NotImplementedError):
        return ("not written yet: replace `raise NotImplementedError()` with your code, then "
                "run its cell and this one again.")
    if isinstance(error, NameError):
        return (f"{error}: run the cell that defines it first (if you renamed the function or "
                "deleted its cell, restore it).")
    text = str(error).strip()
    if text and text[-1] not in ".!?":
        text += "."
    return f"your code raised {type(error).__name__}: {text} {error_hint(error)}".rstrip()


@dataclass
class Part:
    """One part of a graded cell: what it tests, its weight, and its failure (None: passed)."""

    what: str
    weight: float
    message: str | None = None
    error: BaseException | None = None

    @property
    def passed(self) -> bool:
        return self.message is None


class Marks:
    """The score of one graded cell worth ``points``, shared among its parts by weight."""

    def __init__(self, points: float):
        if not points > 0:
            raise SettingsError("a graded cell is worth a positive number of points, "
                                f"not {points!r}.")
        self.points = points
        self.parts: list[Part] = []
        self.refused = REFUSED
        #: A sentence when the student's code wrote to stderr inside a part (see part()).
        self.stderr_note: str | None = None

    @contextlib.contextmanager
    def part(self, what: str, weight: float = 1.0):
        """Run the ``with`` block as one part: an exception is recorded as its failure.

        Warnings are silenced inside, and what the student's code writes to stderr (a
        ``tqdm`` progress bar) is kept out of the cell's output and noted instead
        (:attr:`stderr_note`), because nbgrader gives 0 points to a graded cell whose output
        has anything on stderr.
        """
        captured = io.StringIO()
        try:
            with warnings.catch_warnings(), contextlib.redirect_stderr(captured):
                warnings.simplefilter("ignore")
                yield
        except Exception as error:  # noqa: BLE001 (any error of a student's code fails the part)
            self.parts.append(Part(what, weight, failure_message(error), error))
        else:
            self.parts.append(Part(what, weight))
        if captured.getvalue().strip() and self.stderr_note is None:
            self.stderr_note = (
                "your code wrote to stderr (a progress bar?): "
                f"{first_line(captured.getvalue(), 120)!r}. The check kept it out of this cell's "
                "output, which nbgrader would score 0; in your own cells prefer "
                "`from tqdm.auto import tqdm`, which draws a widget instead.")

    @property
    def failed(self) -> list[Part]:
        return [part for part in self.parts if not part.passed]

    @property
    def score(self) -> float:
        """The points earned, rounded to 0.01: the points times the passed share of weight
        (0 when the checks were changed, :data:`REFUSED`)."""
        total = sum(part.weight for part in self.parts)
        if total == 0 or self.refused:
            return 0.0
        passed = sum(part.weight for part in self.parts if part.passed)
        return round(self.points * passed / total, 2)

    def __repr__(self) -> str:
        return f"{self.score:g}"  # the text/plain nbgrader parses as partial credit

    def _repr_html_(self) -> str:
        lines = [f"<li>✗ {html.escape(self.refused)}</li>"] if self.refused else []
        for part in self.parts:
            mark = "✓" if part.passed else "✗"
            text = part.what if part.passed else f"{part.what}: {part.message}"
            lines.append(f"<li>{mark} {html.escape(text)}</li>")
        if self.stderr_note:
            lines.append(f"<li>ℹ {html.escape(self.stderr_note)}</li>")
        hint = (" <small>(checks.full_traceback(marks) shows where each failure happened)"
                "</small>" if self.failed else "")
        return (f"<div><b>{self.score:g} / {self.points:g} points</b>{hint}"
                f"<ul>{''.join(lines)}</ul></div>")

    def _repr_json_(self) -> dict:
        return {"points": self.score, "max": self.points, "refused": self.refused,
                "stderr_note": self.stderr_note,
                "parts": [{"what": part.what, "weight": part.weight, "passed": part.passed,
                           "message": part.message} for part in self.parts]}


def expect(name: str, got, expected: torch.Tensor, when: str, *, rtol: float = 1e-5,
           atol: float = 1e-6, mistakes: Sequence[tuple[torch.Tensor, str]] = ()) -> None:
    """Compare a result of the student's ``name`` with ``expected``, in the checks' voice.

    ``when`` completes the sentence: "pixel_loss {when} returned ..." Raises CheckFailed on
    a result that is not a tensor, or has the wrong shape, dtype or values. ``mistakes`` are
    (the value a known mistake gives, the sentence that names it): a hidden test that lists
    them names the mistake, as the visible checks do, instead of showing numbers alone.
    """
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{name} {when} returned a {type(got).__name__}, not a tensor.")
    if tuple(got.shape) != tuple(expected.shape):
        raise CheckFailed(f"{name} {when} returned shape {tuple(got.shape)}, expected "
                          f"{tuple(expected.shape)}.")
    if got.dtype != expected.dtype:
        raise CheckFailed(f"{name} {when} returned {got.dtype}, expected {expected.dtype}: "
                          "keep the input's dtype (no torch.tensor(...) or .double() of your "
                          "own).")
    got = got.detach().to(expected.device)
    if not torch.allclose(got, expected, rtol=rtol, atol=atol):
        if expected.numel() <= 6:
            shown = f"{_numbers(got)}, expected {_numbers(expected)}"
        else:
            shown = (f"values up to {float((got - expected).abs().max()):.3g} away from the "
                     "expected ones")
        named = _named_mistake(got, expected, mistakes, rtol=rtol, atol=atol)
        raise CheckFailed(f"{name} {when} returned {shown}{named}.")


def _named_mistake(got: torch.Tensor, expected: torch.Tensor,
                   mistakes: Sequence[tuple[torch.Tensor, str]], *, rtol: float,
                   atol: float) -> str:
    """': ' and the mistake a wrong ``got`` shows, when it is a listed one or a constant
    factor; '' when it is neither."""
    for value, sentence in mistakes:
        if value.shape == got.shape and torch.allclose(got, value.to(got), rtol=rtol, atol=atol):
            return f": {sentence}"
    # float32 results may differ from a scaled reference by rounding.
    factor = constant_factor(got.double(), expected.double(), rtol=1e-4)
    if factor is None:
        return ""
    return (f": {factor:.6g} × the expected values everywhere, so a constant factor is wrong "
            "(a ½, a mean for a sum, a division by a size?); compare each with the formula")


def constant_factor(got: torch.Tensor, expected: torch.Tensor,
                    rtol: float = 1e-6) -> float | None:
    """The constant c with got = c · expected everywhere (to ``rtol``), if there is one: at
    least two entries are not zero (any wrong single number is a multiple of the right one)."""
    mask = expected.abs() > 1e-12
    if int(mask.sum()) < 2 or not bool((got[~mask].abs() <= 1e-12).all()):
        return None
    ratios = got[mask] / expected[mask]
    c = float(ratios.mean())
    if c != 0 and math.isfinite(c) and torch.allclose(ratios, torch.full_like(ratios, c),
                                                      rtol=rtol, atol=0):
        return c
    return None


def first_line(text: str, limit: int = 200) -> str:
    """The first line of ``text`` with something on it, cut at ``limit`` characters ('' if
    none): a progress bar redraws its line with \\r, and a stream may hold nothing else."""
    return next((line.strip() for line in re.split(r"[\r\n]+", text) if line.strip()), "")[:limit]


def _numbers(tensor: torch.Tensor) -> str:
    return "[" + ", ".join(f"{float(v):.4g}" for v in tensor.flatten()) + "]"


def full_traceback(marks: Marks | None = None) -> None:
    """Print the whole traceback of each failed part of ``marks``, or of the last error."""
    errors = ([part.error for part in marks.failed if part.error is not None]
              if marks is not None else [getattr(sys, "last_value", None)])
    errors = [error for error in errors if error is not None]
    if not errors:
        print("No failure to show.")
    for error in errors:
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stdout)
