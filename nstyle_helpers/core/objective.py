r"""The objective: VGG19 features + the paper's losses + weights → named loss terms.

:class:`Objective` is called on a batch of N generated images (N, 3, H, W) and returns
``{"content": (N,), "style": (N,), "tv": (N,), "pixel": (N,), "total": (N,)}`` (only the terms
in use). Per image n:

.. math::

    L_n = \alpha_n \sum_l c_{n,l} L_{content}(p, x_n, l)
        + \beta_n \sum_{l \in \lambda} E_l(a, x_n; w_{n,l})
        + \gamma_n \, TV(x_n) + \sum_{ijk} (x_{n,ijk} - z_{ijk})^2

that is, :math:`\alpha L_{content} + \beta L_{style}` (+ total variation, + pixel loss), where
every weight may be a number or an (N,) tensor. A layer weight of 0 switches a layer off for
one image, so *different images of one batch can use different layers*: the five content
reconstructions of the paper's Fig. 1 are one batch with one-hot layer weights.

Targets (P^l, A^l) are computed once, without gradients, when the objective is built.

The style term is pluggable: ``style=`` takes any object with the two methods of
:class:`GramStyle` (``targets`` and ``layer_loss``); :class:`GramStyle` is the paper's, and
:mod:`nstyle_helpers.controls.multistyle` adds blended and guided (masked) ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

import torch

from ..base.errors import LayerError, SettingsError
from .features import VGG19Features, validate_layer_names
from .losses import content_loss, gram_matrix, pixel_loss, style_layer_loss, total_variation

__all__ = ["Weight", "Objective", "GramStyle", "StyleTerm", "per_position_grams",
           "one_hot_layer_weights", "relative_scale"]

#: A loss weight: one number for every image, or an (N,) tensor with one per image.
Weight = float | torch.Tensor


def one_hot_layer_weights(layer_per_image: Sequence[str]) -> dict[str, torch.Tensor]:
    """Layer weights that give image n only the layer ``layer_per_image[n]``.

    >>> one_hot_layer_weights(["relu1_2", "relu2_2"])
    {'relu1_2': tensor([1., 0.]), 'relu2_2': tensor([0., 1.])}
    """
    return {layer: torch.tensor([1.0 if chosen == layer else 0.0 for chosen in layer_per_image])
            for layer in dict.fromkeys(layer_per_image)}


def per_position_grams(features: Mapping[str, torch.Tensor],
                       layers: Iterable[str]) -> dict[str, torch.Tensor]:
    """Style targets as stored: ``{layer: A^l / M_l(a)}``, (N, C, C), detached.

    Per position, so that a style image of another size than the generated one measures
    the same thing: the term multiplies by M_l(x) when it compares (see :class:`Objective`).
    """
    return {layer: gram_matrix(features[layer]).detach() / features[layer][0, 0].numel()
            for layer in layers}


class StyleTerm(Protocol):
    """What :class:`Objective` needs of a style term (see :class:`GramStyle`)."""

    def targets(self, extractor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """The per-layer targets, computed once (under ``torch.no_grad``)."""

    def layer_loss(self, features: torch.Tensor, target: torch.Tensor,
                   weight: Weight) -> torch.Tensor:
        """E_l for (N, C, H, W) ``features`` of the generated images: (N,)."""


class GramStyle:
    """The paper's style term: Gram matrices of one style image a.

    ``targets``: :func:`per_position_grams` of a's features. ``layer_loss``: E_l =
    w_l / (4 N_l² M_l²) Σ (G^l − A^l)² with A^l rescaled to M_l(x) positions.
    """

    def __init__(self, style_image: torch.Tensor):
        self.style_image = style_image  # (1 or N, 3, H', W')

    def targets(self, extractor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        return per_position_grams(extractor(self.style_image), layers)

    def layer_loss(self, features: torch.Tensor, target: torch.Tensor,
                   weight: Weight) -> torch.Tensor:
        positions = features[0, 0].numel()  # M_l of the generated image
        return style_layer_loss(gram_matrix(features), target * positions, positions, weight)


def _as_layer_weights(layers: Mapping[str, Weight] | Sequence[str]) -> dict[str, Weight]:
    if isinstance(layers, Mapping):
        return dict(layers)
    if isinstance(layers, str):
        validate_layer_names(layers)  # raises: one string is not a sequence of layer names
    layers = list(layers)
    # A plain list of layers: equal weights that sum to 1, like the paper's w_l = 1/5.
    return {layer: 1.0 / len(layers) for layer in layers}


class Objective:
    """Named loss terms for a batch of generated images.

    Args:
        extractor: the VGG19 feature extractor; it must compute every layer named here.
            May be ``None`` for a pixel-only objective.
        content_image: (1 or N, 3, H, W) p in [0, 1], the same size as the generated images.
        content_layers: layer names (equal weights summing to 1) or ``{layer: c_l}``.
        style_image: (1 or N, 3, H', W') a in [0, 1]; any size (see below). Shorthand for
            ``style=GramStyle(style_image)``.
        style: a style term (:class:`StyleTerm`), e.g. a blended or guided one from
            :mod:`nstyle_helpers.controls.multistyle`; give it or ``style_image``, not both.
        style_layers: layer names (w_l = 1/|λ|, the paper's 1/5) or ``{layer: w_l}``.
        content_weight: α.  style_weight: β.  tv_weight: weight of :func:`total_variation`.
        pixel_target: (1 or N, 3, H, W) z for the pixel loss Σ(x − z)² (weight 1).
        relative: divide each layer's content and style loss by its value for an all-zero
            feature map (½ Σ P² for content, Σ (A/M)² / 4N² for style), which makes it a
            relative error that does not depend on the network's activation scale (see
            :func:`relative_scale`). ``False``: the paper's formulas as they stand.

    Departure from the paper: E_l assumes the style image a and the generated image x
    have the same size. When they differ, the Gram matrix A^l (a sum over M_l(a) positions)
    is rescaled by M_l(x) / M_l(a), so that G^l and A^l measure the same thing; for equal
    sizes this changes nothing.
    """

    def __init__(self, extractor: VGG19Features | None = None, *,
                 content_image: torch.Tensor | None = None,
                 content_layers: Mapping[str, Weight] | Sequence[str] = (),
                 style_image: torch.Tensor | None = None,
                 style: StyleTerm | None = None,
                 style_layers: Mapping[str, Weight] | Sequence[str] = (),
                 content_weight: Weight = 1.0, style_weight: Weight = 1.0,
                 tv_weight: Weight = 0.0, pixel_target: torch.Tensor | None = None,
                 relative: bool = False):
        if style_image is not None and style is not None:
            raise SettingsError("Give style_image or style, not both.")
        self.extractor = extractor
        self.style = GramStyle(style_image) if style_image is not None else style
        self.content_layers = _as_layer_weights(content_layers) if content_image is not None else {}
        self.style_layers = _as_layer_weights(style_layers) if self.style is not None else {}
        if content_image is not None and not self.content_layers:
            raise LayerError("A content image needs at least one content layer.")
        if self.style is not None and not self.style_layers:
            raise LayerError("A style image needs at least one style layer.")
        needed = set(self.content_layers) | set(self.style_layers)
        if needed and (extractor is None or not needed <= set(extractor.layers)):
            have = set(extractor.layers) if extractor is not None else set()
            raise LayerError(f"The feature extractor does not compute {sorted(needed - have)}; "
                             "build it with every content and style layer.")
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.tv_weight = tv_weight
        self.pixel_target = pixel_target.detach() if pixel_target is not None else None
        with torch.no_grad():
            self.content_targets = self._content_targets(content_image)
            self.style_targets = (self.style.targets(extractor, list(self.style_layers))
                                  if self.style is not None else {})
        self.content_scales = {layer: relative_scale(target, "content") if relative else 1.0
                               for layer, target in self.content_targets.items()}
        self.style_scales = {layer: relative_scale(target, "style") if relative else 1.0
                             for layer, target in self.style_targets.items()}

    def _content_targets(self, content_image):
        if content_image is None:
            return {}
        features = self.extractor(content_image)
        return {layer: features[layer].detach() for layer in self.content_layers}

    @property
    def layers(self) -> tuple[str, ...]:
        """Every VGG19 layer this objective reads."""
        return tuple(dict.fromkeys([*self.content_layers, *self.style_layers]))

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms of an (N, 3, H, W) batch: each (N,), plus their sum ``"total"``."""
        terms: dict[str, torch.Tensor] = {}
        features = self.extractor(images) if self.layers else {}
        if self.content_targets:
            terms["content"] = _per_image(self.content_weight, images) * sum(
                _per_image(weight, images) * content_loss(features[layer],
                                                          self.content_targets[layer])
                / self.content_scales[layer]
                for layer, weight in self.content_layers.items())
        if self.style_targets:
            terms["style"] = _per_image(self.style_weight, images) * sum(
                self.style.layer_loss(features[layer], self.style_targets[layer],
                                      _per_image(weight, images)) / self.style_scales[layer]
                for layer, weight in self.style_layers.items())
        if _is_nonzero(self.tv_weight):
            terms["tv"] = _per_image(self.tv_weight, images) * total_variation(images)
        if self.pixel_target is not None:
            terms["pixel"] = pixel_loss(images, self.pixel_target)
        if not terms:
            raise SettingsError("The objective has no terms: give a content image, a style image, "
                             "a pixel target or a total-variation weight.")
        terms["total"] = sum(terms.values())
        return terms


def relative_scale(target: torch.Tensor, kind: str) -> torch.Tensor:
    r"""What a loss term is divided by to make it relative: its value at an all-zero map.

    ``kind="content"``: ``target`` is P^l, (1 or N, C, H, W); the scale is ½ Σ P², (1 or N,),
    so the term becomes ‖F − P‖² / ‖P‖².
    ``kind="style"``: ``target`` is a per-position Gram A^l / M_l, (1 or R, C, C); the scale
    is Σ (A/M)² / (4 C²) (averaged over R), so E_l / w_l becomes ‖G − A‖² / ‖A‖².

    Why: multiply every activation of layer l by s and the content term grows by s², the
    style term by s⁴; a relative error does not change. Caffe-trained VGG networks (the
    paper's, and the shared VGG16 file) have activations 20-300 times torchvision's, so a
    balance tuned on one network paints only style or only content on the other.

    >>> p = torch.ones(1, 2, 3, 3)
    >>> relative_scale(p, "content"), relative_scale(4 * p, "content")
    (tensor([9.]), tensor([144.]))
    """
    if kind == "content":
        scale = 0.5 * target.pow(2).flatten(1).sum(dim=1)
    else:
        scale = target.pow(2).sum(dim=(-2, -1)).mean() / (4 * target.shape[-1] ** 2)
    # An all-zero target (a black image at a layer with no bias) would divide by zero.
    return scale.clamp_min(torch.finfo(scale.dtype).tiny)


def _per_image(weight: Weight, images: torch.Tensor) -> Weight:
    # Move (N,) weight tensors to the images' device and dtype; numbers pass through.
    if isinstance(weight, torch.Tensor):
        return weight.to(device=images.device, dtype=images.dtype)
    return weight


def _is_nonzero(weight: Weight) -> bool:
    if isinstance(weight, torch.Tensor):
        return bool((weight != 0).any())
    return weight != 0
