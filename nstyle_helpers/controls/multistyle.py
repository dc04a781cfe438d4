r"""Several style images: blended Gram targets, a style scale, and spatial control by masks.

Three controls from Gatys et al., "Controlling Perceptual Factors in Neural Style Transfer"
(CVPR 2017) and the original paper's follow-ups, all acting on the style term only:

**Blending** S style images a_1 … a_S with weights b_s ≥ 0, Σ b_s = 1: the target Gram matrix
of each layer is the weighted mean of the styles' (per-position) Gram matrices,

.. math::  A^l = \sum_s b_s \, \frac{M_l(x)}{M_l(a_s)} A^l_s ,

using the same per-position rescaling as :class:`~nstyle_helpers.core.objective.Objective`, so
styles of different sizes mix by their statistics, not by their pixel counts. Weights
(1, 0, …) give exactly the single first style.

**Style scale**: the style image is resized so that its longer side is ``scale`` times the
content's longer side (:func:`scale_style`). Brush strokes are a fixed number of pixels to
VGG19, so a smaller style image (scale < 1) gives finer strokes in the result, a larger one
coarser strokes (measured on stripes in notebook 05: 12 px stripes come out 6 px apart at 0.5).

**Spatial control** (guided Gram matrices): R region masks m_r ∈ [0, 1]^{H×W} on the
content image; region r gets its own style target A_r. At each style layer the mask is
downsampled to the layer's resolution (by averaging, so an all-ones mask stays all ones and
no region vanishes), the feature maps are multiplied by it, and the Gram matrix is taken:

.. math::  G^l_r = (F^l \odot m^l_r)(F^l \odot m^l_r)^T , \qquad
           S^l_r = \sum_k (m^l_{r,k})^2 ,

where S^l_r is the region's effective number of positions (its area at layer l, for a hard
mask). Normalisation (our choice; the paper leaves it open): region r is compared *per
position*, and weighted by its share of the image,

.. math::  E^l = \sum_r \frac{S^l_r}{M_l} \cdot \frac{w_l}{4 N_l^2}
                 \sum_{ij} \Big(\frac{G^l_{r,ij}}{S^l_r} - \frac{A^l_{r,ij}}{M_l(a_r)}\Big)^2 .

Why: dividing by S_r makes each region match its style's statistics whatever its size (a
small region still gets its style's texture, not a faint copy); weighting by S_r / M_l makes
every position of the image count equally, as in the unmasked loss. For one all-ones mask,
S = M_l and E^l is the paper's :math:`w_l \frac{1}{4 N_l^2 M_l^2} \sum (G - A)^2` exactly
(the code computes it so that the result is bit-for-bit that of the unmasked objective).
The style images themselves are not masked (each region takes the whole of its style image);
pixels outside every mask get no style loss, only content.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..base.errors import MaskError, SettingsError
from ..core.images import load_image, resize
from ..core.features import VGG19Features
from ..core.losses import gram_matrix, style_layer_loss
from ..core.objective import GramStyle, Objective, Weight, per_position_grams

__all__ = [
    "MAX_STYLE_SCALE",
    "validate_blend",
    "validate_style_scale",
    "scale_style",
    "validate_masks",
    "resize_masks",
    "downsample_masks",
    "guided_gram_matrix",
    "guided_style_layer_loss",
    "masks_from_labels",
    "load_label_masks",
    "blend_table",
    "style_term",
    "BlendedStyle",
    "GuidedStyle",
    "MultiStyleObjective",
]

#: Largest style scale accepted: 4 × the content's side is already 16 × its pixels.
MAX_STYLE_SCALE = 4.0


def validate_blend(weights: Sequence[float] | None, count: int, *, tolerance: float = 1e-6
                ) -> tuple[float, ...]:
    """Validate blend weights for ``count`` styles; ``None`` gives equal weights 1/count.

    Raises:
        SettingsError: not one weight per style, a negative or non-finite weight, or a sum
            other than 1 (within ``tolerance``): weights are never silently renormalised.

    >>> validate_blend([0.7, 0.3], 2)
    (0.7, 0.3)
    >>> validate_blend(None, 4)
    (0.25, 0.25, 0.25, 0.25)
    """
    if weights is None:
        return (1.0 / count,) * count
    try:
        weights = tuple(float(w) for w in weights)
    except (TypeError, ValueError):
        raise SettingsError(f"Blend weights must be numbers, not {weights!r}.") from None
    if len(weights) != count:
        raise SettingsError(f"Got {len(weights)} blend weights for {count} style image"
                            f"{'s' if count != 1 else ''}; give one weight per style.")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise SettingsError(f"Blend weights must be numbers >= 0, got {list(weights)}.")
    if abs(sum(weights) - 1.0) > tolerance:
        raise SettingsError(f"Blend weights must sum to 1, got {list(weights)} "
                            f"(sum {sum(weights):g}).")
    return weights


def validate_style_scale(scale: float) -> float:
    """Return ``scale`` if it is a number in (0, :data:`MAX_STYLE_SCALE`], else raise
    :class:`SettingsError`."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(
            scale) or not 0 < scale <= MAX_STYLE_SCALE:
        raise SettingsError(f"The style scale must be a number in (0, {MAX_STYLE_SCALE:g}], "
                            f"not {scale!r}; 0.5 makes the style half the content's size.")
    return float(scale)


def scale_style(style: torch.Tensor, content_size: int | tuple[int, int], scale: float
                ) -> torch.Tensor:
    """Resize ``style`` so its longer side is ``scale`` × the content's longer side.

    Args:
        style: (N, 3, H, W) in [0, 1].
        content_size: the content's longer side in pixels, or its (H, W).
        scale: e.g. 0.5: the style's longer side is half the content's (finer strokes).
            In (0, 4].

    Returns:
        (N, 3, H', W'), aspect ratio kept, bicubic (see :func:`~nstyle_helpers.core.images.resize`).

    >>> scale_style(torch.rand(1, 3, 40, 20), (30, 60), 0.5).shape
    torch.Size([1, 3, 30, 15])
    """
    scale = validate_style_scale(scale)
    side = max(content_size) if isinstance(content_size, tuple) else content_size
    return resize(style, max(1, round(scale * side)))


def validate_masks(masks: torch.Tensor, height: int, width: int, *,
                regions: int | None = None) -> torch.Tensor:
    """Validate region masks for an H×W content image; return them as (R, H, W).

    Args:
        masks: (R, H, W) or (R, 1, H, W), values in [0, 1]; (H, W) is one region.
        regions: the number of regions required (one per style), if any.

    Raises:
        MaskError: not a tensor of those shapes, another size than the content, values
            outside [0, 1] or not finite, an empty region (all zeros), or the wrong number
            of regions. Masks need not cover the image: uncovered pixels get no style loss.
    """
    if not isinstance(masks, torch.Tensor):
        raise MaskError(f"Masks must be a tensor of shape (R, H, W), not {type(masks).__name__}.")
    if masks.dim() == 2:
        masks = masks.unsqueeze(0)
    elif masks.dim() == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    if masks.dim() != 3 or masks.shape[0] == 0:
        raise MaskError(f"Masks must have shape (R, H, W) or (R, 1, H, W), one per region; "
                        f"got {tuple(masks.shape)}.")
    if tuple(masks.shape[-2:]) != (height, width):
        raise MaskError(f"The masks are {masks.shape[-1]}×{masks.shape[-2]} pixels but the "
                        f"content image is {width}×{height}; make them the content's size.")
    if not masks.is_floating_point():
        masks = masks.float()
    if not bool(torch.isfinite(masks).all()) or bool((masks < 0).any()) or bool(
            (masks > 1).any()):
        raise MaskError(f"Mask values must lie in [0, 1] (0: outside the region, 1: inside); "
                        f"got values from {float(masks.min()):g} to {float(masks.max()):g}.")
    empty = [r + 1 for r in range(masks.shape[0]) if not bool((masks[r] > 0).any())]
    if empty:
        raise MaskError(f"Region {empty[0]} of {masks.shape[0]} is empty (its mask is all "
                        "zeros); every region needs at least one pixel.")
    if regions is not None and masks.shape[0] != regions:
        raise MaskError(f"Got {masks.shape[0]} mask region{'s' if masks.shape[0] != 1 else ''} "
                        f"for {regions} style image{'s' if regions != 1 else ''}; "
                        "give one region per style.")
    return masks


def resize_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(R, H, W) masks → (R, h, w) for a resized content image (antialiased bilinear).

    Soft edges are fine for masks; the values stay in [0, 1]. Unchanged if the size is equal.
    """
    if tuple(masks.shape[-2:]) == tuple(size):
        return masks
    resized = F.interpolate(masks.unsqueeze(1), size=tuple(size), mode="bilinear",
                            antialias=True, align_corners=False)[:, 0]
    return resized.clamp(0.0, 1.0)


def downsample_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(R, H, W) masks → (R, h, w) at a layer's resolution, by averaging over each cell.

    Averaging (adaptive average pooling) keeps an all-ones mask exactly all ones and never
    loses a region: every pixel contributes to some cell.
    """
    if tuple(masks.shape[-2:]) == tuple(size):
        return masks
    return F.adaptive_avg_pool2d(masks.unsqueeze(0), tuple(size))[0]


def guided_gram_matrix(features: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    r"""Guided Gram matrices :math:`G_r = (F \odot m_r)(F \odot m_r)^T`, one per region.

    Args:
        features: (N, C, h, w) feature maps.
        masks: (R, h, w) masks at the same resolution (see :func:`downsample_masks`).

    Returns:
        (N, R, C, C). For an all-ones mask, exactly :func:`~nstyle_helpers.core.losses.gram_matrix`.
    """
    masked = features.unsqueeze(1) * masks.unsqueeze(0).unsqueeze(2)  # (N, R, C, h, w)
    n, r, c = masked.shape[:3]
    return gram_matrix(masked.flatten(0, 1)).view(n, r, c, c)  # one (C, C) per image × region


def guided_style_layer_loss(features: torch.Tensor, masks: torch.Tensor,
                            targets: torch.Tensor, weight: Weight = 1.0) -> torch.Tensor:
    r"""One layer's masked style loss E^l (the module docstring's formula).

    Args:
        features: (N, C, h, w) F^l of the generated images.
        masks: (R, h, w) the region masks at this layer's resolution.
        targets: (R, C, C) the per-position target Gram of each region, A_r / M_l(a_r).
        weight: w_l, a number or an (N,) tensor.

    Returns:
        (N,) the sum over regions of (S_r / M_l) · w_l / (4 N_l²) · Σ (G_r / S_r − Â_r)².
    """
    positions = features[0, 0].numel()  # M_l
    grams = guided_gram_matrix(features, masks)  # (N, R, C, C)
    areas = masks.pow(2).flatten(1).sum(dim=1)  # (R,) S_r
    total = 0
    for r in range(masks.shape[0]):
        # Written as the plain loss on rescaled Grams, c = M_l / S_r:
        #   style_layer_loss(c G_r, M_l Â_r) / c = (S_r/M_l) · w_l/(4N²) · Σ(G_r/S_r − Â_r)²,
        # so that for an all-ones mask (c = 1 exactly) it is bit for bit the unmasked loss.
        c = positions / areas[r]
        total = total + style_layer_loss(c * grams[:, r], targets[r] * positions, positions,
                                         weight) / c
    return total


def masks_from_labels(labels: torch.Tensor, regions: int) -> torch.Tensor:
    """Hard masks from a label image: one region per distinct value, in increasing order.

    How the command line reads ``--mask``: a grey image whose darkest level is region 1
    (the first style), the next level region 2, and so on.

    Args:
        labels: (H, W) values (e.g. grey levels 0..255).
        regions: the number of distinct values required.

    Returns:
        (R, H, W) float masks of 0s and 1s that cover the image exactly once.

    Raises:
        MaskError: the image has another number of distinct values.

    >>> masks_from_labels(torch.tensor([[0, 255], [255, 0]]), 2)[1]
    tensor([[0., 1.],
            [1., 0.]])
    """
    levels = torch.unique(labels)
    if levels.numel() != regions:
        raise MaskError(f"The mask image has {levels.numel()} grey level"
                        f"{'s' if levels.numel() != 1 else ''} but there "
                        f"{'are' if regions != 1 else 'is'} {regions} style image"
                        f"{'s' if regions != 1 else ''}; paint one flat grey level per style "
                        "(darkest = first style) and save it as PNG, not JPEG.")
    return torch.stack([(labels == level).float() for level in levels])


def _as_image_list(images: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [images] if isinstance(images, torch.Tensor) else list(images)


class BlendedStyle(GramStyle):
    """A style term whose target blends several style images' Gram matrices.

    ``blend`` is an (R, S) table of weights (R = 1 without masks): row r gives the target
    Σ_s b_rs A_s / M_l(a_s) (per position). The loss is the paper's (:class:`GramStyle`).
    """

    def __init__(self, style_images: Sequence[torch.Tensor], blend: torch.Tensor):
        super().__init__(style_images[0])
        self.style_images = list(style_images)
        self.blend = blend  # (R, S), float64

    def targets(self, extractor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        # Per layer: (R, C, C) blended per-position targets, (1, C, C) without masks.
        per_style = [per_position_grams(extractor(image), layers) for image in self.style_images]
        targets = {}
        for layer in layers:
            rows = []
            for row in self.blend.tolist():
                # Plain Python weights: 1.0 · A + 0.0 · B is A bit for bit.
                blended = 0
                for b, grams in zip(row, per_style):
                    blended = blended + b * grams[layer]
                rows.append(blended)
            targets[layer] = torch.cat(rows)
        return targets


class GuidedStyle(BlendedStyle):
    """A blended style term per region: guided Gram matrices under (R, H, W) ``masks``
    (:func:`guided_style_layer_loss`), region r against row r of the blend table."""

    def __init__(self, style_images: Sequence[torch.Tensor], blend: torch.Tensor,
                 masks: torch.Tensor):
        super().__init__(style_images, blend)
        self.masks = masks  # (R, H, W) at the generated images' size

    def layer_loss(self, features: torch.Tensor, target: torch.Tensor,
                   weight: Weight) -> torch.Tensor:
        masks = downsample_masks(self.masks.to(features.dtype), features.shape[-2:])
        return guided_style_layer_loss(features, masks, target, weight)


class MultiStyleObjective(Objective):
    """An :class:`~nstyle_helpers.core.objective.Objective` with several style images.

    Args (besides those of ``Objective``, which keep their meaning; its ``style_image`` is
    replaced by ``style_images``):
        style_images: one (1, 3, H_s, W_s) tensor or a sequence of them (any sizes).
        style_blend: without masks, the weights b_s (default equal, must sum to 1);
            with masks, optionally an (R, S) table, row r blending the styles for region r
            (default: region r takes style r, which needs R = S).
        masks: (R, H, W) region masks of the generated image's size (see :func:`validate_masks`).

    It only chooses the style term (:class:`BlendedStyle` or :class:`GuidedStyle`) and passes
    it as ``Objective``'s ``style=``. With one style, no blend and no masks it computes
    exactly what ``Objective`` does.
    """

    def __init__(self, extractor: VGG19Features | None = None, *,
                 style_images: torch.Tensor | Sequence[torch.Tensor],
                 style_blend: Sequence[float] | Sequence[Sequence[float]] | None = None,
                 masks: torch.Tensor | None = None,
                 content_image: torch.Tensor | None = None,
                 **kwargs):
        styles = _as_image_list(style_images)
        if not styles:
            raise SettingsError("Give at least one style image.")
        if masks is not None and content_image is None:
            raise MaskError("Masks describe regions of the content image; give one.")
        size = (0, 0) if content_image is None else tuple(content_image.shape[-2:])
        blend, masks = blend_table(len(styles), style_blend, masks, size)
        if masks is not None:
            masks = masks.to(device=content_image.device, dtype=content_image.dtype)
        style = style_term(styles, blend, masks)
        super().__init__(extractor, content_image=content_image, style=style, **kwargs)


def blend_table(style_count: int, style_blend, masks: torch.Tensor | None,
                size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The style blend checked, as an (R, S) float64 table (R = 1 without masks), and the
    masks checked against ``size`` (H, W) and R (None without masks): the one place both
    :class:`MultiStyleObjective` and :func:`~nstyle_helpers.transfer.style_transfer` check
    them. With masks, ``style_blend`` is a table, one row per region; ``None`` gives region r
    style r."""
    if masks is None:
        return torch.tensor([validate_blend(style_blend, style_count)], dtype=torch.float64), None
    table = ([[1.0 if s == r else 0.0 for s in range(style_count)]
              for r in range(style_count)] if style_blend is None else style_blend)
    if isinstance(table, (int, float)) or any(isinstance(row, (int, float)) for row in table):
        raise MaskError("With masks, style_blend is a table: one row of style weights per "
                        "region.")
    masks = validate_masks(masks, *size, regions=len(table))
    return torch.tensor([validate_blend(row, style_count) for row in table],
                        dtype=torch.float64), masks


def style_term(styles: Sequence[torch.Tensor], blend: torch.Tensor,
               masks: torch.Tensor | None) -> BlendedStyle:
    """The style term of a checked :func:`blend_table`: guided by ``masks`` (at the generated
    images' size) where there are masks, else blended."""
    return BlendedStyle(styles, blend) if masks is None else GuidedStyle(styles, blend, masks)


def load_label_masks(path, size: tuple[int, int], regions: int) -> torch.Tensor:
    """Read a label image (one flat grey level per region) as (R, H, W) masks of ``size``.

    The file is read as grey (the mean of R, G and B, in 8-bit levels); its distinct levels,
    darkest first, are regions 1 … R. It must have the content's aspect ratio (it is
    usually painted over the content image, at any resolution); it is resized to ``size``
    with nearest-neighbour interpolation so that labels never blend into new levels.

    Raises:
        ImageError: the file is missing or not an image (see
            :func:`~nstyle_helpers.core.images.load_image`).
        MaskError: another aspect ratio, another number of grey levels than ``regions``, or
            a region that vanishes at ``size``.
    """
    rgb = load_image(path)  # (1, 3, h, w) in [0, 1]
    labels = (rgb[0].mean(dim=0) * 255).round()  # (h, w) grey levels
    h, w = labels.shape
    height, width = size
    expected = (max(1, round(h * max(height, width) / max(h, w))),
                max(1, round(w * max(height, width) / max(h, w))))
    if abs(expected[0] - height) > 1 or abs(expected[1] - width) > 1:
        raise MaskError(f"The mask {path} is {w}×{h} pixels, another shape than the content "
                        f"image ({width}×{height}); paint the mask over the content image so "
                        "both have the same aspect ratio.")
    levels = torch.unique(labels)
    masks_from_labels(labels, regions)  # checks the number of levels at full resolution
    small = F.interpolate(labels[None, None], size=(height, width), mode="nearest-exact")[0, 0]
    masks = torch.stack([(small == level).float() for level in levels])
    return validate_masks(masks, height, width, regions=regions)
