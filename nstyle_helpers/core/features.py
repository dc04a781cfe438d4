"""VGG19 as a feature extractor: layer names, layer sets, and :class:`VGG19Features`.

Layer names follow the paper (``conv4_2`` = block 4, convolution 2) and torchvision's
``vgg19().features`` indices (docs/DESIGN.md §3). Every convolution has two names:

- ``convB_K`` is the convolution's output *before* its ReLU (it has negative values);
- ``reluB_K`` is the same tensor *after* the ReLU.

Why both: the paper's "conv4_2" is a blob of the original Caffe model that an in-place ReLU
has overwritten, so what the paper calls conv4_2 is really our ``relu4_2``. The PyTorch
tutorial uses pre-ReLU outputs, and torchvision's ``inplace=True`` ReLUs would silently turn a
captured conv output into its ReLU. We keep both names and never let a ReLU modify a captured
tensor (our ReLUs are not in place). The defaults below follow the paper, so they are relu
outputs.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from typing import Protocol
from pathlib import Path

import torch
from torch import nn

from ..base.errors import ImageError, ImageTooSmallError, LayerError, WeightsError
from ..base.validation import validate_pooling
from .weights import load_features_state_dict, resolve_weights_source

__all__ = [
    "VGG19_LAYERS",
    "STYLE_LAYERS",
    "CONTENT_LAYER",
    "CONTENT_LAYERS_FIG1",
    "style_layer_sets",
    "validate_layer_names",
    "feature_shape",
    "min_image_side",
    "validate_image_size",
    "VGG19Features",
    "FeatureExtractor",
]

# (block, number of convolutions) for VGG19 ("configuration E"), each block ends in a pool.
_BLOCKS = ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
_CHANNELS = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}


def _layer_table() -> tuple[str, ...]:
    names = []
    for block, convs in _BLOCKS:
        for k in range(1, convs + 1):
            names += [f"conv{block}_{k}", f"relu{block}_{k}"]
        names.append(f"pool{block}")
    return tuple(names)


#: The 37 layers of ``torchvision.models.vgg19().features``, in order: index i of this
#: tuple is ``features[i]``. ``VGG19_LAYERS[21] == "conv4_2"``.
VGG19_LAYERS: tuple[str, ...] = _layer_table()
_INDEX = {name: i for i, name in enumerate(VGG19_LAYERS)}

#: The paper's style layers λ (conv1_1 ... conv5_1 in its naming, rectified outputs).
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
#: The paper's content layer l_c (conv4_2 in its naming, rectified output).
CONTENT_LAYER = "relu4_2"
#: The layers of the paper's Fig. 1 content reconstructions (conv1_2 ... conv5_2 there).
CONTENT_LAYERS_FIG1 = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2")


def style_layer_sets(layers: Sequence[str] = STYLE_LAYERS) -> list[tuple[str, ...]]:
    """The growing layer sets of the paper's Fig. 1 style reconstructions.

    >>> style_layer_sets(("relu1_1", "relu2_1", "relu3_1"))
    [('relu1_1',), ('relu1_1', 'relu2_1'), ('relu1_1', 'relu2_1', 'relu3_1')]
    """
    return [tuple(layers[: k + 1]) for k in range(len(layers))]


def validate_layer_names(layers: Iterable[str]) -> tuple[str, ...]:
    """Return ``layers`` as a tuple, or raise :class:`LayerError` naming the nearest valid one."""
    if isinstance(layers, str):  # tuple("relu1_1") would be seven one-letter "layers"
        raise LayerError(f"Layers are a sequence of names, not the string {layers!r}; pass "
                         f"({layers!r},) or [{layers!r}].")
    layers = tuple(layers)
    if not layers:
        raise LayerError("No layers requested; name at least one VGG19 layer, e.g. relu4_2.")
    for name in layers:
        if name not in _INDEX:
            close = difflib.get_close_matches(str(name), VGG19_LAYERS, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise LayerError(f"Unknown VGG19 layer {name!r}; {hint}valid names are conv1_1, "
                             "relu1_1, ..., pool5 (convB_K before its ReLU, reluB_K after).")
    return layers


def feature_shape(layer: str, height: int, width: int) -> tuple[int, int, int]:
    """(N_l, H_l, W_l) of ``layer`` for an H×W input: N_l maps of M_l = H_l·W_l positions.

    >>> feature_shape("relu4_2", 256, 384)
    (512, 32, 48)
    """
    (layer,) = validate_layer_names([layer])
    pools = sum(name.startswith("pool") for name in VGG19_LAYERS[: _INDEX[layer] + 1])
    # Pooling halves the size, rounding down (floor mode, as torchvision's VGG19).
    return _CHANNELS[int(layer[4])], height >> pools, width >> pools


def min_image_side(layers: Iterable[str]) -> int:
    """Smallest image side (pixels) the deepest of ``layers`` needs: 2 ** (pools up to it).

    >>> min_image_side(["relu4_2"]), min_image_side(["pool5"])
    (8, 32)
    """
    deepest = max(validate_layer_names(layers), key=_INDEX.__getitem__)
    # A pool as the deepest layer itself needs its input at least 2 px wide, hence "up to".
    return 2 ** sum(name.startswith("pool") for name in VGG19_LAYERS[: _INDEX[deepest] + 1])


def validate_image_size(layers: Iterable[str], height: int, width: int) -> None:
    """Raise :class:`ImageTooSmallError` if an H×W image is too small for ``layers``.

    Each pooling layer halves the image, so the deepest layer, after p pools, needs at least
    2**p pixels on each side to have a feature map at all.

    >>> validate_image_size(["relu1_1"], 8, 8)
    >>> validate_image_size(["relu5_1"], 8, 8)
    Traceback (most recent call last):
    ...
    nstyle_helpers.base.errors.ImageTooSmallError: The image is 8×8 pixels, too small for layer relu5_1, which needs at least 16 pixels on each side; use a larger size or shallower layers.
    """
    deepest = max(validate_layer_names(layers), key=_INDEX.__getitem__)
    needed = min_image_side([deepest])
    if min(height, width) < needed:
        raise ImageTooSmallError(
            f"The image is {width}×{height} pixels, too small for layer {deepest}, which "
            f"needs at least {needed} pixels on each side; use a larger size or "
            "shallower layers.")


def _build_layers(count: int, pooling: str) -> nn.Sequential:
    """The first ``count`` modules of VGG19's ``features``, with non-in-place ReLUs."""
    modules: list[nn.Module] = []
    in_channels = 3
    for name in VGG19_LAYERS[:count]:
        if name.startswith("conv"):
            out_channels = _CHANNELS[int(name[4])]
            modules.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
            in_channels = out_channels
        elif name.startswith("relu"):
            # Not in place: an in-place ReLU would overwrite a captured conv output.
            modules.append(nn.ReLU(inplace=False))
        elif pooling == "max":
            modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            # The paper replaces max by average pooling ("slightly more appealing results").
            modules.append(nn.AvgPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*modules)


def _init_random(body: nn.Sequential) -> None:
    # torchvision's VGG initialisation, from a fixed seed so random-weight runs repeat.
    generator = torch.Generator().manual_seed(0)
    for module in body:
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu",
                                    generator=generator)
            nn.init.zeros_(module.bias)


class VGG19Features(nn.Module):
    """A frozen, truncated VGG19 that returns the activations of named layers.

    Args:
        layers: layer names from :data:`VGG19_LAYERS` (``conv``/``relu``/``pool`` outputs).
        weights: ``"imagenet"``, ``"random"`` or a path to a VGG19 state dict; ``None`` reads
            ``$NSTYLE_WEIGHTS`` and defaults to ``"imagenet"`` (see
            :mod:`nstyle_helpers.core.weights`).
        pooling: ``"max"`` (what the weights were trained with) or ``"avg"`` (the paper).
        progress: show a progress bar if the weights must be downloaded.

    Input: (N, 3, H, W) RGB in [0, 1]; the ImageNet mean/std normalisation happens inside.
    Output: ``{name: (N, C_l, H_l, W_l)}`` for every requested layer.

    The network stops after the deepest requested layer, its parameters need no gradients
    and it stays in eval mode; gradients flow to the *input* only.

    Example:
        >>> vgg = VGG19Features(["conv1_1", "relu1_1"], weights="random")
        >>> out = vgg(torch.rand(1, 3, 32, 32))
        >>> bool((out["conv1_1"] < 0).any()), bool((out["relu1_1"] >= 0).all())
        (True, True)
    """

    def __init__(self, layers: Iterable[str], *, weights: str | os.PathLike | None = None,
                 pooling: str = "max", progress: bool = True):
        super().__init__()
        self.pooling = validate_pooling(pooling)
        self.layers = validate_layer_names(layers)
        deepest = max(_INDEX[name] for name in self.layers)
        self.body = _build_layers(deepest + 1, pooling)
        self.weights_source = resolve_weights_source(weights)
        self._load_weights(progress)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def _load_weights(self, progress: bool) -> None:
        convs = [i for i, m in enumerate(self.body) if isinstance(m, nn.Conv2d)]
        state = load_features_state_dict(self.weights_source, convs, progress=progress)
        if state is None:
            _init_random(self.body)
            return
        label = ("torchvision's VGG19 weights" if self.weights_source == "imagenet"
                 else str(self.weights_source))
        own = self.body.state_dict()
        for key, value in state.items():
            if tuple(value.shape) != tuple(own[key].shape):
                raise WeightsError(
                    f"{label} is not a VGG19 state dict: {key} has shape {tuple(value.shape)} "
                    f"but VGG19's has {tuple(own[key].shape)} (is it another network?).")
        self.body.load_state_dict(state)

    @property
    def uses_random_weights(self) -> bool:
        return self.weights_source == "random"

    @property
    def min_side(self) -> int:
        """Smallest image side (pixels) the deepest layer needs (see :func:`min_image_side`)."""
        return min_image_side(self.layers)

    def validate_size(self, height: int, width: int) -> None:
        """Raise :class:`ImageTooSmallError` if an H×W image is too small for the layers."""
        validate_image_size(self.layers, height, width)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ImageError(f"expected images of shape (N, 3, H, W), got {tuple(images.shape)}.")
        self.validate_size(*images.shape[-2:])
        wanted = set(self.layers)
        x = (images - self.mean) / self.std
        features = {}
        for name, module in zip(VGG19_LAYERS, self.body):
            x = module(x)
            if name in wanted:
                features[name] = x
        return features

    def extra_repr(self) -> str:
        source = self.weights_source if isinstance(self.weights_source, str) else Path(
            self.weights_source).name
        return f"layers={list(self.layers)}, pooling={self.pooling!r}, weights={source!r}"


class FeatureExtractor(Protocol):
    """What the rest of the package needs of a feature extractor.

    :class:`VGG19Features` is one; :class:`~nstyle_helpers.accel.acceleration.AcceleratedFeatures`
    (the same network in bfloat16, channels_last or with Winograd convolutions) is the other.
    :func:`~nstyle_helpers.transfer.build_extractor` returns either.
    """

    layers: tuple[str, ...]  #: the layers it returns, by name
    pooling: str  #: "max" or "avg"

    @property
    def weights_source(self) -> str | Path: ...  # "imagenet", "random" or a file

    @property
    def uses_random_weights(self) -> bool: ...

    @property
    def min_side(self) -> int: ...  # the smallest image side its deepest layer needs

    def validate_size(self, height: int, width: int) -> None: ...

    def parameters(self): ...  # its (frozen) weights, as nn.Module's

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]: ...  # (N, 3, H, W) →
