"""What every check shares: seeded inputs, calling the student's function, its shape,
comparing its values with the reference and with known mistakes, its gradient, counting
its PyTorch operations (loops), and falling back to the reference in a demonstration."""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Callable, Mapping, Sequence

import torch
from torch.overrides import TorchFunctionMode

from ..marks import IN_PLACE_HINT, CheckFailed, Marks, constant_factor, error_hint

# The steps the assignments' checks (a1, a2, a3) are made of; the package's checks namespace
# re-exports only TOLERANCE, count_torch_calls and yours_or_reference.
__all__ = ["TOLERANCE", "F64", "Parts", "as_tensor", "check_autograd", "check_per_image_loss",
           "check_shape", "check_vectorised", "compare", "count_torch_calls",
           "mean_over_batch_message", "rand", "randn", "run_student", "shape_text",
           "torch_calls", "with_reference", "yours_or_reference"]

#: Tolerance of every comparison (the inputs are float64).
TOLERANCE = {"rtol": 1e-6, "atol": 1e-9}

#: The dtype of every seeded input: float64, so that rounding never decides a check.
F64 = torch.float64


class _CallRecorder(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.calls: list[Callable] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls.append(func)
        return func(*args, **(kwargs or {}))


def torch_calls(fn: Callable, *args) -> tuple[object, list[Callable]]:
    """``fn(*args)`` and the PyTorch functions and tensor methods it called, in order."""
    with _CallRecorder() as recorder:
        out = fn(*args)
    return out, recorder.calls


def count_torch_calls(fn: Callable, *args) -> int:
    """How many PyTorch functions and tensor methods ``fn(*args)`` calls.

    >>> count_torch_calls(lambda x: (x * x).sum(), torch.ones(3))
    2
    """
    return len(torch_calls(fn, *args)[1])


def randn(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


def rand(*shape, seed: int) -> torch.Tensor:
    return torch.rand(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


def _tensors_in(name: str, value) -> list[tuple[str, torch.Tensor]]:
    if isinstance(value, torch.Tensor):
        return [(name, value)]
    if isinstance(value, Mapping):
        return [item for key, v in value.items() for item in _tensors_in(f"{name}[{key!r}]", v)]
    return []


def run_student(name: str, fn: Callable, args: Sequence, arg_names: Sequence[str],
                in_place_hint: str = IN_PLACE_HINT):
    """Call ``fn(*args)``; turn its errors and any change to its inputs into CheckFailed."""
    watched = [(label, tensor, tensor.detach().clone(), tensor._version)
               for arg_name, arg in zip(arg_names, args)
               for label, tensor in _tensors_in(arg_name, arg)]
    try:
        out = fn(*args)
    except CheckFailed:
        raise
    except NotImplementedError:
        raise CheckFailed(f"{name} is not written yet: replace `raise NotImplementedError()` "
                          "with your code, then run its cell and this one again.") from None
    except Exception as error:  # noqa: BLE001 (any error in a student's code fails the check)
        raise CheckFailed(f"{name} raised {type(error).__name__}: {error}\n"
                          f"{error_hint(error)}".rstrip()) from error
    for label, tensor, before, version in watched:
        if tensor._version != version or not torch.equal(tensor.detach(), before):
            raise CheckFailed(f"{name} changed its input `{label}` in place: the caller's "
                              f"tensor is not the same afterwards. {in_place_hint}")
    return out


def as_tensor(name: str, out) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if out is None:
        raise CheckFailed(f"{name} returned None: did you forget the `return`?")
    if isinstance(out, (bool, int, float)):
        raise CheckFailed(f"{name} returned a Python {type(out).__name__} ({out!r}), not a "
                          "tensor: did you call .item() or float()? Return the tensor itself, "
                          "so that autograd can differentiate it and each image keeps its "
                          "own value.")
    if type(out).__module__ == "numpy":
        raise CheckFailed(f"{name} returned a NumPy {type(out).__name__}, not a tensor: "
                          ".numpy() leaves PyTorch and autograd cannot follow; compute with "
                          "torch operations only.")
    raise CheckFailed(f"{name} returned a {type(out).__name__}, expected a torch.Tensor.")


def check_shape(name: str, out: torch.Tensor, expected: tuple[int, ...], meaning: str,
                hints: Mapping[tuple[int, ...], str] | None = None) -> None:
    got = tuple(out.shape)
    if got == tuple(expected):
        return
    hint = (hints or {}).get(got, "")
    raise CheckFailed(f"{name} returned shape {got}, expected {tuple(expected)} ({meaning}). "
                      f"{hint}".rstrip())


def _loss_shape_hints(n: int, shape: tuple[int, ...]) -> dict[tuple[int, ...], str]:
    """Hints for a per-image loss of an (N, ...) input whose result should be (N,)."""
    every = tuple(range(1, len(shape)))
    how = f"`.flatten(1).sum(dim=1)` or `.sum(dim={every})`"
    hints = {(): "You summed over the batch too: sum over every dimension except the first "
                 f"(the batch), {how}, to keep one loss per image.",
             tuple(shape): f"You returned the squared differences themselves; add them up: {how}."}
    for k in range(2, len(shape)):
        hints[tuple(shape[:k])] = (f"Sum over all of dimensions {every}, not only some of "
                                   f"them: {how}.")
    return hints


def _match_mistake(name: str, got: torch.Tensor,
                   mistakes: Sequence[tuple[torch.Tensor, str]]) -> None:
    """Raise the message of the first known mistake whose result ``got`` equals."""
    for candidate, message in mistakes:
        if _same_values(got, candidate):
            raise CheckFailed(f"{name}: {message}")


def compare(name: str, got: torch.Tensor, expected: torch.Tensor,
            mistakes: Sequence[tuple[torch.Tensor, str]] = (), what: str = "result") -> None:
    got = got.detach().to(F64)
    if torch.allclose(got, expected, **TOLERANCE):
        return
    if not bool(torch.isfinite(got).all()):
        raise CheckFailed(f"{name}'s {what} contains NaN or infinite values.")
    _match_mistake(name, got, mistakes)
    ratio = constant_factor(got, expected)
    if ratio is not None:
        raise CheckFailed(f"{name}'s {what} is {ratio:.6g} × the reference everywhere: a "
                          "constant factor is wrong. Compare each constant (and each "
                          "division by a size) with the formula.")
    index = tuple(int(i) for i in torch.unravel_index((got - expected).abs().argmax(),
                                                      got.shape))
    raise CheckFailed(f"{name}'s {what} differs from the formula: at index {index} it is "
                      f"{float(got[index]):.6g}, the reference {float(expected[index]):.6g} "
                      f"(tolerance: relative {TOLERANCE['rtol']:g}). Check it against the "
                      "formula term by term, on a tiny input you can work out by hand.")


def check_autograd(name: str, fn: Callable, args: Sequence, arg_names: Sequence[str],
                   differentiable: Sequence[str], reference: Callable) -> None:
    """The result must have a grad_fn and the same gradient as the reference's."""
    mine = [a.detach().clone().requires_grad_(n in differentiable)
            if isinstance(a, torch.Tensor) else a for a, n in zip(args, arg_names)]
    theirs = [a.detach().clone().requires_grad_(n in differentiable)
              if isinstance(a, torch.Tensor) else a for a, n in zip(args, arg_names)]
    out = as_tensor(name, run_student(name, fn, mine, arg_names))
    if out.grad_fn is None:
        raise CheckFailed(f"{name}'s result is cut off from its input (it has no grad_fn), so "
                          "autograd cannot differentiate it and the optimisation would not "
                          "move. Did you use .detach(), .item(), .numpy(), torch.tensor(...) "
                          "of a tensor, or `with torch.no_grad()`? Keep every step a torch "
                          "operation on the input.")
    expected = reference(*theirs)
    if out.shape != expected.shape:  # the values part names the shape; no gradient to compare
        raise CheckFailed(f"{name}'s gradient cannot be compared with the reference's while "
                          f"its result has shape {tuple(out.shape)} instead of "
                          f"{tuple(expected.shape)}: fix the shape first.")
    weights = randn(*expected.shape, seed=99)
    inputs = [a for a, n in zip(mine, arg_names) if n in differentiable]
    ref_inputs = [a for a, n in zip(theirs, arg_names) if n in differentiable]
    grads = torch.autograd.grad((out.to(F64) * weights).sum(), inputs, allow_unused=True)
    ref_grads = torch.autograd.grad((expected * weights).sum(), ref_inputs)
    for label, grad, ref_grad in zip([n for n in arg_names if n in differentiable], grads,
                                     ref_grads):
        if grad is None:
            raise CheckFailed(f"{name}'s result does not depend on `{label}` as far as "
                              "autograd can tell: part of the computation is detached.")
        if not torch.allclose(grad, ref_grad, **TOLERANCE):
            ratio = constant_factor(grad, ref_grad)
            size = f" ({ratio:.3g} × the reference)" if ratio is not None else ""
            if not _same_values(out, expected):  # the values part says what is wrong
                raise CheckFailed(f"{name}'s gradient with respect to `{label}` differs from "
                                  f"the reference's{size}, as its values do: fix the values "
                                  "first.")
            if out.dtype != expected.dtype:
                raise CheckFailed(
                    f"{name}'s values are right but it returned {out.dtype} for {F64} "
                    f"input, which rounds its gradient: a tensor your code creates "
                    "(torch.empty, torch.zeros, torch.tensor) has PyTorch's default dtype "
                    f"unless given the input's (dtype={label}.dtype, or torch.zeros_like).")
            raise CheckFailed(f"{name}'s values are right but its gradient with respect to "
                              f"`{label}` is not{size}: part of the computation is cut off "
                              "from autograd (a .detach() or .data on one factor?).")


def _same_values(out: torch.Tensor, expected: torch.Tensor) -> bool:
    return out.shape == expected.shape and torch.allclose(out.detach().to(F64),
                                                          expected.detach().to(F64), **TOLERANCE)


def check_vectorised(name: str, fn: Callable, small: Sequence, large: Sequence,
                     sizes: tuple[str, str], hint: str) -> None:
    """Fail if the number of PyTorch calls grows with the input size (a Python loop)."""
    with torch.no_grad():
        n_small = run_student(name, count_torch_calls, (fn, *small), ())
        try:
            n_large = count_torch_calls(fn, *large)
        except Exception as error:  # noqa: BLE001 (any error in a student's code fails the check)
            raise CheckFailed(f"{name} works on a {sizes[0]} input but raised "
                              f"{type(error).__name__} on a {sizes[1]} one ({error}): does it "
                              "assume particular sizes? Read N, C, H and W from the input's "
                              ".shape.") from error
    if n_large > 1.5 * n_small and n_large - n_small >= 4:
        raise CheckFailed(f"{name} gives the right values but loops in Python: it made "
                          f"{n_small} PyTorch calls for a {sizes[0]} input and {n_large} for "
                          f"a {sizes[1]} one, so its work grows with the number of "
                          f"images, channels or pixels, one small operation at a time. {hint}")


class Parts:
    """The parts of one check: recorded in ``marks``, or (``marks=None``) raised at once."""

    def __init__(self, marks: Marks | None):
        self.marks = marks
        self.start = len(marks.parts) if marks is not None else 0

    def __call__(self, what: str, weight: float = 1.0):
        """A context for one part (see :meth:`Marks.part`)."""
        return contextlib.nullcontext() if self.marks is None else self.marks.part(what, weight)

    def passed(self, message: str) -> None:
        """Print the check's ✓ line if none of its parts failed."""
        if self.marks is None or all(part.passed for part in self.marks.parts[self.start:]):
            print(f"✓ {message}")


def with_reference(reference: Callable):
    """Attach the reference implementation to a check (used by :func:`yours_or_reference`)."""
    def decorate(check):
        check.reference = reference
        return check
    return decorate


def shape_text(shape) -> str:
    return "×".join(str(s) for s in shape)


def check_per_image_loss(part, name, fn, args, arg_names, reference, mistakes_of,
                         differentiable, large_args, loop_hint):
    """The three parts every per-image loss check has: values and shape (2 of the weight:
    a known mistake among ``mistakes_of(*args, expected)`` is named), gradient with respect to
    the ``differentiable`` arguments, and no Python loop (``large_args`` against ``args``).
    ``reference`` computes the right (N,) losses; ``loop_hint`` says how to vectorise."""
    n = args[0].shape[0]
    with part("values and shape", 2):
        out = as_tensor(name, run_student(name, fn, args, arg_names))
        expected = reference(*args)
        mistakes = mistakes_of(*args, expected)
        if tuple(out.shape) != (n,):
            _match_mistake(name, out, mistakes)  # e.g. F.mse_loss: one number for the batch
        check_shape(name, out, (n,), "one loss per image of the batch",
                    _loss_shape_hints(n, tuple(args[0].shape)))
        compare(name, out, expected, mistakes)
    with part("gradient"):
        check_autograd(name, fn, args, arg_names, differentiable, reference)
    with part("no Python loop, any size"):
        check_vectorised(name, fn, args, large_args,
                         (shape_text(args[0].shape), shape_text(large_args[0].shape)),
                         loop_hint)


def mean_over_batch_message(loss: str) -> str:
    return (f"you returned one number for the whole batch, the mean of the squared differences "
            f"over every image and entry (what F.mse_loss gives); the {loss} is a sum, one per "
            "image: shape (N,).")


def yours_or_reference(fn: Callable, check: Callable[[Callable], None]) -> Callable:
    """``fn`` if it passes ``check``, else the reference implementation, with a note.

    Lets a demonstration cell run (with the reference) before the exercise is done, and
    with the student's own function once it passes. A function that passes the check but
    raises in the demonstration (the hidden tests would have caught it: sizes written into
    the code, say) is replaced by the reference from then on, with a note, so the cell
    still runs to the end.
    """
    quiet = io.StringIO()
    try:
        with contextlib.redirect_stdout(quiet):
            check(fn)
    except AssertionError as failure:
        first = str(failure).splitlines()[0] if str(failure) else type(failure).__name__
        print(f"(Using the reference solution here, because your "
              f"{getattr(fn, '__name__', 'function')} does not pass its check yet: {first})")
        return check.reference
    return _falling_back(fn, check.reference)


def _falling_back(fn: Callable, reference: Callable) -> Callable:
    """``fn``, but the first error it raises switches to ``reference`` for good, with a note."""
    chosen = [fn]

    @functools.wraps(fn)
    def call(*args, **kwargs):
        if chosen[0] is fn:
            try:
                return fn(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 (a demonstration must run to its end)
                print(f"(Your {getattr(fn, '__name__', 'function')} passed its check but "
                      f"raised {type(error).__name__} here: {error} Using the reference "
                      "solution from now on; the hidden tests probably find the same "
                      "problem.)")
                chosen[0] = reference
        return reference(*args, **kwargs)

    return call
