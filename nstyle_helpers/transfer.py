"""The experiments of the paper as functions: style transfer and the two reconstructions.

Each one builds an :class:`~nstyle_helpers.objective.Objective` and runs
:func:`~nstyle_helpers.optimize.optimize`; nothing here that a student could not assemble
from those two parts. Every function runs a *batch*: several settings (α/β ratios, content
layers, layer sets) optimised side by side in one run, as one (N, 3, H, W) tensor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .acceleration import accelerate
from .defaults import CPU_STEPS, LossWeights, tutorial_equivalent_weights
from .features import CONTENT_LAYER, STYLE_LAYERS, VGG19Features, check_layer_names, \
    feature_shape
from .images import white_noise
from .objective import Objective
from .errors import SettingsError
from .optimize import OptimizationResult, Progress, optimize
from .validation import (extractor_dtype, validate_image, validate_learning_rate,
                         validate_loss_weight, validate_memory, validate_optimizer,
                         validate_pooling, validate_same_device, validate_seed, validate_steps)

__all__ = ["RunConfig", "TransferConfig", "build_extractor", "transfer_loss_weights",
           "config_loss_weights", "style_transfer",
           "reconstruct_content", "reconstruct_style"]

INITS = ("content", "noise")


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Settings shared by every experiment.

    ``weights``: ``"imagenet"``, ``"random"``, a path, or ``None`` for ``$NSTYLE_WEIGHTS``.
    ``steps`` counts optimiser steps (see :mod:`nstyle_helpers.optimize`); ``lr=None`` takes
    the optimiser's default; ``seed`` seeds the white noise.
    """

    optimizer: str = "lbfgs"
    steps: int = CPU_STEPS
    lr: float | None = None
    seed: int = 0
    pooling: str = "max"
    weights: str | None = None

    def __post_init__(self):
        # The same checks as the command line's (nstyle_helpers.validation), at construction.
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
    setting converted exactly to the article's formulas (:mod:`nstyle_helpers.defaults`);
    the style layers' weights w_l are converted the same way. ``init`` is ``"content"``
    (start from the content image) or ``"noise"`` (white noise, as in the paper).
    """

    content_layer: str = CONTENT_LAYER
    style_layers: tuple[str, ...] = STYLE_LAYERS
    content_weight: float | None = None
    style_weight: float | None = None
    tv_weight: float = 0.0
    init: str = "content"

    def __post_init__(self):
        super().__post_init__()
        check_layer_names([self.content_layer])
        object.__setattr__(self, "style_layers", check_layer_names(self.style_layers))
        for name in ("content_weight", "style_weight", "tv_weight"):
            if getattr(self, name) is not None:
                validate_loss_weight(getattr(self, name), name)
        if self.init not in INITS:
            raise SettingsError(f"init must be one of {INITS}, not {self.init!r}; pass a "
                                "starting image as init= instead.")

    def replace(self, **changes) -> TransferConfig:
        """A copy with some fields changed, e.g. ``config.replace(steps=50)``."""
        return dataclasses.replace(self, **changes)


Callback = Callable[[Progress], bool | None]


def build_extractor(layers: Sequence[str], config: RunConfig, device: torch.device,
                    *, progress: bool = True, size: tuple[int, int] | None = None,
                    batch: int = 1) -> VGG19Features:
    """A :class:`VGG19Features` for ``layers`` with the config's weights and pooling.

    With ``size`` (H, W), first refuse a run of ``batch`` such images that cannot fit in
    ``device``'s free memory (:func:`~nstyle_helpers.validation.validate_memory`), before
    any weights are loaded.

    Run the fast way for ``device`` (:func:`~nstyle_helpers.acceleration.accelerate`): on a
    recent NVIDIA GPU in bfloat16 and channels_last with cudnn.benchmark (features and losses
    still float32); on a CPU in float32 with PyTorch's convolutions (Winograd through NNPACK
    with ``$NSTYLE_WINOGRAD=1``, :mod:`nstyle_helpers.winograd`), or in bfloat16 with
    ``$NSTYLE_PRECISION=bfloat16``.
    """
    if size is not None:
        validate_memory(layers, *size, device, batch)
    extractor = VGG19Features(layers, weights=config.weights, pooling=config.pooling,
                              progress=progress)
    return accelerate(extractor.to(device), device)


def transfer_loss_weights(height: int, width: int, content_layer: str = CONTENT_LAYER,
                          style_layers: Sequence[str] = STYLE_LAYERS) -> LossWeights:
    """The default α, β and w_l for an H×W content image (:mod:`nstyle_helpers.defaults`).

    What :func:`style_transfer` uses when α and β are not given.

    >>> w = transfer_loss_weights(256, 384)
    >>> f"{w.ratio:.1e}"
    '1.9e-09'
    """
    maps, h, w = feature_shape(content_layer, height, width)
    return tutorial_equivalent_weights(
        maps, h * w, {layer: feature_shape(layer, height, width)[0] for layer in style_layers})


def config_loss_weights(config: TransferConfig, height: int, width: int) -> LossWeights:
    """α, β and w_l of one config at H×W: its own α and β where given, else the defaults."""
    default = transfer_loss_weights(height, width, config.content_layer, config.style_layers)
    return dataclasses.replace(
        default,
        content_weight=(default.content_weight if config.content_weight is None
                        else config.content_weight),
        style_weight=default.style_weight if config.style_weight is None else config.style_weight)


def style_transfer(content: torch.Tensor, style: torch.Tensor,
                   configs: TransferConfig | Sequence[TransferConfig] = TransferConfig(), *,
                   extractor: VGG19Features | None = None, init: torch.Tensor | None = None,
                   progress: bool = True, snapshot_every: int = 0,
                   callback: Callback | None = None) -> OptimizationResult:
    """Paint ``style`` onto ``content``: one image per config, optimised in one batch.

    Args:
        content: (1, 3, H, W) content image p in [0, 1].
        style: (1, 3, H', W') style image a in [0, 1] (any size).
        configs: one :class:`TransferConfig`, or several that differ only in their loss
            settings (layers, α, β, TV weight): a grid over α/β is one batched run.
        extractor: reuse a feature extractor (it must compute every layer needed).
        init: (N, 3, H, W) starting images, overriding each config's ``init``.

    Returns:
        The :class:`OptimizationResult`; ``result.image`` is (N, 3, H, W).
    """
    dtype = extractor_dtype(extractor)
    content = validate_image(content, "content", dtype=dtype)
    style = validate_image(style, "style", dtype=dtype)
    validate_same_device(content, style=style, init=init)
    configs = _as_list(configs)
    run = _shared_run_settings(configs, ("init",))
    height, width = content.shape[-2:]
    content_layers = list(dict.fromkeys(c.content_layer for c in configs))
    style_layers = list(dict.fromkeys(l for c in configs for l in c.style_layers))
    n = len(configs)
    extractor = extractor or build_extractor(content_layers + style_layers, run, content.device,
                                             progress=progress, size=(height, width), batch=n)
    extractor.check_size(height, width)
    alphas, betas = torch.zeros(n), torch.zeros(n)
    c_weights = {layer: torch.zeros(n) for layer in content_layers}
    s_weights = {layer: torch.zeros(n) for layer in style_layers}
    for i, config in enumerate(configs):
        weights = config_loss_weights(config, height, width)
        alphas[i], betas[i] = weights.content_weight, weights.style_weight
        c_weights[config.content_layer][i] = 1.0
        for layer, weight in weights.layer_weights.items():
            s_weights[layer][i] = weight
    objective = Objective(extractor, content_image=content, content_layers=c_weights,
                          style_image=style, style_layers=s_weights, content_weight=alphas,
                          style_weight=betas,
                          tv_weight=torch.tensor([c.tv_weight for c in configs]))
    if init is None:
        init = (content.expand(n, -1, -1, -1) if run.init == "content" else
                white_noise(height, width, batch=n, seed=run.seed, device=content.device))
    else:
        init = validate_image(init, "init", batch=None, dtype=dtype)
        if tuple(init.shape) != (n, 3, height, width):
            raise SettingsError(f"init has shape {tuple(init.shape)}; it must be one starting "
                                f"image per config, the content's size: {(n, 3, height, width)}.")
    return optimize(objective, init, optimizer=run.optimizer, steps=run.steps, lr=run.lr,
                    progress=progress, snapshot_every=snapshot_every, callback=callback,
                    description="style transfer")


def reconstruct_content(image: torch.Tensor, layers: Sequence[str],
                        config: RunConfig = RunConfig(), *,
                        extractor: VGG19Features | None = None, progress: bool = True,
                        snapshot_every: int = 0,
                        callback: Callback | None = None) -> OptimizationResult:
    """Reconstruct ``image`` from white noise, one layer per batch item (paper Fig. 1, bottom).

    Image n minimises L_content at ``layers[n]`` only. Each is weighted by α = 2/(N_l M_l)
    (the tutorial's mean squared error) so that the losses of shallow and deep layers have
    comparable sizes in the one batched run.
    """
    image = validate_image(image, dtype=extractor_dtype(extractor))
    layers = check_layer_names(layers)
    height, width = image.shape[-2:]
    n = len(layers)
    extractor = extractor or build_extractor(layers, config, image.device, progress=progress,
                                             size=(height, width), batch=n)
    extractor.check_size(height, width)
    weights = {layer: torch.zeros(n) for layer in dict.fromkeys(layers)}
    for i, layer in enumerate(layers):
        maps, h, w = feature_shape(layer, height, width)
        weights[layer][i] = 2.0 / (maps * h * w)
    objective = Objective(extractor, content_image=image, content_layers=weights)
    init = white_noise(height, width, batch=n, seed=config.seed, device=image.device)
    return optimize(objective, init, optimizer=config.optimizer, steps=config.steps,
                    lr=config.lr, progress=progress, snapshot_every=snapshot_every,
                    callback=callback, description="content reconstruction")


def reconstruct_style(image: torch.Tensor, layer_sets: Sequence[Sequence[str]],
                      config: RunConfig = RunConfig(), *, size: tuple[int, int] | None = None,
                      layer_weights: Sequence[dict[str, float]] | None = None,
                      extractor: VGG19Features | None = None, progress: bool = True,
                      snapshot_every: int = 0,
                      callback: Callback | None = None) -> OptimizationResult:
    """Synthesise the texture of ``image`` from white noise, one layer set per batch item.

    The paper's Fig. 1, top row. Image n minimises L_style over ``layer_sets[n]`` with
    w_l from :func:`~nstyle_helpers.defaults.tutorial_equivalent_weights` (restricted to the
    set), or ``layer_weights[n]`` if given. ``size`` (H, W) of the result defaults to the
    style image's.
    """
    image = validate_image(image, dtype=extractor_dtype(extractor))
    layer_sets = [check_layer_names(layer_set) for layer_set in layer_sets]
    if not layer_sets:
        raise SettingsError("reconstruct_style needs at least one layer set, e.g. "
                            "[('relu1_1',)].")
    height, width = size or tuple(image.shape[-2:])
    all_layers = list(dict.fromkeys(l for s in layer_sets for l in s))
    n = len(layer_sets)
    extractor = extractor or build_extractor(all_layers, config, image.device,
                                             progress=progress, size=(height, width), batch=n)
    extractor.check_size(height, width)
    betas = torch.zeros(n)
    weights = {layer: torch.zeros(n) for layer in all_layers}
    for i, layer_set in enumerate(layer_sets):
        default = tutorial_equivalent_weights(
            1, 1, {l: feature_shape(l, height, width)[0] for l in layer_set})
        chosen = layer_weights[i] if layer_weights is not None else default.layer_weights
        betas[i] = default.style_weight
        for layer in layer_set:
            weights[layer][i] = chosen.get(layer, 0.0)
    objective = Objective(extractor, style_image=image, style_layers=weights, style_weight=betas)
    init = white_noise(height, width, batch=n, seed=config.seed, device=image.device)
    return optimize(objective, init, optimizer=config.optimizer, steps=config.steps,
                    lr=config.lr, progress=progress, snapshot_every=snapshot_every,
                    callback=callback, description="style reconstruction")


def _as_list(configs: TransferConfig | Sequence[TransferConfig]) -> list[TransferConfig]:
    configs = [configs] if isinstance(configs, TransferConfig) else list(configs)
    if not configs:
        raise ValueError("style_transfer needs at least one TransferConfig.")
    return configs


def _shared_run_settings(configs: list[TransferConfig], extra: tuple[str, ...]) -> TransferConfig:
    # One batch runs one optimiser on one network: these settings must agree.
    first = configs[0]
    for name in [f.name for f in dataclasses.fields(RunConfig)] + list(extra):
        values = {getattr(c, name) for c in configs}
        if len(values) > 1:
            raise ValueError(f"Configs run as one batch must share {name!r}, got {values}; "
                             "run them separately.")
    return first
