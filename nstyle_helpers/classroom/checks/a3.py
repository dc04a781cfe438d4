"""Assignment 3's checks: total variation, the combined loss and the optimisation loop."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from ...core import losses
from ..marks import CheckFailed, Marks
from .common import (F64, Parts, as_tensor, check_autograd, check_per_image_loss, check_shape,
                     compare, rand, randn, run_student, with_reference)

__all__ = ["check_total_variation", "check_combined_loss", "check_optimization_loop",
           "reference_combined_loss", "reference_optimize_image", "adam_loop"]


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


def adam_loop(loss_fn, init, steps, lr, *, zero_grad=True, clamp=True, optimizer="adam"):
    """The reference optimisation loop (Adam, clamped), or with ``zero_grad=False``,
    ``clamp=False`` or ``optimizer="sgd"`` one of the mistakes the loop's check recognises.
    Returns the final image and the loss before each step."""
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
    return adam_loop(loss_fn, init, steps, lr)


@with_reference(losses.total_variation)
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

    part = Parts(marks)
    x = rand(2, 3, 4, 5, seed=17)
    # N and C grow too, so that a loop over the images or the channels is seen as a loop.
    check_per_image_loss(part, "total_variation", fn, (x,), ("image",),
                         losses.total_variation, mistakes, ("image",),
                         (rand(4, 6, 8, 10, seed=18),),
                         "Take the differences of shifted slices of the whole tensor at "
                         "once: x[..., 1:, :] - x[..., :-1, :] and x[..., :, 1:] - "
                         "x[..., :, :-1].")
    part.passed("total_variation matches Σ (x_{i+1,j} − x_{ij})² + (x_{i,j+1} − x_{ij})² "
                "(values, shape, gradient; inputs untouched; vectorised)")


@with_reference(reference_combined_loss)
def check_combined_loss(fn: Callable[..., torch.Tensor], marks: Marks | None = None) -> None:
    r"""Check ``fn(features, content_targets, style_targets, alpha, beta, style_weights)``
    against :math:`\alpha L_{content} + \beta L_{style}`, one value per image.

    ``features``: ``{layer: (N, C, H, W)}``; ``content_targets``: ``{layer: P^l}``;
    ``style_targets``: ``{layer: A^l}``, (1, C, C) Gram matrices of a style image of the same
    size; ``style_weights``: ``{layer: w_l}``.
    """
    name = "combined_loss"
    part = Parts(marks)
    n = 2
    shapes = {"relu1_1": (3, 6, 5), "relu2_1": (4, 3, 4), "relu4_2": (5, 2, 3)}
    features = {layer: randn(n, *shape, seed=20 + i) for i, (layer, shape) in
                enumerate(shapes.items())}
    content_targets = {"relu4_2": randn(1, *shapes["relu4_2"], seed=30)}
    style_targets = {layer: losses.gram_matrix(randn(1, *shapes[layer], seed=31 + i))
                     for i, layer in enumerate(("relu1_1", "relu2_1"))}
    alpha, beta, style_weights = 0.7, 2.5, {"relu1_1": 0.25, "relu2_1": 0.75}
    args = (features, content_targets, style_targets, alpha, beta, style_weights)
    names = ("features", "content_targets", "style_targets", "alpha", "beta", "style_weights")
    with part("values and shape", 2):
        out = as_tensor(name, run_student(name, fn, args, names))
        check_shape(name, out, (n,), "one loss per image of the batch", {
            (): "You summed over the batch: keep one total loss per image, shape (N,)."})
        expected = reference_combined_loss(*args)
        content = reference_combined_loss(features, content_targets, {}, 1.0, 0.0, {})
        style = reference_combined_loss(features, {}, style_targets, 0.0, 1.0, style_weights)
        unweighted = reference_combined_loss(features, {}, style_targets, 0.0, 1.0,
                                             dict.fromkeys(style_weights, 1.0))
        compare(name, out, expected, [
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
        check_autograd(name, lambda *f: fn(dict(zip(shapes, f)), *args[1:]),
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
    image = as_tensor(name, image)
    check_shape(name, image, tuple(init.shape), "the optimised images, shaped like init")
    if len(calls) < steps:
        raise CheckFailed(f"{name} called loss_fn {len(calls)} times for {steps} steps: each "
                          "Adam step needs one evaluation of the loss (and its backward).")
    return image, history


@with_reference(reference_optimize_image)
def check_optimization_loop(fn: Callable[..., tuple[torch.Tensor, Sequence[float]]],
                            marks: Marks | None = None) -> None:
    """Check ``fn(loss_fn, init, steps, lr)``: Adam on a copy of ``init``, clamped to [0, 1]
    after every step; returns ``(image, history)`` with one float per step (the total loss
    at the start of that step)."""
    name = "optimize_image"
    part = Parts(marks)
    init = rand(2, 3, 4, 5, seed=40)
    # Part of the target lies outside [0, 1], so that clamping changes the result.
    target = rand(2, 3, 4, 5, seed=41) * 1.6 - 0.3
    steps, lr = 6, 0.1
    calls = []

    def loss_fn(image):
        calls.append(1)
        return losses.pixel_loss(image, target)

    def run(**kwargs):
        img, hist = adam_loop(loss_fn, init, steps, lr, **kwargs)
        return img, torch.tensor(hist, dtype=F64)

    expected, expected_history = run()
    calls.clear()
    result = None
    with part("the final image", 2):
        out = run_student(name, fn, (loss_fn, init, steps, lr), ("loss_fn", "init", "steps", "lr"),
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
        compare(name, image, expected,
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
        compare(name, history, expected_history, [
            (shifted, "your history is shifted by one step: record the loss you computed in "
                      "the step (before optimizer.step()), as loss.item()."),
            (expected_history / init.shape[0], "your history holds the mean over the batch; "
                                               "record the total, loss.sum().item()."),
        ], what="history")
    part.passed("optimize_image runs Adam on a copy, clamps to [0, 1], records one loss per "
                "step")
