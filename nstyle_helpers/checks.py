r"""Checks for the assignment notebooks: run a student's function, compare it, explain.

Each ``check_*`` function runs a student's function on small seeded inputs, compares the
result with the reference implementation (:mod:`nstyle_helpers.losses`, or the small
references below for the exercises that are not losses) and either prints one line
(``✓ gram_matrix matches the paper's formula ...``) or raises :class:`CheckFailed`. That is
an :class:`AssertionError`, so a failing check fails its notebook cell for the student, for
nbgrader's autograder and for nbval alike.

Inputs are float64, the tolerance is :data:`TOLERANCE` (relative 1e-6). What is checked, in
this order, and what a failure message says:

1. the function raises: not written yet (``NotImplementedError``), ``.numpy()`` on a tensor
   that requires grad, an in-place operation on a leaf, a missing ``.requires_grad_()``;
2. it changes one of its inputs in place (values or PyTorch's version counter);
3. it returns no tensor (``.item()``, ``float()``, ``.numpy()``, a forgotten ``return``) or
   the wrong shape, with a hint (which dimensions to sum over; F Fᵀ against Fᵀ F; ...);
4. its values differ. Known mistakes are recognised by computing them: the ½ forgotten, a
   mean for a sum, the Gram matrix divided by N·M, α and β swapped, no ``zero_grad()``, ...
   Any other constant factor is named as a ratio;
5. its result is cut off from autograd (no ``grad_fn``), or its gradient differs (part of
   the computation detached);
6. it loops in Python where one vectorised expression does.

How loops are detected (6): :func:`count_torch_calls` counts the PyTorch operations the
function performs (through a ``TorchFunctionMode``), on a small input and on a larger one. A
vectorised expression performs the same few operations whatever the size; a Python loop over
channels or pixels performs more on the larger input. Counting is exact and independent of
the machine's speed, so it gives the same answer on a loaded 2-core laptop as on a GPU
server, where timing against the reference would need a factor so generous that it misses
small loops, or would fail at random. The larger input has more images too, so a loop over
the batch is a loop as well: the assignments ask for none.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch.overrides import TorchFunctionMode

from . import losses
from .marks import IN_PLACE_HINT, CheckFailed, Marks, error_hint, expect, full_traceback

__all__ = [
    "TOLERANCE",
    "CheckFailed",
    "Marks",
    "expect",
    "full_traceback",
    "count_torch_calls",
    "check_pixel_loss",
    "check_gradient_step",
    "check_content_loss",
    "check_gram_matrix",
    "check_style_loss",
    "check_total_variation",
    "check_combined_loss",
    "check_optimization_loop",
    "reference_gradient_step",
    "reference_combined_loss",
    "reference_optimize_image",
    "yours_or_reference",
]

#: Tolerance of every comparison (the inputs are float64).
TOLERANCE = {"rtol": 1e-6, "atol": 1e-9}

F64 = torch.float64


# ---------------------------------------------------------------------------------------------
# Reference implementations of the exercises that are not plain losses.


def reference_gradient_step(image: torch.Tensor, target: torch.Tensor, lr: float) -> torch.Tensor:
    r"""One gradient-descent step on the pixel loss: :math:`x \leftarrow x - \eta \nabla_x L`."""
    image = image.detach().clone().requires_grad_(True)
    loss = losses.pixel_loss(image, target).sum()
    (grad,) = torch.autograd.grad(loss, image)
    return (image - lr * grad).detach()


def reference_combined_loss(features: Mapping[str, torch.Tensor],
                            content_targets: Mapping[str, torch.Tensor],
                            style_targets: Mapping[str, torch.Tensor],
                            alpha: float, beta: float,
                            style_weights: Mapping[str, float]) -> torch.Tensor:
    r""":math:`\alpha \sum_l L_{content} + \beta \sum_{l \in \lambda} E_l`, one value per image.

    ``features[l]`` is (N, C, H, W); ``content_targets[l]`` P^l; ``style_targets[l]`` A^l,
    the (1, C, C) Gram matrix of the style image at the same size; ``style_weights[l]`` w_l.
    """
    content = sum(losses.content_loss(features[layer], target)
                  for layer, target in content_targets.items())
    style = sum(losses.style_layer_loss(losses.gram_matrix(features[layer]), target,
                                        features[layer][0, 0].numel(), style_weights[layer])
                for layer, target in style_targets.items())
    return losses.combined_loss(content, style, alpha, beta)


def _adam_loop(loss_fn, init, steps, lr, *, zero_grad=True, clamp=True, optimizer="adam"):
    image = init.detach().clone().requires_grad_(True)
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)([image], lr=lr)
    history = []
    for _ in range(steps):
        if zero_grad:
            opt.zero_grad()
        loss = loss_fn(image).sum()
        loss.backward()
        opt.step()
        if clamp:
            with torch.no_grad():
                image.clamp_(0.0, 1.0)
        history.append(loss.item())
    return image.detach(), history


def reference_optimize_image(loss_fn: Callable[[torch.Tensor], torch.Tensor],
                             init: torch.Tensor, steps: int, lr: float
                             ) -> tuple[torch.Tensor, list[float]]:
    """Adam on the pixels of a copy of ``init``, clamped to [0, 1] after every step.

    Returns the final image (detached) and the total loss at the start of each step.
    """
    return _adam_loop(loss_fn, init, steps, lr)


# ---------------------------------------------------------------------------------------------
# Counting PyTorch operations


class _CallRecorder(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.calls: list[Callable] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls.append(func)
        return func(*args, **(kwargs or {}))


def _torch_calls(fn: Callable, *args) -> tuple[object, list[Callable]]:
    """``fn(*args)`` and the PyTorch functions and tensor methods it called, in order."""
    with _CallRecorder() as recorder:
        out = fn(*args)
    return out, recorder.calls


def count_torch_calls(fn: Callable, *args) -> int:
    """How many PyTorch functions and tensor methods ``fn(*args)`` calls.

    >>> count_torch_calls(lambda x: (x * x).sum(), torch.ones(3))
    2
    """
    return len(_torch_calls(fn, *args)[1])


# ---------------------------------------------------------------------------------------------
# The steps every check shares


def _randn(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


def _rand(*shape, seed: int) -> torch.Tensor:
    return torch.rand(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


def _tensors_in(name: str, value) -> list[tuple[str, torch.Tensor]]:
    if isinstance(value, torch.Tensor):
        return [(name, value)]
    if isinstance(value, Mapping):
        return [item for key, v in value.items() for item in _tensors_in(f"{name}[{key!r}]", v)]
    return []


def _call(name: str, fn: Callable, args: Sequence, arg_names: Sequence[str],
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


def _as_tensor(name: str, out) -> torch.Tensor:
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


def _check_shape(name: str, out: torch.Tensor, expected: tuple[int, ...], meaning: str,
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


def _ratio(got: torch.Tensor, expected: torch.Tensor) -> float | None:
    """The constant c with got = c · expected, if there is one."""
    mask = expected.abs() > 1e-12
    if not bool(mask.any()) or not bool((got[~mask].abs() <= 1e-12).all()):
        return None
    ratios = got[mask] / expected[mask]
    c = float(ratios.mean())
    if c != 0 and math.isfinite(c) and torch.allclose(ratios, torch.full_like(ratios, c),
                                                      rtol=1e-6, atol=0):
        return c
    return None


def _match_mistake(name: str, got: torch.Tensor,
                   mistakes: Sequence[tuple[torch.Tensor, str]]) -> None:
    """Raise the message of the first known mistake whose result ``got`` equals."""
    for candidate, message in mistakes:
        if _same_values(got, candidate):
            raise CheckFailed(f"{name}: {message}")


def _compare(name: str, got: torch.Tensor, expected: torch.Tensor,
             mistakes: Sequence[tuple[torch.Tensor, str]] = (), what: str = "result") -> None:
    got = got.detach().to(F64)
    if torch.allclose(got, expected, **TOLERANCE):
        return
    if not bool(torch.isfinite(got).all()):
        raise CheckFailed(f"{name}'s {what} contains NaN or infinite values.")
    _match_mistake(name, got, mistakes)
    ratio = _ratio(got, expected)
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


def _check_autograd(name: str, fn: Callable, args: Sequence, arg_names: Sequence[str],
                    differentiable: Sequence[str], reference: Callable) -> None:
    """The result must have a grad_fn and the same gradient as the reference's."""
    mine = [a.detach().clone().requires_grad_(n in differentiable)
            if isinstance(a, torch.Tensor) else a for a, n in zip(args, arg_names)]
    theirs = [a.detach().clone().requires_grad_(n in differentiable)
              if isinstance(a, torch.Tensor) else a for a, n in zip(args, arg_names)]
    out = _as_tensor(name, _call(name, fn, mine, arg_names))
    if out.grad_fn is None:
        raise CheckFailed(f"{name}'s result is cut off from its input (it has no grad_fn), so "
                          "autograd cannot differentiate it and the optimisation would not "
                          "move. Did you use .detach(), .item(), .numpy(), torch.tensor(...) "
                          "of a tensor, or `with torch.no_grad()`? Keep every step a torch "
                          "operation on the input.")
    expected = reference(*theirs)
    weights = _randn(*expected.shape, seed=99)
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
            ratio = _ratio(grad, ref_grad)
            size = f" ({ratio:.3g} × the reference)" if ratio is not None else ""
            if not _same_values(out, expected):  # the values part says what is wrong
                raise CheckFailed(f"{name}'s gradient with respect to `{label}` differs from "
                                  f"the reference's{size}, as its values do: fix the values "
                                  "first.")
            raise CheckFailed(f"{name}'s values are right but its gradient with respect to "
                              f"`{label}` is not{size}: part of the computation is cut off "
                              "from autograd (a .detach() or .data on one factor?).")


def _same_values(out: torch.Tensor, expected: torch.Tensor) -> bool:
    return out.shape == expected.shape and torch.allclose(out.detach().to(F64),
                                                          expected.detach().to(F64), **TOLERANCE)


def _check_vectorised(name: str, fn: Callable, small: Sequence, large: Sequence,
                      sizes: tuple[str, str], hint: str) -> None:
    """Fail if the number of PyTorch calls grows with the input size (a Python loop)."""
    with torch.no_grad():
        n_small = _call(name, count_torch_calls, (fn, *small), ())
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


class _Parts:
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


def _with_reference(reference: Callable):
    """Attach the reference implementation to a check (used by :func:`yours_or_reference`)."""
    def decorate(check):
        check.reference = reference
        return check
    return decorate


def _shape_text(shape) -> str:
    return "×".join(str(s) for s in shape)


# ---------------------------------------------------------------------------------------------
# The checks
#
# Every check takes the student's function and, optionally, the Marks of its graded cell.
# Without Marks it raises CheckFailed at the first failure (a student's own call, and
# yours_or_reference); with Marks each part (values, gradient, no Python loop, ...) is
# recorded on its own, so the parts that work still earn their share of the points.


def _check_per_image_loss(part, name, fn, args, arg_names, reference, mistakes_of,
                          differentiable, large_args, loop_hint):
    n = args[0].shape[0]
    with part("values and shape", 2):
        out = _as_tensor(name, _call(name, fn, args, arg_names))
        expected = reference(*args)
        mistakes = mistakes_of(*args, expected)
        if tuple(out.shape) != (n,):
            _match_mistake(name, out, mistakes)  # e.g. F.mse_loss: one number for the batch
        _check_shape(name, out, (n,), "one loss per image of the batch",
                     _loss_shape_hints(n, tuple(args[0].shape)))
        _compare(name, out, expected, mistakes)
    with part("gradient"):
        _check_autograd(name, fn, args, arg_names, differentiable, reference)
    with part("no Python loop, any size"):
        _check_vectorised(name, fn, args, large_args,
                          (_shape_text(args[0].shape), _shape_text(large_args[0].shape)),
                          loop_hint)


def _mean_over_batch_message(loss: str) -> str:
    return (f"you returned one number for the whole batch, the mean of the squared differences "
            f"over every image and entry (what F.mse_loss gives); the {loss} is a sum, one per "
            "image: shape (N,).")


@_with_reference(losses.pixel_loss)
def check_pixel_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                     marks: Marks | None = None) -> None:
    r"""Check ``fn(generated, target)`` against :math:`L = \sum_{ijk} (y_{ijk} - z_{ijk})^2`.

    Both arguments are (N, C, H, W); the result must be (N,), one loss per image.
    """
    def mistakes(y, z, expected):
        numel = y[0].numel()
        return [
            (expected / 2, "your pixel loss is half the reference: the pixel loss has no ½ "
                           "(the ½ belongs to the content loss)."),
            (expected / numel, f"your pixel loss is the mean of the {numel} squared "
                               "differences of an image; the formula adds them up: use .sum, "
                               "not .mean."),
            (expected.sqrt(), "your pixel loss is the Euclidean distance ‖y − z‖, the square "
                              "root of the loss; the formula is its square (no sqrt, no "
                              "torch.norm)."),
            ((y - z).abs().flatten(1).sum(1), "you added up |y − z|; the formula squares the "
                                              "differences: (y − z)²."),
            ((y - z).flatten(1).sum(1), "you forgot to square the differences: (y − z)²."),
            ((y - z).pow(2).mean(), _mean_over_batch_message("pixel loss")),
        ]

    part = _Parts(marks)
    y, z = _rand(2, 3, 4, 5, seed=1), _rand(2, 3, 4, 5, seed=2)
    # N and C grow too, so that a loop over the images or the channels is seen as a loop.
    large = (_rand(4, 6, 8, 10, seed=3), _rand(4, 6, 8, 10, seed=4))
    _check_per_image_loss(part, "pixel_loss", fn, (y, z), ("generated", "target"),
                          losses.pixel_loss, mistakes, ("generated",), large,
                          "Subtract, square and sum whole tensors: "
                          "(generated - target).pow(2).flatten(1).sum(dim=1).")
    part.passed("pixel_loss matches L = Σ (y − z)² (values, shape, gradient; inputs untouched; "
                "vectorised)")


def _uses_autograd(calls: Sequence[Callable]) -> bool:
    return any(getattr(call, "__name__", "") in ("backward", "grad") for call in calls)


@_with_reference(reference_gradient_step)
def check_gradient_step(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor],
                        marks: Marks | None = None) -> None:
    r"""Check ``fn(image, target, lr)`` against one step :math:`x - \eta \nabla_x L_{pixel}`.

    The result is the new (N, C, H, W) image; ``image`` itself must not change. The gradient
    must come from autograd (``backward`` or ``torch.autograd.grad``) and the new image must
    not be attached to the graph (computed under ``torch.no_grad()``, or detached).
    """
    name = "gradient_step"
    part = _Parts(marks)
    # Three images, so that a mean over the batch (÷ 3) is not mistaken for a missing 2.
    x, z, lr = _rand(3, 3, 4, 5, seed=5), _rand(3, 3, 4, 5, seed=6), 0.1
    n, numel = x.shape[0], x[0].numel()
    names = ("image", "target", "lr")
    copy_hint = "Work on a copy: image.detach().clone().requires_grad_(True)."
    with part("the new image", 2):
        out = _as_tensor(name, _call(name, fn, (x, z, lr), names, copy_hint))
        _check_shape(name, out, tuple(x.shape), "the updated image, the same shape as the input")
        expected = reference_gradient_step(x, z, lr)
        grad = 2 * (x - z)
        _compare(name, out, expected, [
            (x, "your function returned the image unchanged: the step x − lr·∇L did nothing "
                "(did you update a copy but return the original, or zero the gradient before "
                "using it?)."),
            (x + lr * grad, "you stepped uphill: gradient descent subtracts the gradient, "
                            "x − lr·∇L, not x + lr·∇L."),
            (x - lr * grad / 2, "your step is half the reference: the gradient of (y − z)² is "
                                "2 (y − z). Did you write the gradient by hand without the 2? "
                                "Let autograd compute it with loss.backward()."),
            (grad, "you returned the gradient ∇L, not the updated image x − lr·∇L."),
            (lr * grad, "you returned the step lr·∇L, not the updated image x − lr·∇L."),
            (x - grad, "you ignored the learning rate: x − lr·∇L."),
            (x - lr * grad / numel, "your gradient is that of the mean squared difference; "
                                    "the pixel loss is the sum (use pixel_loss, and .sum() "
                                    "over the batch)."),
            (x - lr * grad / n, f"your step is 1/{n} of the reference, the batch size: you "
                                "took the mean over the batch (loss.mean()) before "
                                ".backward(). Add the images' losses up with .sum(), so each "
                                "image gets the gradient of its own loss."),
            (x - lr * grad / (n * numel), "your loss is the mean over the whole batch (every "
                                          "image and pixel, as F.mse_loss gives); the pixel "
                                          "loss is a sum: pixel_loss(image, target).sum()."),
        ], what="new image")
    with part("autograd computes the gradient", 1):
        out, calls = _call(name, _torch_calls, (fn, x, z, lr), ("fn", *names), copy_hint)
        if not _uses_autograd(calls):
            raise CheckFailed(f"{name} gives the right image without autograd: the exercise "
                              "asks you to let autograd compute the gradient (loss.backward(), "
                              "then image.grad) instead of writing 2 (x − z) by hand.")
        if isinstance(out, torch.Tensor) and out.requires_grad:
            raise CheckFailed(f"{name}'s new image is still attached to autograd's graph (it "
                              "requires grad): compute x − lr·x.grad inside `with "
                              "torch.no_grad():`, so that it is a new plain image.")
    part.passed("gradient_step makes one step x − lr·∇L of gradient descent (autograd; input "
                "untouched)")


@_with_reference(losses.content_loss)
def check_content_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                       marks: Marks | None = None) -> None:
    r"""Check ``fn(features, target_features)`` against
    :math:`L_{content} = \tfrac12 \sum_{ij} (F^l_{ij} - P^l_{ij})^2`, one value per image."""
    def mistakes(f, p, expected):
        numel = f[0].numel()
        return [
            (2 * expected, "your content loss is twice the reference: did you forget the ½ "
                           "in ½ Σ (F − P)²?"),
            (2 * expected / numel, "your content loss looks like F.mse_loss, the mean squared "
                                   "error (as in the PyTorch tutorial). The paper's loss is "
                                   "½ Σ (F − P)²: a sum with a ½, not a mean."),
            (expected / numel, f"your content loss is divided by the {numel} entries of F: "
                               "use the sum, not the mean (keep the ½)."),
            ((2 * expected).sqrt(), "your content loss is the distance ‖F − P‖; the formula "
                                    "is ½ ‖F − P‖², without the square root."),
            (expected.sqrt(), "you took a square root: the formula is ½ Σ (F − P)²."),
            (0.5 * (f - p).abs().flatten(1).sum(1), "you added up |F − P|; square the "
                                                    "differences: ½ Σ (F − P)²."),
            (torch.nn.functional.mse_loss(f, p),
             "you used F.mse_loss, which gives one number for the whole batch: the mean of "
             "the squared errors over every image and entry. The paper's content loss is "
             "½ Σ (F − P)², a sum with a ½, one per image: shape (N,)."),
            (0.5 * torch.nn.functional.mse_loss(f, p), _mean_over_batch_message("content loss")),
        ]

    part = _Parts(marks)
    f, p = _randn(2, 4, 5, 6, seed=7), _randn(2, 4, 5, 6, seed=8)
    large = (_randn(4, 8, 10, 12, seed=9), _randn(4, 8, 10, 12, seed=10))
    _check_per_image_loss(part, "content_loss", fn, (f, p), ("features", "target_features"),
                          losses.content_loss, mistakes, ("features",), large,
                          "Use whole-tensor operations: 0.5 * (features - target_features)"
                          ".pow(2).flatten(1).sum(dim=1).")
    part.passed("content_loss matches the paper's formula ½ Σ (F − P)² (values, shape, "
                "gradient; inputs untouched; vectorised)")


@_with_reference(losses.gram_matrix)
def check_gram_matrix(fn: Callable[[torch.Tensor], torch.Tensor],
                      marks: Marks | None = None) -> None:
    r"""Check ``fn(features)`` against :math:`G^l_{ij} = \sum_k F^l_{ik} F^l_{jk}`.

    ``features`` is (N, C, H, W); the result must be (N, C, C), unnormalised.
    """
    name = "gram_matrix"
    part = _Parts(marks)
    n, c, h, w = 2, 3, 4, 5
    f = _randn(n, c, h, w, seed=11)
    m = h * w
    with part("values and shape", 2):
        out = _as_tensor(name, _call(name, fn, (f,), ("features",)))
        _check_shape(name, out, (n, c, c), "one N_l × N_l matrix per image: N_l = C maps", {
            (n, m, m): (f"You computed Fᵀ F, an M_l × M_l matrix ({m}×{m}: one entry per pair "
                        f"of positions), instead of F Fᵀ, N_l × N_l ({c}×{c}: one entry per "
                        "pair of feature maps). With flat = features.flatten(2), shape "
                        "(N, C, H·W), compute flat @ flat.transpose(1, 2)."),
            (c, c): ("You dropped the batch dimension: return one Gram matrix per image, "
                     "(N, C, C). Use the batched flat @ flat.transpose(1, 2), not .t() or "
                     "torch.mm, which need 2-D tensors."),
            (n * c, n * c): ("You mixed the images of the batch into one matrix: keep the "
                             "batch dimension, flatten only H and W (features.flatten(2)) and "
                             "use flat @ flat.transpose(1, 2)."),
            (n, c, h, w): ("You returned a tensor shaped like the features: stretch each map "
                           "into a vector first (features.flatten(2) gives (N, C, H·W)), then "
                           "take the dot products of every pair of rows."),
            (n, c, m): ("Stretching the maps into vectors, (N, C, H·W), is the first half; the "
                        "Gram matrix is the dot product of every pair of those rows: "
                        "flat @ flat.transpose(1, 2)."),
        })
        expected = losses.gram_matrix(f)
        _compare(name, out, expected, [
            (expected / (c * m), f"your Gram matrix looks divided by N_l·M_l = {c}·{m} (the "
                                 "PyTorch tutorial's normalisation); the paper's formula is "
                                 "the unnormalised dot product, and the normalisation "
                                 "1/(4 N_l² M_l²) belongs in the style loss."),
            (expected / m, f"your Gram matrix looks divided by M_l = {m}, the number of "
                           "positions; the paper's formula is the unnormalised dot product, "
                           "the normalisation belongs in the style loss."),
            (expected / c, f"your Gram matrix looks divided by N_l = {c}, the number of maps; "
                           "the paper's formula is the unnormalised dot product."),
            (expected / (n * c * m), "your Gram matrix is divided by the number of entries of "
                                     "the whole batch; the paper's formula is the "
                                     "unnormalised dot product."),
            (2 * expected, "your Gram matrix is twice the reference: each entry is one dot "
                           "product ⟨F_i, F_j⟩, counted once."),
        ])
    with part("gradient"):
        _check_autograd(name, fn, (f,), ("features",), ("features",), losses.gram_matrix)
    with part("no Python loop, any size"):
        _check_vectorised(name, fn, (f,), (_randn(2 * n, 2 * c, 2 * h, 2 * w, seed=12),),
                          (_shape_text(f.shape), _shape_text((2 * n, 2 * c, 2 * h, 2 * w))),
                          "One matrix product gives every dot product at once: "
                          "flat @ flat.transpose(1, 2) (or torch.bmm, or torch.einsum).")
    part.passed("gram_matrix matches the paper's formula G = F Fᵀ (values, shape, gradient; "
                "inputs untouched; vectorised)")


@_with_reference(losses.style_layer_loss)
def check_style_loss(fn: Callable[..., torch.Tensor], marks: Marks | None = None) -> None:
    r"""Check ``fn(gram, target_gram, num_positions, weight)`` against
    :math:`E_l = w_l \frac{1}{4 N_l^2 M_l^2} \sum_{ij} (G^l_{ij} - A^l_{ij})^2`.

    ``gram`` and ``target_gram`` are (N, C, C); N_l = C is read from them, M_l is
    ``num_positions``; the result is (N,).
    """
    name = "style_layer_loss"
    part = _Parts(marks)
    n, c, h, w = 2, 3, 4, 5
    m, weight = h * w, 0.3
    g = losses.gram_matrix(_randn(n, c, h, w, seed=13))
    a = losses.gram_matrix(_randn(n, c, h, w, seed=14))
    names = ("gram", "target_gram", "num_positions", "weight")

    def mistakes(g_, a_, m_, w_, expected):
        return [
            (4 * expected, "your style loss is 4 × the reference: did you forget the 4 in "
                           "1/(4 N_l² M_l²)?"),
            (c * expected, f"your style loss is N_l = {c} × the reference: divide by N_l² "
                           "(the number of maps, squared), not N_l. N_l is "
                           "gram.shape[-1]."),
            (m * expected, f"your style loss is M_l = {m} × the reference: divide by M_l² "
                           "(the positions per map, squared), not M_l."),
            (c * m * expected, "you divided by N_l·M_l instead of (N_l·M_l)²: "
                               "1/(4 N_l² M_l²)."),
            (4 * c**2 * m**2 * expected, "your style loss has no normalisation: multiply the "
                                         "sum by w_l/(4 N_l² M_l²)."),
            (expected / weight, f"you ignored the layer weight w_l (here {weight}): "
                                "multiply by `weight`."),
            (expected / c**2, "you took the mean over the N_l² entries of the Gram matrices "
                              "instead of the sum (the formula already divides by N_l²)."),
        ]

    def reference(g_, a_, m_, w_):
        return losses.style_layer_loss(g_, a_, m_, w_)

    large_g = losses.gram_matrix(_randn(n, 2 * c, 2 * h, 2 * w, seed=15))
    large_a = losses.gram_matrix(_randn(n, 2 * c, 2 * h, 2 * w, seed=16))
    _check_per_image_loss(part, name, fn, (g, a, m, weight), names, reference, mistakes,
                          ("gram",), (large_g, large_a, 4 * m, weight),
                          "Use whole-tensor operations: weight / (4 * n**2 * m**2) * "
                          "(gram - target_gram).pow(2).flatten(1).sum(dim=1).")
    part.passed("style_layer_loss matches the paper's formula w/(4 N² M²) Σ (G − A)² "
                "(values, shape, gradient; inputs untouched; vectorised)")


@_with_reference(losses.total_variation)
def check_total_variation(fn: Callable[[torch.Tensor], torch.Tensor],
                          marks: Marks | None = None) -> None:
    r"""Check ``fn(image)`` against the squared total variation
    :math:`\sum_{ijk} (x_{i+1,j,k} - x_{ijk})^2 + (x_{i,j+1,k} - x_{ijk})^2`, one per image."""
    def mistakes(x, expected):
        down = x[..., 1:, :] - x[..., :-1, :]
        right = x[..., :, 1:] - x[..., :, :-1]
        per_image = lambda t: t.flatten(1).sum(1)  # noqa: E731
        rolled = (per_image((x.roll(-1, dims=-2) - x).pow(2))
                  + per_image((x.roll(-1, dims=-1) - x).pow(2)))
        return [
            (per_image(down.abs()) + per_image(right.abs()),
             "you added up absolute differences |x_{i+1,j} − x_{i,j}| (kornia's total "
             "variation); this exercise uses the squared form (x_{i+1,j} − x_{i,j})², which "
             "is differentiable everywhere, as L-BFGS needs."),
            (per_image(down.pow(2)), "you only compared vertical neighbours (x_{i+1,j} − "
                                     "x_{i,j}); add the horizontal ones (x_{i,j+1} − x_{i,j})."),
            (per_image(right.pow(2)), "you only compared horizontal neighbours (x_{i,j+1} − "
                                      "x_{i,j}); add the vertical ones (x_{i+1,j} − x_{i,j})."),
            (down.pow(2).flatten(1).mean(1) + right.pow(2).flatten(1).mean(1),
             "you took the mean of the squared differences; the formula adds them up: use "
             ".sum, not .mean."),
            (rolled, "your differences wrap around (torch.roll compares the last row with the "
                     "first): use slices, x[..., 1:, :] - x[..., :-1, :] and "
                     "x[..., :, 1:] - x[..., :, :-1]."),
            (2 * expected, "your total variation is twice the reference: each pair of "
                           "neighbours counts once."),
        ]

    part = _Parts(marks)
    x = _rand(2, 3, 4, 5, seed=17)
    # N and C grow too, so that a loop over the images or the channels is seen as a loop.
    _check_per_image_loss(part, "total_variation", fn, (x,), ("image",),
                          losses.total_variation, mistakes, ("image",),
                          (_rand(4, 6, 8, 10, seed=18),),
                          "Take the differences of shifted slices of the whole tensor at "
                          "once: x[..., 1:, :] - x[..., :-1, :] and x[..., :, 1:] - "
                          "x[..., :, :-1].")
    part.passed("total_variation matches Σ (x_{i+1,j} − x_{ij})² + (x_{i,j+1} − x_{ij})² "
                "(values, shape, gradient; inputs untouched; vectorised)")


@_with_reference(reference_combined_loss)
def check_combined_loss(fn: Callable[..., torch.Tensor], marks: Marks | None = None) -> None:
    r"""Check ``fn(features, content_targets, style_targets, alpha, beta, style_weights)``
    against :math:`\alpha L_{content} + \beta L_{style}`, one value per image.

    ``features``: ``{layer: (N, C, H, W)}``; ``content_targets``: ``{layer: P^l}``;
    ``style_targets``: ``{layer: A^l}``, (1, C, C) Gram matrices of a style image of the same
    size; ``style_weights``: ``{layer: w_l}``.
    """
    name = "combined_loss"
    part = _Parts(marks)
    n = 2
    shapes = {"relu1_1": (3, 6, 5), "relu2_1": (4, 3, 4), "relu4_2": (5, 2, 3)}
    features = {layer: _randn(n, *shape, seed=20 + i) for i, (layer, shape) in
                enumerate(shapes.items())}
    content_targets = {"relu4_2": _randn(1, *shapes["relu4_2"], seed=30)}
    style_targets = {layer: losses.gram_matrix(_randn(1, *shapes[layer], seed=31 + i))
                     for i, layer in enumerate(("relu1_1", "relu2_1"))}
    alpha, beta, style_weights = 0.7, 2.5, {"relu1_1": 0.25, "relu2_1": 0.75}
    args = (features, content_targets, style_targets, alpha, beta, style_weights)
    names = ("features", "content_targets", "style_targets", "alpha", "beta", "style_weights")
    with part("values and shape", 2):
        out = _as_tensor(name, _call(name, fn, args, names))
        _check_shape(name, out, (n,), "one loss per image of the batch", {
            (): "You summed over the batch: keep one total loss per image, shape (N,)."})
        expected = reference_combined_loss(*args)
        content = reference_combined_loss(features, content_targets, {}, 1.0, 0.0, {})
        style = reference_combined_loss(features, {}, style_targets, 0.0, 1.0, style_weights)
        unweighted = reference_combined_loss(features, {}, style_targets, 0.0, 1.0,
                                             dict.fromkeys(style_weights, 1.0))
        _compare(name, out, expected, [
            (beta * content + alpha * style, "you swapped α and β: α weighs the content loss, "
                                             "β the style loss."),
            (alpha * content + beta * unweighted, "you ignored the layer weights w_l: pass "
                                                  "style_weights[layer] to style_layer_loss."),
            (alpha * content, "the style term is missing: add β · Σ_l E_l over the style "
                              "layers."),
            (beta * style, "the content term is missing: add α · L_content."),
            (content + style, "you left out α and β: α L_content + β L_style."),
            (alpha * content + beta * style / len(style_targets),
             "you averaged E_l over the style layers; the weights w_l already do that: "
             "L_style = Σ_l E_l."),
        ])
    with part("gradient"):
        _check_autograd(name, lambda *f: fn(dict(zip(shapes, f)), *args[1:]),
                        tuple(features.values()), tuple(shapes), tuple(shapes),
                        lambda *f: reference_combined_loss(dict(zip(shapes, f)), *args[1:]))
    part.passed("combined_loss matches α L_content + β Σ_l E_l (values, shape, gradient; "
                "inputs untouched)")


def _loop_result(name: str, out, init: torch.Tensor, steps: int, calls: list
                 ) -> tuple[torch.Tensor, Sequence]:
    """The (image, history) pair ``optimize_image`` returned, checked for its form."""
    if not isinstance(out, tuple) or len(out) != 2:
        raise CheckFailed(f"{name} should return a pair (image, history), got "
                          f"{type(out).__name__}.")
    image, history = out
    image = _as_tensor(name, image)
    _check_shape(name, image, tuple(init.shape), "the optimised images, shaped like init")
    if len(calls) < steps:
        raise CheckFailed(f"{name} called loss_fn {len(calls)} times for {steps} steps: each "
                          "Adam step needs one evaluation of the loss (and its backward).")
    return image, history


@_with_reference(reference_optimize_image)
def check_optimization_loop(fn: Callable[..., tuple[torch.Tensor, Sequence[float]]],
                            marks: Marks | None = None) -> None:
    """Check ``fn(loss_fn, init, steps, lr)``: Adam on a copy of ``init``, clamped to [0, 1]
    after every step; returns ``(image, history)`` with one float per step (the total loss
    at the start of that step)."""
    name = "optimize_image"
    part = _Parts(marks)
    init = _rand(2, 3, 4, 5, seed=40)
    # Part of the target lies outside [0, 1], so that clamping changes the result.
    target = _rand(2, 3, 4, 5, seed=41) * 1.6 - 0.3
    steps, lr = 6, 0.1
    calls = []

    def loss_fn(image):
        calls.append(1)
        return losses.pixel_loss(image, target)

    def run(**kwargs):
        img, hist = _adam_loop(loss_fn, init, steps, lr, **kwargs)
        return img, torch.tensor(hist, dtype=F64)

    expected, expected_history = run()
    calls.clear()
    result = None
    with part("the final image", 2):
        out = _call(name, fn, (loss_fn, init, steps, lr), ("loss_fn", "init", "steps", "lr"),
                    "Optimise a copy, not the caller's tensor: "
                    "image = init.detach().clone().requires_grad_(True).")
        result = image, history = _loop_result(name, out, init, steps, calls)
        variants = {
            "zero": ("you never reset the gradients: call optimizer.zero_grad() before each "
                     "backward(), or the gradients of all earlier steps add up.",
                     run(zero_grad=False)),
            "clamp": ("you do not clamp the pixels: after each step, `with torch.no_grad(): "
                      "image.clamp_(0, 1)` keeps the image a valid picture.", run(clamp=False)),
            "both": ("you neither reset the gradients (optimizer.zero_grad()) nor clamp the "
                     "pixels to [0, 1] after each step.", run(zero_grad=False, clamp=False)),
            "sgd": ("that is plain gradient descent (torch.optim.SGD); the exercise asks for "
                    "torch.optim.Adam.", run(optimizer="sgd")),
        }
        _compare(name, image, expected,
                 [(variant[1][0], variant[0]) for variant in variants.values()],
                 what="final image")
    with part("the history"):
        if result is None:
            raise CheckFailed(f"{name}'s history can only be checked once it returns "
                              "(image, history) without an error.")
        history = result[1]
        if not isinstance(history, Sequence) or len(history) != steps:
            length = len(history) if isinstance(history, Sequence) else type(history).__name__
            raise CheckFailed(f"{name}'s history should hold one loss per step ({steps}), got "
                              f"{length}.")
        if any(isinstance(v, torch.Tensor) and v.requires_grad for v in history):
            raise CheckFailed(f"{name} keeps loss tensors in its history: each keeps its "
                              "step's whole graph alive (memory grows every step). Store "
                              "loss.item(), a plain float.")
        try:
            history = torch.tensor([float(v) for v in history], dtype=F64)
        except (TypeError, ValueError):
            raise CheckFailed(f"{name}'s history should hold numbers (loss.item()).") from None
        shifted = torch.cat([expected_history[1:], expected_history[-1:]])
        _compare(name, history, expected_history, [
            (shifted, "your history is shifted by one step: record the loss you computed in "
                      "the step (before optimizer.step()), as loss.item()."),
            (expected_history / init.shape[0], "your history holds the mean over the batch; "
                                               "record the total, loss.sum().item()."),
        ], what="history")
    part.passed("optimize_image runs Adam on a copy, clamps to [0, 1], records one loss per "
                "step")


# ---------------------------------------------------------------------------------------------


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
