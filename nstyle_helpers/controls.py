r"""Style transfer with the controls of the follow-up paper, in one entry point.

Gatys, Ecker, Bethge, Hertzmann & Shechtman, "Controlling Perceptual Factors in Neural
Style Transfer" (CVPR 2017) adds control over colour, scale and space to the original method.
:func:`controlled_transfer` combines them; each lives in its own module, as pure functions a
student can call one at a time:

==========================  ==============================================================
colour preservation         :mod:`nstyle_helpers.color` (luminance-only, histogram matching)
several styles, blended     :mod:`nstyle_helpers.multistyle` (blended Gram targets)
style scale                 :func:`nstyle_helpers.multistyle.scale_style`
spatial control (masks)     :mod:`nstyle_helpers.multistyle` (guided Gram matrices)
coarse-to-fine              :mod:`nstyle_helpers.multiscale`
==========================  ==============================================================

Total variation, the other "beyond the paper" setting, is ``TransferConfig.tv_weight``.

Where we depart from the follow-up paper:

- Luminance-only transfer runs the unchanged VGG19 on grey images (R = G = B = Y), as the
  paper does, and takes the luminance of the optimised image at the end; where the
  stylised Y together with the content's chroma would leave the RGB cube, Y is clamped per
  pixel (:func:`~nstyle_helpers.color.combine_luminance`) so the content's colours are kept
  exactly rather than the luminance.
- In spatial control each region takes the *whole* of its style image (the paper also
  allows masks on the style images); see :mod:`nstyle_helpers.multistyle` for the
  normalisation.
- Coarse-to-fine keeps the style image's size relative to the content at every stage
  (``style_scale``, default 1), so the coarse stages optimise the same look as the fine one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image

from .color import PRESERVE_COLOR, combine_luminance, grey_as_rgb, luminance, \
    match_color_histogram, match_luminance
from .errors import MaskError, SettingsError
from .features import VGG19Features
from .images import resize, white_noise
from .multiscale import MultiScaleResult, check_scale_steps, check_scales, coarse_to_fine, \
    stage_sizes
from .multistyle import MultiStyleObjective, check_blend, check_masks, check_style_scale, \
    resize_masks, scale_style
from .optimize import optimize
from .transfer import Callback, TransferConfig, build_extractor, config_loss_weights
from .validation import extractor_dtype, validate_image, validate_same_device

__all__ = ["controlled_transfer"]


def controlled_transfer(content: torch.Tensor,
                        styles: torch.Tensor | Sequence[torch.Tensor],
                        config: TransferConfig = TransferConfig(), *,
                        style_blend: Sequence[float] | Sequence[Sequence[float]] | None = None,
                        style_scale: float | None = None,
                        masks: torch.Tensor | None = None,
                        preserve_color: str = "none",
                        scales: Sequence[int] | None = None,
                        scale_steps: int | Sequence[int] | None = None,
                        init: torch.Tensor | None = None,
                        extractor: VGG19Features | None = None,
                        progress: bool = True,
                        callback: Callback | None = None) -> MultiScaleResult:
    """Paint one or several styles onto ``content``, with colour, scale and spatial control.

    Args:
        content: (1, 3, H, W) content image p in [0, 1].
        styles: one (1, 3, H_s, W_s) style image or a sequence of them (any sizes).
        config: the loss and run settings, as for
            :func:`~nstyle_helpers.transfer.style_transfer` (one config, one image).
        style_blend: weights b_s summing to 1, one per style (default equal); with
            ``masks``, optionally an (R, S) table (default: region r takes style r).
        style_scale: resize each style so its longer side is this × the content's (at every
            stage); ``None`` uses the styles as given (or, with ``scales``, 1.0).
        masks: (R, H, W) region masks in [0, 1] at the content's size, one region per style
            (see :func:`~nstyle_helpers.multistyle.check_masks`).
        preserve_color: ``"none"``, ``"luminance"`` (transfer on luminance, keep the
            content's colour channels exactly) or ``"histogram"`` (recolour the styles to the
            content's colour mean and covariance first).
        scales: coarse-to-fine sizes (longer sides), e.g. ``(256, 512)``; the result has the
            last. ``None``: one stage at the content's own size.
        scale_steps: steps per stage (an int for all, or one per scale); default
            ``config.steps`` at every stage.
        init: (1, 3, H, W) starting image, overriding ``config.init`` (resized to the first
            stage).
        extractor: reuse a feature extractor (it must compute every layer needed).

    Returns:
        A :class:`~nstyle_helpers.multiscale.MultiScaleResult` (an ``OptimizationResult``)
        with ``image`` (1, 3, H', W') at the final size. With ``"luminance"`` the loss
        history is that of the grey problem the optimiser solved.

    With one style and every control off, this is exactly
    :func:`~nstyle_helpers.transfer.style_transfer`.
    """
    dtype = extractor_dtype(extractor)
    content = validate_image(content, "content", dtype=dtype)
    styles = [styles] if isinstance(styles, (torch.Tensor, Image.Image)) else list(styles)
    if not styles:
        raise SettingsError("Give at least one style image.")
    styles = [validate_image(style, f"style {i + 1}", dtype=dtype) for i, style in enumerate(styles)]
    validate_same_device(content, **{f"style {i + 1}": s for i, s in enumerate(styles)})
    if init is not None:
        init = validate_image(init, "init", dtype=dtype)
        validate_same_device(content, init=init)
    if not isinstance(config, TransferConfig):
        raise SettingsError("controlled_transfer takes one TransferConfig.")
    if preserve_color not in PRESERVE_COLOR:
        raise SettingsError(f"preserve_color must be one of {', '.join(PRESERVE_COLOR)}, "
                            f"not {preserve_color!r}.")
    height, width = content.shape[-2:]
    # Validate everything cheap before VGG19 is built or anything runs.
    if masks is not None:
        regions = len(styles) if style_blend is None else len(style_blend)
        masks = check_masks(masks, height, width, regions=regions)
        masks = masks.to(device=content.device, dtype=content.dtype)
        if style_blend is not None:
            for row in style_blend:
                if isinstance(row, (int, float)):
                    raise MaskError("With masks, style_blend is a table: one row of style "
                                    "weights per region.")
                check_blend(row, len(styles))
    else:
        check_blend(style_blend, len(styles))
    if style_scale is not None:
        style_scale = check_style_scale(style_scale)
    sizes = [(height, width)] if scales is None else stage_sizes(height, width,
                                                                 check_scales(scales))
    steps = check_scale_steps(config.steps if scale_steps is None else scale_steps, len(sizes))
    if scales is not None and style_scale is None:
        style_scale = 1.0

    layers = list(dict.fromkeys([config.content_layer, *config.style_layers]))
    # The finest stage is the largest: it must fit in memory.
    extractor = extractor or build_extractor(layers, config, content.device, progress=progress,
                                             size=sizes[-1])
    extractor.check_size(*sizes[0])  # the coarsest stage is the smallest
    grey = preserve_color == "luminance"

    def solve(stage: int, start: torch.Tensor | None, count: int):
        h, w = sizes[stage]
        content_k = resize(content, (h, w))
        work = grey_as_rgb(luminance(content_k)) if grey else content_k
        styles_k = [_prepare_style(s, content_k, (h, w), style_scale, preserve_color)
                    for s in styles]
        objective = _objective(extractor, config, work, styles_k, style_blend,
                               None if masks is None else resize_masks(masks, (h, w)))
        if start is None:
            if init is not None:
                start = resize(init.to(content.device), (h, w))
            elif config.init == "content":
                start = content_k
            else:
                start = white_noise(h, w, batch=1, seed=config.seed, device=content.device)
            if grey:
                start = grey_as_rgb(luminance(start))
        label = "style transfer" + (f" {w}×{h}" if len(sizes) > 1 else "")
        return optimize(objective, start, optimizer=config.optimizer, steps=count,
                        lr=config.lr, progress=progress, callback=callback, description=label)

    result = coarse_to_fine(solve, sizes, steps)
    if grey:
        # The stylised luminance with the content's own colour channels (I, Q). The clamp
        # only removes rounding (about 1e-8): combine_luminance keeps RGB in [0, 1].
        result.image = combine_luminance(result.image, resize(content, sizes[-1])).clamp_(0, 1)
    return result


def _prepare_style(style: torch.Tensor, content_k: torch.Tensor, size: tuple[int, int],
                   style_scale: float | None, preserve_color: str) -> torch.Tensor:
    # Resize first, then recolour: the statistics VGG19 sees are then exactly the matched ones
    # (resize clamps to [0, 1], which would undo part of an unclamped colour match).
    if style_scale is not None:
        style = scale_style(style, size, style_scale)
    if preserve_color == "histogram":
        return match_color_histogram(style, content_k)
    if preserve_color == "luminance":
        return grey_as_rgb(match_luminance(luminance(style), luminance(content_k)))
    return style


def _objective(extractor, config: TransferConfig, content, styles, style_blend, masks):
    # The same weights as style_transfer (the tutorial's setting, converted at this stage's
    # size), as one-element float32 tensors like style_transfer's, so one style with every
    # control off reproduces style_transfer bit for bit.
    weights = config_loss_weights(config, *content.shape[-2:])
    return MultiStyleObjective(
        extractor, style_images=styles, style_blend=style_blend, masks=masks,
        content_image=content, content_layers={config.content_layer: torch.ones(1)},
        style_layers={l: torch.tensor([v]) for l, v in weights.layer_weights.items()},
        content_weight=torch.tensor([weights.content_weight]),
        style_weight=torch.tensor([weights.style_weight]),
        tv_weight=torch.tensor([config.tv_weight]))
