"""Assignment 1's checks: the pixel loss, one gradient step, the content loss."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ...core import losses
from ..marks import CheckFailed, Marks
from .common import (Parts, as_tensor, check_per_image_loss, check_shape, compare,
                     mean_over_batch_message, rand, randn, run_student, torch_calls, with_reference)

__all__ = ["check_pixel_loss", "check_gradient_step", "check_content_loss",
           "reference_gradient_step"]


def reference_gradient_step(image: torch.Tensor, target: torch.Tensor, lr: float) -> torch.Tensor:
    r"""One gradient-descent step on the pixel loss: :math:`x \leftarrow x - \eta \nabla_x L`."""
    image = image.detach().clone().requires_grad_(True)
    loss = losses.pixel_loss(image, target).sum()
    (grad,) = torch.autograd.grad(loss, image)
    return (image - lr * grad).detach()


@with_reference(losses.pixel_loss)
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
            ((y - z).pow(2).mean(), mean_over_batch_message("pixel loss")),
        ]

    part = Parts(marks)
    y, z = rand(2, 3, 4, 5, seed=1), rand(2, 3, 4, 5, seed=2)
    # N and C grow too, so that a loop over the images or the channels is seen as a loop.
    large = (rand(4, 6, 8, 10, seed=3), rand(4, 6, 8, 10, seed=4))
    check_per_image_loss(part, "pixel_loss", fn, (y, z), ("generated", "target"),
                         losses.pixel_loss, mistakes, ("generated",), large,
                         "Subtract, square and sum whole tensors: "
                         "(generated - target).pow(2).flatten(1).sum(dim=1).")
    part.passed("pixel_loss matches L = Σ (y − z)² (values, shape, gradient; inputs untouched; "
                "vectorised)")


def _uses_autograd(calls: Sequence[Callable]) -> bool:
    return any(getattr(call, "__name__", "") in ("backward", "grad") for call in calls)


@with_reference(reference_gradient_step)
def check_gradient_step(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor],
                        marks: Marks | None = None) -> None:
    r"""Check ``fn(image, target, lr)`` against one step :math:`x - \eta \nabla_x L_{pixel}`.

    The result is the new (N, C, H, W) image; ``image`` itself must not change. The gradient
    must come from autograd (``backward`` or ``torch.autograd.grad``) and the new image must
    not be attached to the graph (computed under ``torch.no_grad()``, or detached).
    """
    name = "gradient_step"
    part = Parts(marks)
    # Three images, so that a mean over the batch (÷ 3) is not mistaken for a missing 2.
    x, z, lr = rand(3, 3, 4, 5, seed=5), rand(3, 3, 4, 5, seed=6), 0.1
    n, numel = x.shape[0], x[0].numel()
    names = ("image", "target", "lr")
    copy_hint = "Work on a copy: image.detach().clone().requires_grad_(True)."
    with part("the new image", 2):
        out = as_tensor(name, run_student(name, fn, (x, z, lr), names, copy_hint))
        check_shape(name, out, tuple(x.shape), "the updated image, the same shape as the input")
        expected = reference_gradient_step(x, z, lr)
        grad = 2 * (x - z)
        compare(name, out, expected, [
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
        out, calls = run_student(name, torch_calls, (fn, x, z, lr), ("fn", *names), copy_hint)
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


@with_reference(losses.content_loss)
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
            (0.5 * torch.nn.functional.mse_loss(f, p), mean_over_batch_message("content loss")),
        ]

    part = Parts(marks)
    f, p = randn(2, 4, 5, 6, seed=7), randn(2, 4, 5, 6, seed=8)
    large = (randn(4, 8, 10, 12, seed=9), randn(4, 8, 10, 12, seed=10))
    check_per_image_loss(part, "content_loss", fn, (f, p), ("features", "target_features"),
                         losses.content_loss, mistakes, ("features",), large,
                         "Use whole-tensor operations: 0.5 * (features - target_features)"
                         ".pow(2).flatten(1).sum(dim=1).")
    part.passed("content_loss matches the paper's formula ½ Σ (F − P)² (values, shape, "
                "gradient; inputs untouched; vectorised)")
