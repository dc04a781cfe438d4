"""The baseline the benchmark measures against: style transfer written the way most tutorials do it.

Modelled on the PyTorch tutorial "Neural Transfer Using PyTorch" (and the many copies of it):

- torchvision's *whole* VGG19 ``features`` (all 37 modules, up to pool5), rebuilt as one
  ``nn.Sequential`` with a normalisation module in front and a loss module inserted after each
  chosen layer; ReLUs replaced by non-in-place ones (so a captured output is not overwritten);
- the targets (content features P^l, style Gram matrices A^l) held inside the loss modules,
  computed while the model is built by running the partial model on the content / style image;
- the network's parameters left as they come (``requires_grad=True``), so every backward pass
  also computes the weight gradients nobody uses (the tutorial's form before 2023 and most blog
  copies; :func:`build_baseline` can freeze them, the benchmark prints both per-evaluation rows);
- ``torch.optim.LBFGS([image])`` with its defaults (lr 1, ``max_iter=20`` evaluations per
  ``step`` call, history 100, no line search); pixels clamped to [0, 1] inside the closure, as
  the tutorial does.

The *loss definitions* are the project's (``nstyle_helpers.losses``: ½Σ(F−P)², the unnormalised
Gram matrix, E_l = w_l/(4N²M²)Σ(G−A)²) with the project's α, β and w_l, so both sides minimise
the same function and their loss values can be compared directly.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from nstyle_helpers.features import VGG19_LAYERS
from nstyle_helpers.losses import content_loss, gram_matrix, style_layer_loss

__all__ = ["build_baseline", "baseline_lbfgs", "BaselineModel"]


class Normalization(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(-1, 1, 1))

    def forward(self, image):
        return (image - self.mean) / self.std


class ContentLoss(nn.Module):
    """Passes its input through; remembers the content loss against the stored target."""

    def __init__(self, target: torch.Tensor, weight: float):
        super().__init__()
        self.target = target.detach()
        self.weight = weight
        self.loss = torch.zeros(())

    def forward(self, x):
        self.loss = self.weight * content_loss(x, self.target).sum()
        return x


class StyleLoss(nn.Module):
    """Passes its input through; remembers E_l against the stored target Gram matrix."""

    def __init__(self, target_features: torch.Tensor, weight: float):
        super().__init__()
        self.target = gram_matrix(target_features).detach()
        self.weight = weight
        self.loss = torch.zeros(())

    def forward(self, x):
        positions = x.shape[-2] * x.shape[-1]
        self.loss = style_layer_loss(gram_matrix(x), self.target, positions, self.weight).sum()
        return x


class BaselineModel(nn.Module):
    """The tutorial's model: ``model(image)`` runs it; ``loss()`` is α Σ content + β Σ style."""

    def __init__(self, body: nn.Sequential, content_losses, style_losses, alpha, beta):
        super().__init__()
        self.body = body
        self.content_losses = content_losses
        self.style_losses = style_losses
        self.alpha, self.beta = alpha, beta

    def forward(self, image):
        return self.body(image)

    def loss(self):
        return (self.alpha * sum(m.loss for m in self.content_losses)
                + self.beta * sum(m.loss for m in self.style_losses))


def build_baseline(features_state: dict[str, torch.Tensor], content: torch.Tensor,
                   style: torch.Tensor, *, content_layer: str, style_weights: dict[str, float],
                   alpha: float, beta: float, param_grads: bool = True) -> BaselineModel:
    """Build the tutorial's model from a full torchvision VGG19 ``features`` state dict.

    ``style_weights`` is ``{layer: w_l}``; ``alpha``/``beta`` are α and β. The content and
    style images must already be on the target device (the model is moved there).
    """
    with torch.device("meta"):
        cnn = torchvision.models.vgg19(weights=None).features
    cnn = cnn.to_empty(device=content.device)
    cnn.load_state_dict(features_state)
    cnn.eval()
    cnn.requires_grad_(param_grads)
    body = nn.Sequential(Normalization().to(content.device))
    content_losses, style_losses = [], []
    for name, layer in zip(VGG19_LAYERS, cnn):
        if isinstance(layer, nn.ReLU):
            layer = nn.ReLU(inplace=False)
        body.add_module(name, layer)
        if name == content_layer:
            with torch.no_grad():
                module = ContentLoss(body(content), 1.0)
            body.add_module(f"content_loss_{name}", module)
            content_losses.append(module)
        if name in style_weights:
            with torch.no_grad():
                module = StyleLoss(body(style), style_weights[name])
            body.add_module(f"style_loss_{name}", module)
            style_losses.append(module)
    return BaselineModel(body, content_losses, style_losses, alpha, beta)


def baseline_lbfgs(model: BaselineModel, init: torch.Tensor,
                   evaluations: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The tutorial's loop: LBFGS with its defaults until ``evaluations`` closures have run.

    Returns the final image (clamped, as the tutorial returns it) and the (evaluations,)
    losses of every evaluation, each at a clamped, valid image (the closure clamps first).
    """
    image = init.detach().clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([image])
    losses = []

    def closure():
        with torch.no_grad():
            image.clamp_(0, 1)
        optimizer.zero_grad()
        model(image)
        loss = model.loss()
        loss.backward()
        losses.append(loss.detach())  # no .item(): no GPU synchronisation per evaluation
        return loss

    while len(losses) < evaluations:
        optimizer.step(closure)
    with torch.no_grad():
        image.clamp_(0, 1)
    return image.detach(), torch.stack(losses[:evaluations])
