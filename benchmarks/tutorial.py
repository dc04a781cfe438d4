"""The peer the benchmark measures against: the PyTorch tutorial's algorithm, as published.

"Neural Transfer Using PyTorch" (pytorch.org/tutorials/advanced/neural_style_tutorial) is what
most people who try style transfer in PyTorch run first. This module reproduces its algorithm
from its description, step for step, so that the benchmark compares the project with what
users know rather than with a baseline of our own making:

- **The losses.** Content: ``F.mse_loss(input, target)`` at the content layer. Style: the Gram
  matrix ``F Fᵀ`` of the (1, C, H, W) output viewed as (C, H·W), divided by C·H·W, and
  ``F.mse_loss`` between the two Gram matrices. Total: ``style_weight · Σ style +
  content_weight · Σ content`` with the tutorial's weights 10⁶ and 1.
- **The model** (its ``get_style_model_and_losses``): a normalisation module (ImageNet mean and
  std), then torchvision's VGG19 ``features`` one module at a time, renamed ``conv_i``,
  ``relu_i``, ``pool_i`` (i counts the convolutions so far), every ReLU replaced by a
  non-in-place one, a loss module inserted after each chosen layer (its target computed by
  running the model built so far on the content or style image), and the model **cut after
  the last loss module**.
- **The loop** (its ``run_style_transfer``): the input is a clone of the content image;
  ``optim.LBFGS([input_img])`` with every default (lr 1, ``max_iter=20`` evaluations per
  ``step`` call, history 100, no line search); the closure first clamps the pixels to [0, 1]
  in place, then zeroes the gradients, runs the model and backpropagates; the loop calls
  ``step`` while fewer than ``num_steps`` (300) closures have run, so a run makes 320
  evaluations; the image is clamped once more at the end.
- **The weights**: the published tutorial leaves the network's parameters trainable, so every
  backward pass also computes weight gradients nobody uses; later versions call
  ``model.requires_grad_(False)``. ``frozen`` chooses between the two.

The tutorial's layers are ``conv_4`` for content and ``conv_1`` ... ``conv_5`` for style, in the
project's names (:mod:`nstyle_helpers.core.features`) conv2_2 and conv1_1, conv1_2, conv2_1,
conv2_2, conv3_1: outputs *before* their ReLU. The paper's layers are ``relu_1, relu_3, relu_5,
relu_9, relu_13`` and ``relu_10`` in the tutorial's names. :func:`tutorial_name` converts.

Only the benchmark's bookkeeping is added: every evaluation's loss and time are recorded, and a
run can stop at the first evaluation whose loss reaches a target (the time-to-quality measure).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as tf
import torchvision
from torch import nn

from nstyle_helpers.core.features import VGG19_LAYERS

__all__ = ["TUTORIAL_CONTENT_LAYER", "TUTORIAL_STYLE_LAYERS", "tutorial_name",
           "build_tutorial_model", "TutorialModel", "TutorialRun", "run_tutorial"]

#: The tutorial's layers in the project's names (conv = before the ReLU).
TUTORIAL_CONTENT_LAYER = "conv2_2"
TUTORIAL_STYLE_LAYERS = ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1")
STYLE_WEIGHT, CONTENT_WEIGHT = 1e6, 1.0


def tutorial_name(layer: str) -> str:
    """The tutorial's name for one of the project's layer names: ``conv_i``, ``relu_i`` and
    ``pool_i``, where i counts the convolutions so far (a pool takes its block's last one).

    >>> tutorial_name("conv2_2"), tutorial_name("relu4_2"), tutorial_name("pool1")
    ('conv_4', 'relu_10', 'pool_2')
    """
    convolutions = 0
    for name in VGG19_LAYERS:
        convolutions += name.startswith("conv")
        if name == layer:
            return f"{name[:4]}_{convolutions}"
    raise ValueError(f"{layer!r} is not a VGG19 layer")


class Normalization(nn.Module):
    """(image − ImageNet mean) / std, per channel, as the tutorial's first module."""

    def __init__(self, device: torch.device):
        super().__init__()
        self.mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(-1, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225], device=device).view(-1, 1, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return (image - self.mean) / self.std


class ContentLoss(nn.Module):
    """Passes its input on; remembers the MSE to the content target in ``self.loss``."""

    def __init__(self, target: torch.Tensor):
        super().__init__()
        self.target = target.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.loss = tf.mse_loss(x, self.target)
        return x


def gram_matrix(x: torch.Tensor) -> torch.Tensor:
    """The tutorial's Gram matrix: (a, b, c, d) viewed as (a·b, c·d), F Fᵀ / (a·b·c·d)."""
    a, b, c, d = x.size()
    features = x.view(a * b, c * d)
    return torch.mm(features, features.t()).div(a * b * c * d)


class StyleLoss(nn.Module):
    """Passes its input on; remembers the MSE between Gram matrices in ``self.loss``."""

    def __init__(self, target_features: torch.Tensor):
        super().__init__()
        self.target = gram_matrix(target_features).detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.loss = tf.mse_loss(gram_matrix(x), self.target)
        return x


@dataclass
class TutorialModel:
    """The cut model and its loss modules; ``loss()`` is the tutorial's weighted total."""

    model: nn.Sequential
    content_losses: list[ContentLoss]
    style_losses: list[StyleLoss]

    def loss(self) -> torch.Tensor:
        style = sum(module.loss for module in self.style_losses) * STYLE_WEIGHT
        content = sum(module.loss for module in self.content_losses) * CONTENT_WEIGHT
        return style + content


def build_tutorial_model(features_state: dict[str, torch.Tensor], content: torch.Tensor,
                         style: torch.Tensor, *, content_layer: str = TUTORIAL_CONTENT_LAYER,
                         style_layers: Sequence[str] = TUTORIAL_STYLE_LAYERS,
                         cut: bool = True) -> TutorialModel:
    """The tutorial's ``get_style_model_and_losses`` for a torchvision VGG19 ``features``
    state dict, on ``content``'s device. ``content``, ``style``: (1, 3, H, W) in [0, 1], the
    same size (the tutorial resizes both). ``cut=False`` keeps the whole of VGG19 after the
    last loss module (to pool5), as many copies of the tutorial do.
    """
    with torch.device("meta"):
        cnn = torchvision.models.vgg19(weights=None).features
    cnn = cnn.to_empty(device=content.device)
    cnn.load_state_dict(features_state)
    cnn.eval()
    content_name = tutorial_name(content_layer)
    style_names = {tutorial_name(layer) for layer in style_layers}
    model = nn.Sequential(Normalization(content.device))
    content_losses, style_losses = [], []
    for layer, project_name in zip(cnn.children(), VGG19_LAYERS):
        name = tutorial_name(project_name)
        if isinstance(layer, nn.ReLU):
            layer = nn.ReLU(inplace=False)  # an in-place ReLU would overwrite a captured conv
        model.add_module(name, layer)
        if name == content_name:
            content_loss = ContentLoss(model(content).detach())
            model.add_module(f"content_loss_{len(content_losses) + 1}", content_loss)
            content_losses.append(content_loss)
        if name in style_names:
            style_loss = StyleLoss(model(style).detach())
            model.add_module(f"style_loss_{len(style_losses) + 1}", style_loss)
            style_losses.append(style_loss)
    if cut:
        last = max(i for i, module in enumerate(model)
                   if isinstance(module, (ContentLoss, StyleLoss)))
        model = model[: last + 1]
    return TutorialModel(model, content_losses, style_losses)


@dataclass
class TutorialRun:
    """What :func:`run_tutorial` returns: the image and the loss at every evaluation."""

    image: torch.Tensor  #: (1, 3, H, W) the final image, clamped as the tutorial returns it
    losses: list[float] = field(default_factory=list)  #: the loss of each evaluation
    #: seconds from the loop's start to the end of each evaluation (model building not included)
    elapsed: list[float] = field(default_factory=list)
    seconds: float = 0.0  #: wall time of the loop (model building not included)

    @property
    def evaluations(self) -> int:
        return len(self.losses)


class _TargetReached(Exception):
    pass


def run_tutorial(tutorial: TutorialModel, content: torch.Tensor, *, num_steps: int = 300,
                 frozen: bool = False, target: float | None = None) -> TutorialRun:
    """The tutorial's ``run_style_transfer`` from the content image (its default input).

    ``frozen``: call ``requires_grad_(False)`` on the model first (later tutorial versions).
    ``target``: stop at the first evaluation whose loss is at or below it (for timing only;
    the tutorial itself always runs to the end). Each recorded loss is ``float(loss)``, as
    the tutorial's own printing does every 50 evaluations: on a CPU that costs nothing.
    """
    model = tutorial.model
    model.eval()
    model.requires_grad_(not frozen)
    input_img = content.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([input_img])
    run = TutorialRun(image=input_img)
    start = time.perf_counter()

    def closure():
        with torch.no_grad():
            input_img.clamp_(0, 1)
        optimizer.zero_grad()
        model(input_img)
        loss = tutorial.loss()
        loss.backward()
        run.losses.append(float(loss.detach()))
        run.elapsed.append(time.perf_counter() - start)
        if target is not None and run.losses[-1] <= target:
            raise _TargetReached
        return loss

    try:
        while len(run.losses) <= num_steps:
            optimizer.step(closure)
    except _TargetReached:
        pass
    with torch.no_grad():
        input_img.clamp_(0, 1)
    run.seconds = time.perf_counter() - start
    run.image = input_img.detach()
    return run
