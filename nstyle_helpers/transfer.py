r"""The experiments of the paper as functions: style transfer and the two reconstructions.

Each one builds an :class:`~nstyle_helpers.core.objective.Objective` and runs
:func:`~nstyle_helpers.core.optimize.optimize`; nothing here that a student could not assemble
from those two parts. Every function runs a *batch*: several settings (α/β ratios, content
layers, layer sets) optimised side by side in one run, as one (N, 3, H, W) tensor.

:func:`style_transfer` is the one entry point for style transfer, with the controls of the
follow-up paper (Gatys, Ecker, Bethge, Hertzmann & Shechtman, "Controlling Perceptual
Factors in Neural Style Transfer", CVPR 2017) as keyword arguments. Each control lives in its
own module, as pure functions a student can call one at a time:

==========================  ==========================================================
colour preservation         :mod:`~nstyle_helpers.controls.color` (luminance-only,
                            histogram matching)
several styles, blended     :mod:`~nstyle_helpers.controls.multistyle` (blended Grams)
style scale                 :func:`~nstyle_helpers.controls.multistyle.scale_style`
spatial control (masks)     :mod:`~nstyle_helpers.controls.multistyle` (guided Grams)
coarse-to-fine              :mod:`~nstyle_helpers.controls.multiscale`
total variation             ``TransferConfig.tv_weight``
==========================  ==========================================================

Where we depart from the follow-up paper:

- Luminance-only transfer runs the unchanged VGG19 on grey images (R = G = B = Y), as the
  paper does, and takes the luminance of the optimised image at the end; where the
  stylised Y together with the content's chroma would leave the RGB cube, Y is clamped per
  pixel (:func:`~nstyle_helpers.controls.color.combine_luminance`) so the content's colours are kept
  exactly rather than the luminance.
- In spatial control each region takes the *whole* of its style image (the paper also
  allows masks on the style images); see :mod:`nstyle_helpers.controls.multistyle` for the
  normalisation.
- Coarse-to-fine keeps the style image's size relative to the content at every stage
  (``style_scale``, default 1), so the coarse stages optimise the same look as the fine one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .base.errors import SettingsError
from .base.validation import (extractor_dtype, validate_learning_rate, validate_loss_weight,
                              validate_optimizer, validate_pooling, validate_same_device,
                              validate_seed, validate_steps)
from .core.images import resize, validate_image, white_noise
from .core.weights import resolve_weights_source
from .core.features import (CONTENT_LAYER, STYLE_LAYERS, FeatureExtractor, VGG19Features,
                            feature_shape, validate_image_size, validate_layer_names)
from .core.memory import validate_memory
from .core.objective import Objective, one_hot_layer_weights
from .core.optimize import OptimizationResult, Progress, optimize
from .core.defaults import (CPU_STEPS, LossWeights, relative_weights, resolve_balance,
                            tutorial_equivalent_weights, validate_balance)
from .accel.acceleration import accelerate
from .controls.color import (PRESERVE_COLOR, combine_luminance, grey_as_rgb, luminance,
                             match_color_histogram, match_luminance)
from .controls.multistyle import (BlendedStyle, blend_table, resize_masks, scale_style, style_term,
                                  validate_style_scale)
from .controls.multiscale import (MultiScaleResult, coarse_to_fine, stage_sizes,
                                  validate_scale_steps, validate_scales)

__all__ = ["INITS", "RunConfig", "TransferConfig", "build_extractor", "run_balance",
           "transfer_loss_weights",
           "config_loss_weights", "style_transfer",
           "reconstruct_content", "reconstruct_style"]

#: Where a run starts: the content image, or white noise (the paper); or pass init=IMAGE.
INITS = ("content", "noise")


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Settings shared by every experiment.

    ``weights``: ``"imagenet"``, ``"random"``, a path, or ``None`` for ``$NSTYLE_WEIGHTS``.
    ``steps`` counts optimiser steps (see :mod:`nstyle_helpers.core.optimize`); ``lr=None`` takes
    the optimiser's default; ``seed`` seeds the white noise.
    """

    optimizer: str = "lbfgs"
    steps: int = CPU_STEPS
    lr: float | None = None
    seed: int = 0
    pooling: str = "max"
    weights: str | None = None

    def __post_init__(self):
        # The same checks as the command line's (nstyle_helpers.base.validation), at construction.
        validate_optimizer(self.optimizer)
        validate_steps(self.steps)
        if self.lr is not None:
            validate_learning_rate(self.lr)
        validate_seed(self.seed)
        validate_pooling(self.pooling)


@dataclass(frozen=True, kw_only=True)
class TransferConfig(RunConfig):
    """A style-transfer run: L = α L_content + β L_style (+ total variation).

    ``content_weight`` (α), ``style_weight`` (β): ``None`` takes the PyTorch tutorial's
    setting converted exactly to the paper's formulas (:mod:`nstyle_helpers.core.defaults`);
    the style layers' weights w_l are converted the same way. ``init`` is ``"content"``
    (start from the content image) or ``"noise"`` (white noise, as in the paper).
    ``balance``: ``"relative"`` (each layer's loss a relative error, so the balance holds
    on networks of any activation scale), ``"tutorial"`` (the paper's formulas with the
    tutorial's weights, exact for torchvision's VGG19), or ``None``: ``"tutorial"`` with
    torchvision's own weights, ``"relative"`` with any other (:mod:`nstyle_helpers.core.defaults`).
    """

    content_layer: str = CONTENT_LAYER
    style_layers: tuple[str, ...] = STYLE_LAYERS
    content_weight: float | None = None
    style_weight: float | None = None
    tv_weight: float = 0.0
    init: str = "content"
    balance: str | None = None

    def __post_init__(self):
        super().__post_init__()
        validate_layer_names([self.content_layer])
        object.__setattr__(self, "style_layers", validate_layer_names(self.style_layers))
        for name in ("content_weight", "style_weight", "tv_weight"):
            if getattr(self, name) is not None:
                validate_loss_weight(getattr(self, name), name)
        if self.balance is not None:
            validate_balance(self.balance)
        if self.init not in INITS:
            raise SettingsError(f"init must be one of {INITS}, not {self.init!r}; pass a "
                                "starting image as init= instead.")

    def replace(self, **changes) -> TransferConfig:
        """A copy with some fields changed, e.g. ``config.replace(steps=50)``."""
        return dataclasses.replace(self, **changes)

    @property
    def resolved_balance(self) -> str:
        """``"relative"`` or ``"tutorial"``: ``balance``, or the one its weights call for."""
        return resolve_balance(self.balance, resolve_weights_source(self.weights))


Callback = Callable[[Progress], bool | None]


def build_extractor(layers: Sequence[str], config: RunConfig, device: torch.device,
                    *, progress: bool = True, size: tuple[int, int] | None = None,
                    batch: int = 1) -> FeatureExtractor:
    """A feature extractor for ``layers`` with the config's weights and pooling: a
    :class:`VGG19Features`, or an :class:`~nstyle_helpers.accel.acceleration.AcceleratedFeatures`
    wrapping one (both are :class:`~nstyle_helpers.core.features.FeatureExtractor`).

    With ``size`` (H, W), first refuse a run of ``batch`` such images that cannot fit in
    ``device``'s free memory (:func:`~nstyle_helpers.core.memory.validate_memory`), before
    any weights are loaded.

    Run the fast way for ``device`` (:func:`~nstyle_helpers.accel.acceleration.accelerate`): on a
    recent NVIDIA GPU in bfloat16 and channels_last with cudnn.benchmark (features and losses
    still float32); on a CPU in float32 with PyTorch's convolutions (Winograd through NNPACK
    with ``$NSTYLE_WINOGRAD=1``, :mod:`nstyle_helpers.accel.winograd`), or in bfloat16 with
    ``$NSTYLE_PRECISION=bfloat16``.
    """
    if size is not None:
        validate_memory(layers, *size, device, batch)
    extractor = VGG19Features(layers, weights=config.weights, pooling=config.pooling,
                              progress=progress)
    return accelerate(extractor.to(device), device)


def run_balance(config: TransferConfig, extractor: FeatureExtractor | None = None) -> str:
    """The balance a run of ``config`` uses: the network actually used decides (an extractor
    passed in may hold other weights than ``config.weights``)."""
    if extractor is None:
        return config.resolved_balance
    return resolve_balance(config.balance, extractor.weights_source)


def transfer_loss_weights(height: int, width: int, content_layer: str = CONTENT_LAYER,
                          style_layers: Sequence[str] = STYLE_LAYERS, *,
                          balance: str = "tutorial") -> LossWeights:
    """The default α, β and w_l for an H×W content image (:mod:`nstyle_helpers.core.defaults`).

    What :func:`style_transfer` uses when α and β are not given, for ``balance``
    ``"tutorial"`` (which depends on the image's size) or ``"relative"`` (which does not).

    >>> w = transfer_loss_weights(256, 384)
    >>> f"{w.ratio:.1e}"
    '1.9e-09'
    """
    if validate_balance(balance) == "relative":
        return relative_weights(style_layers)
    maps, h, w = feature_shape(content_layer, height, width)
    return tutorial_equivalent_weights(
        maps, h * w, {layer: feature_shape(layer, height, width)[0] for layer in style_layers})


def config_loss_weights(config: TransferConfig, height: int, width: int,
                        balance: str | None = None) -> LossWeights:
    """α, β and w_l of one config at H×W: its own α and β where given, else the defaults
    of ``balance`` (default: the config's :attr:`~TransferConfig.resolved_balance`)."""
    default = transfer_loss_weights(height, width, config.content_layer, config.style_layers,
                                    balance=balance or config.resolved_balance)
    return dataclasses.replace(
        default,
        content_weight=(default.content_weight if config.content_weight is None
                        else config.content_weight),
        style_weight=default.style_weight if config.style_weight is None else config.style_weight)


def style_transfer(content: torch.Tensor,
                   style: torch.Tensor | Sequence[torch.Tensor],
                   configs: TransferConfig | Sequence[TransferConfig] = TransferConfig(), *,
                   style_blend: Sequence[float] | Sequence[Sequence[float]] | None = None,
                   style_scale: float | None = None,
                   masks: torch.Tensor | None = None,
                   preserve_color: str = "none",
                   scales: Sequence[int] | None = None,
                   scale_steps: int | Sequence[int] | None = None,
                   extractor: FeatureExtractor | None = None, init: torch.Tensor | None = None,
                   progress: bool = True, snapshot_every: int = 0,
                   callback: Callback | None = None) -> MultiScaleResult:
    """Paint ``style`` onto ``content``: one image per config, optimised in one batch.

    Args:
        content: (1, 3, H, W) content image p in [0, 1].
        style: a (1, 3, H_s, W_s) style image a in [0, 1] (any size), or a sequence of them,
            blended by ``style_blend`` or placed by ``masks``.
        configs: one :class:`TransferConfig`, or several that differ only in their loss
            settings (layers, α, β, TV weight): a grid over α/β is one batched run.
        style_blend: weights b_s summing to 1, one per style (default equal); with
            ``masks``, optionally an (R, S) table (default: region r takes style r).
        style_scale: resize each style so its longer side is this × the content's (at every
            stage; 0.5: finer strokes); ``None`` uses the styles as given (with ``scales``:
            1.0).
        masks: (R, H, W) region masks in [0, 1] at the content's size, one region per style
            (see :func:`~nstyle_helpers.controls.multistyle.validate_masks`).
        preserve_color: ``"none"``, ``"luminance"`` (transfer on luminance, keep the
            content's colour channels exactly) or ``"histogram"`` (recolour the styles to the
            content's colour mean and covariance first).
        scales: coarse-to-fine sizes (longer sides), e.g. ``(256, 512)``; the result has the
            last. ``None``: one stage at the content's own size.
        scale_steps: steps per stage (an int for all, or one per scale); default each
            config's ``steps`` at every stage.
        extractor: reuse a feature extractor (it must compute every layer needed).
        init: (N, 3, H', W') starting images, one per config, overriding each config's
            ``init`` (resized to the first stage).

    Returns:
        A :class:`~nstyle_helpers.controls.multiscale.MultiScaleResult` (an ``OptimizationResult``);
        ``result.image`` is (N, 3, H', W') at the final size. With ``"luminance"`` the loss
        history is that of the grey problem the optimiser solved.
    """
    plan = _plan(content, style, configs, style_blend=style_blend, style_scale=style_scale,
                 masks=masks, preserve_color=preserve_color, scales=scales,
                 scale_steps=scale_steps, init=init, dtype=extractor_dtype(extractor))
    # The finest stage is the largest: it must fit in memory.
    extractor = extractor or build_extractor(plan.layers, plan.run, plan.content.device,
                                             progress=progress, size=plan.sizes[-1],
                                             batch=len(plan.configs))
    extractor.validate_size(*plan.sizes[0])  # one passed in may compute deeper layers
    balance = run_balance(plan.run, extractor)

    def solve(stage: int, start: torch.Tensor | None, count: int) -> OptimizationResult:
        h, w = plan.sizes[stage]
        label = "style transfer" + (f" {w}×{h}" if len(plan.sizes) > 1 else "")
        content_k = plan.content_at(stage)  # resized once, for the loss and the start
        return optimize(plan.objective(content_k, extractor, balance),
                        plan.start(content_k) if start is None else start,
                        optimizer=plan.run.optimizer, steps=count, lr=plan.run.lr,
                        progress=progress, snapshot_every=snapshot_every, callback=callback,
                        description=label)

    result = coarse_to_fine(solve, plan.sizes, plan.steps)
    if plan.grey:
        # The stylised luminance with the content's own colour channels (I, Q). The clamp
        # only removes rounding (about 1e-8): combine_luminance keeps RGB in [0, 1].
        result.image = combine_luminance(result.image, plan.content_at(-1)).clamp_(0, 1)
    return result


@dataclass(frozen=True)
class _Plan:
    """A style transfer with every input checked: the images, the configs and the settings
    they share, each stage's size and steps, the layers VGG19 must compute, the controls."""

    content: torch.Tensor  #: (1, 3, H, W)
    styles: list[torch.Tensor]  #: (1, 3, H_s, W_s) each
    configs: list[TransferConfig]
    run: TransferConfig  #: the settings every config shares (steps, optimizer, init, ...)
    sizes: list[tuple[int, int]]  #: (h, w) per stage, coarse to fine
    steps: list[int]  #: per stage
    layers: list[str]
    blend: torch.Tensor  #: (R, S) blend table
    masks: torch.Tensor | None  #: (R, H, W) on the content's device, or None
    style_scale: float | None
    preserve_color: str
    init: torch.Tensor | None  #: (N, 3, H', W') or None

    @property
    def grey(self) -> bool:
        return self.preserve_color == "luminance"

    def content_at(self, stage: int) -> torch.Tensor:
        """(1, 3, h, w) the content image at stage ``stage``'s size."""
        return resize(self.content, self.sizes[stage])

    def objective(self, content: torch.Tensor, extractor: FeatureExtractor,
                  balance: str) -> Objective:
        """The loss at the size of ``content`` (a stage's :meth:`content_at`): content (grey
        with ``"luminance"``), the styles prepared for it and the masks resized to it."""
        size = tuple(content.shape[-2:])
        styles = [_prepare_style(s, content, size, self.style_scale, self.preserve_color)
                  for s in self.styles]
        masks = None if self.masks is None else resize_masks(self.masks, size)
        work = grey_as_rgb(luminance(content)) if self.grey else content
        return _objective(extractor, self.configs, balance, work,
                          style_term(styles, self.blend, masks))

    def start(self, content: torch.Tensor) -> torch.Tensor:
        """(N, 3, h, w) the starting images at the size of ``content`` (a stage's
        :meth:`content_at`): the given init, the content or seeded noise (grey with
        ``"luminance"``)."""
        size, n = tuple(content.shape[-2:]), len(self.configs)
        if self.init is not None:
            start = resize(self.init, size)
        elif self.run.init == "content":
            start = content.expand(n, -1, -1, -1)
        else:
            start = white_noise(*size, batch=n, seed=self.run.seed, device=content.device)
        return grey_as_rgb(luminance(start)) if self.grey else start


def _plan(content, style, configs, *, style_blend, style_scale, masks, preserve_color, scales,
          scale_steps, init, dtype: torch.dtype) -> _Plan:
    # Everything is checked here, before VGG19 is built (torchvision's weights are a 548 MB
    # download) or anything runs.
    content = validate_image(content, "content", dtype=dtype)
    styles = _as_style_list(style, dtype)
    configs = _as_list(configs)
    if init is not None:  # a Pillow image or a uint8 tensor is converted, as the content is
        init = validate_image(init, "init", batch=len(configs), dtype=dtype)
    validate_same_device(content, init=init, **{f"style {i + 1}": s for i, s in enumerate(styles)})
    run = _shared_run_settings(configs, ("init", "balance"))
    if preserve_color not in PRESERVE_COLOR:
        raise SettingsError(f"preserve_color must be one of {', '.join(PRESERVE_COLOR)}, "
                            f"not {preserve_color!r}.")
    blend, masks = _checked_blend(masks, styles, style_blend, content)
    if style_scale is not None:
        style_scale = validate_style_scale(style_scale)
    elif scales is not None:
        style_scale = 1.0
    height, width = content.shape[-2:]
    sizes = [(height, width)] if scales is None else stage_sizes(height, width,
                                                                 validate_scales(scales))
    steps = validate_scale_steps(run.steps if scale_steps is None else scale_steps, len(sizes))
    layers = list(dict.fromkeys([*(c.content_layer for c in configs),
                                 *(l for c in configs for l in c.style_layers)]))
    _check_sizes(layers, [l for c in configs for l in c.style_layers], sizes[0], styles,
                 style_scale)
    return _Plan(content, styles, configs, run, sizes, steps, layers, blend, masks, style_scale,
                 preserve_color, init)


def _check_sizes(layers, style_layers, first: tuple[int, int], styles, style_scale) -> None:
    # The coarsest stage and every style as VGG19 will see it must cover the deepest layer's
    # receptive field.
    validate_image_size(layers, *first)
    for style in styles:
        seen = style if style_scale is None else scale_style(style, first, style_scale)
        validate_image_size(style_layers, *seen.shape[-2:])


def _as_style_list(style, dtype: torch.dtype) -> list[torch.Tensor]:
    several = isinstance(style, Sequence) and not isinstance(style, torch.Tensor)
    styles = list(style) if several else [style]
    if not styles:
        raise SettingsError("Give at least one style image.")
    return [validate_image(s, f"style {i + 1}" if several else "style", dtype=dtype)
            for i, s in enumerate(styles)]


def _checked_blend(masks, styles, style_blend,
                   content) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The (R, S) blend table and the masks on the content's device (None without masks),
    checked once, before any weights are loaded."""
    blend, masks = blend_table(len(styles), style_blend, masks, tuple(content.shape[-2:]))
    return blend, None if masks is None else masks.to(device=content.device, dtype=content.dtype)


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


def _objective(extractor, configs: list[TransferConfig], balance: str, content,
               style: BlendedStyle) -> Objective:
    # Each config's α, β and w_l at this stage's size (the tutorial's setting converted, or
    # its own), as (N,) tensors: image n gets config n's weights and layers.
    height, width = content.shape[-2:]
    n = len(configs)
    alphas, betas = torch.zeros(n), torch.zeros(n)
    c_weights = {c.content_layer: torch.zeros(n) for c in configs}
    s_weights = {layer: torch.zeros(n) for c in configs for layer in c.style_layers}
    for i, config in enumerate(configs):
        weights = config_loss_weights(config, height, width, balance)
        alphas[i], betas[i] = weights.content_weight, weights.style_weight
        c_weights[config.content_layer][i] = 1.0
        for layer, weight in weights.layer_weights.items():
            s_weights[layer][i] = weight
    return Objective(
        extractor, style=style, content_image=content, content_layers=c_weights,
        style_layers=s_weights,
        content_weight=alphas, style_weight=betas,
        tv_weight=torch.tensor([c.tv_weight for c in configs]),
        relative=balance == "relative")


def reconstruct_content(image: torch.Tensor, layers: Sequence[str],
                        config: RunConfig = RunConfig(), *,
                        extractor: FeatureExtractor | None = None, progress: bool = True,
                        snapshot_every: int = 0,
                        callback: Callback | None = None) -> OptimizationResult:
    """Reconstruct ``image`` from white noise, one layer per batch item (paper Fig. 1, bottom).

    Image n minimises L_content at ``layers[n]`` only, as a relative error
    ‖F − P‖² / ‖P‖² (:func:`~nstyle_helpers.core.objective.relative_scale`): 1 for an
    all-zero feature map, whatever the layer's size or the network's activation scale, so the
    losses of shallow and deep layers can be compared. Each image has its own L-BFGS
    memory (:mod:`nstyle_helpers.core.lbfgs`), so none waits for the others.
    """
    image = validate_image(image, dtype=extractor_dtype(extractor))
    layers = validate_layer_names(layers)
    height, width = image.shape[-2:]
    n = len(layers)
    validate_image_size(layers, height, width)  # before any weights are loaded
    extractor = extractor or build_extractor(layers, config, image.device, progress=progress,
                                             size=(height, width), batch=n)
    extractor.validate_size(height, width)  # one passed in may compute deeper layers
    weights = one_hot_layer_weights(layers)
    objective = Objective(extractor, content_image=image, content_layers=weights, relative=True)
    init = white_noise(height, width, batch=n, seed=config.seed, device=image.device)
    return optimize(objective, init, optimizer=config.optimizer, steps=config.steps,
                    lr=config.lr, progress=progress, snapshot_every=snapshot_every,
                    callback=callback, description="content reconstruction")


def reconstruct_style(image: torch.Tensor, layer_sets: Sequence[Sequence[str]],
                      config: RunConfig = RunConfig(), *, size: tuple[int, int] | None = None,
                      layer_weights: Sequence[dict[str, float]] | None = None,
                      extractor: FeatureExtractor | None = None, progress: bool = True,
                      snapshot_every: int = 0,
                      callback: Callback | None = None) -> OptimizationResult:
    """Synthesise the texture of ``image`` from white noise, one layer set per batch item.

    The paper's Fig. 1, top row. Image n minimises L_style = Σ_l w_l E_l over
    ``layer_sets[n]``, each E_l / w_l a relative error ‖G − A‖² / ‖A‖²
    (:func:`~nstyle_helpers.core.objective.relative_scale`), with the paper's w_l = 1/|set|, or
    ``layer_weights[n]`` if given. ``size`` (H, W) of the result defaults to the style
    image's. Each image has its own L-BFGS memory (:mod:`nstyle_helpers.core.lbfgs`).
    """
    image = validate_image(image, dtype=extractor_dtype(extractor))
    layer_sets = [validate_layer_names(layer_set) for layer_set in layer_sets]
    if not layer_sets:
        raise SettingsError("reconstruct_style needs at least one layer set, e.g. "
                            "[('relu1_1',)].")
    height, width = size or tuple(image.shape[-2:])
    all_layers = list(dict.fromkeys(l for s in layer_sets for l in s))
    n = len(layer_sets)
    for checked in {(height, width), tuple(image.shape[-2:])}:  # before any weights load
        validate_image_size(all_layers, *checked)
    extractor = extractor or build_extractor(all_layers, config, image.device,
                                             progress=progress, size=(height, width), batch=n)
    extractor.validate_size(height, width)  # one passed in may compute deeper layers
    weights = {layer: torch.zeros(n) for layer in all_layers}
    for i, layer_set in enumerate(layer_sets):
        chosen = (layer_weights[i] if layer_weights is not None
                  else relative_weights(layer_set).layer_weights)
        for layer in layer_set:
            weights[layer][i] = chosen.get(layer, 0.0)
    objective = Objective(extractor, style_image=image, style_layers=weights, relative=True)
    init = white_noise(height, width, batch=n, seed=config.seed, device=image.device)
    return optimize(objective, init, optimizer=config.optimizer, steps=config.steps,
                    lr=config.lr, progress=progress, snapshot_every=snapshot_every,
                    callback=callback, description="style reconstruction")


def _as_list(configs: TransferConfig | Sequence[TransferConfig]) -> list[TransferConfig]:
    configs = [configs] if isinstance(configs, TransferConfig) else list(configs)
    if not configs:
        raise SettingsError("style_transfer needs at least one TransferConfig.")
    return configs


def _shared_run_settings(configs: list[TransferConfig], extra: tuple[str, ...]) -> TransferConfig:
    # One batch runs one optimiser on one network: these settings must agree.
    first = configs[0]
    for name in [f.name for f in dataclasses.fields(RunConfig)] + list(extra):
        values = {getattr(c, name) for c in configs}
        if len(values) > 1:
            raise SettingsError(f"Configs run as one batch must share {name!r}, got {values}; "
                             "run them separately.")
    return first
