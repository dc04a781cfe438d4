r"""Default settings for torchvision's VGG19, and where each number comes from.

Why not the paper's α/β = 10⁻³
------------------------------
The paper's Caffe VGG19 took BGR images in 0..255 minus the mean and was rescaled so every
filter's mean activation is 1. torchvision's VGG19 takes RGB in [0, 1] normalised by the
ImageNet mean/std, so its activations have other scales; the content loss grows with their
square and the style loss with their fourth power. The paper's ratio therefore means nothing
for these weights (docs/DESIGN.md §3). We start instead from a setting known to work with
torchvision's weights, the PyTorch tutorial ("Neural Transfer Using PyTorch"), and convert its
normalisations *exactly* into the paper's formulas.

The conversion
--------------
The tutorial's content loss is a mean squared error over the N_c · M_c entries of layer l_c,
with weight 1:

.. math::  \mathrm{MSE}(F, P) = \frac{1}{N_c M_c} \sum_{ij} (F_{ij} - P_{ij})^2
           = \frac{2}{N_c M_c} \, L_{content}

so :math:`\alpha = 2 / (N_c M_c)`. Its Gram matrix is divided by N_l · M_l and its style loss
is the mean over the N_l² entries, with weight 10⁶:

.. math::  10^6 \cdot \frac{1}{N_l^2} \sum_{ij} \Big(\frac{G_{ij} - A_{ij}}{N_l M_l}\Big)^2
           = 10^6 \cdot \frac{4}{N_l^2} \cdot \frac{1}{4 N_l^2 M_l^2} \sum_{ij} (G_{ij} - A_{ij})^2

so :math:`\beta w_l = 4 \cdot 10^6 / N_l^2`. Keeping the paper's convention that the w_l sum
to 1 gives :math:`w_l = N_l^{-2} / \sum_k N_k^{-2}` and :math:`\beta = 4 \cdot 10^6 \sum_k N_k^{-2}`.

Two things follow. The deep layers (512 maps) get 1/64 of the weight of relu1_1 (64 maps),
where the paper gives all five 1/5. And α depends on M_c, the size of the content layer:
the tutorial's content term is a mean, ours a sum, so α is computed from the actual image
(:func:`tutorial_equivalent_weights`) rather than fixed. For a 384 × 256 content image and
l_c = relu4_2 (N_c = 512, M_c = 48 · 32), α ≈ 2.5·10⁻⁶ and β ≈ 1.3·10³: α/β ≈ 2·10⁻⁹,
six decades from the paper's 10⁻³.

What we keep from the tutorial: L-BFGS with learning rate 1. What we keep from the paper:
its layers (rectified outputs relu1_1 ... relu5_1 for style, relu4_2 for content; the
tutorial's "conv_4" is really conv2_2 before its ReLU, see :mod:`nstyle_helpers.core.features`).
What we change: the starting image is the content image rather than noise (the paper), which
reaches a good result in fewer steps; the notebooks compare both.

The relative balance: networks at other scales
-----------------------------------------------
The conversion above is exact for torchvision's VGG19 and nothing else. Caffe-trained VGG
networks (the paper's normalised VGG19, jcjohnson's, and the VGG16 features in VGG19's
layout that this project's pictures are made with, ``../shared/weights/SOURCES.md``) have
activations 20-300 times larger, layer by layer differently; the style term grows with the
fourth power of that, the content term with the square. With the tutorial's weights the
Great Wave on Chicago on that VGG16 was all wave, no skyline.

So every other network gets the *relative* balance: each layer's loss is divided by its
value at an all-zero feature map (:func:`~nstyle_helpers.core.objective.relative_scale`), which
makes it a relative error, ‖F − P‖² / ‖P‖² for content and ‖G − A‖² / ‖A‖² for style, the
same number whatever the layer's activation scale. Then

.. math::  L = \alpha \frac{\|F - P\|^2}{\|P\|^2}
             + \beta \sum_{l} w_l \frac{\|G^l - A^l\|^2}{\|A^l\|^2},
           \qquad w_l = 1/|\lambda| \text{ (the paper's 1/5)},

and α, β are plain numbers that do not depend on the network or the image size. We chose
α = 1, β = 5 by looking at the pictures (real ImageNet features, the shared VGG16 file,
2026-12-07, 192 px, 100 L-BFGS steps from the content image, the L-BFGS of
:mod:`nstyle_helpers.core.lbfgs`): on the Great Wave and Chicago, β/α = 1 and 2 keep the skyline
with wave texture in the sky, 5 paints the wave's water over the foreground and the sky while
the skyline stays readable, 10 fades the towers; 1000 and more leave only the wave. On
Tübingen + The Starry Night, 5 gives the familiar swirls over houses that stay houses. Not measured: the relative balance
on torchvision's VGG19 (its weights cannot be downloaded here), which is why that network
keeps the tutorial's balance by default (:func:`resolve_balance`).

Size and steps
--------------
Measured on 2-core CPUs with 2 threads, one loss evaluation (VGG19 to relu5_1, forward and
backward) takes 0.5-0.9 s at 384 × 256 (``benchmarks/results/peer-cpu.md``), so the CPU
default (384 px, 300 L-BFGS steps) takes 3-5 minutes in all (``make run``: 2 min 59 s to
5 min 1 s on the hosts of ``docs/DEVELOPING.md``), inside the 10-minute budget. On a GPU the
default is 512 px and 500 steps.

Quick mode
----------
``NSTYLE_QUICK=1`` makes every notebook and the command line run in seconds (tiny images,
few steps) for tests on a 2-core CPU. Read sizes and step counts through :func:`quick_or`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from ..base.errors import SettingsError
from ..base.environment import QUICK_ENV, quick_setting

__all__ = [
    "QUICK_ENV",
    "quick_mode",
    "quick_or",
    "default_size",
    "default_steps",
    "LossWeights",
    "tutorial_equivalent_weights",
    "BALANCES",
    "validate_balance",
    "resolve_balance",
    "relative_weights",
]


CPU_SIZE, CPU_STEPS = 384, 300
GPU_SIZE, GPU_STEPS = 512, 500
QUICK_SIZE, QUICK_STEPS = 64, 5

# The PyTorch tutorial's weights (content MSE weight, style MSE weight).
TUTORIAL_CONTENT_WEIGHT = 1.0
TUTORIAL_STYLE_WEIGHT = 1e6

#: How the content and style terms are balanced (see the module docstring).
BALANCES = ("relative", "tutorial")

# The relative balance's α and β (terms as relative errors, w_l = 1/|λ|): measured on real
# ImageNet features, see "The relative balance" above.
RELATIVE_CONTENT_WEIGHT = 1.0
RELATIVE_STYLE_WEIGHT = 5.0


def quick_mode() -> bool:
    """True when ``$NSTYLE_QUICK`` is set, except to ``""``, ``0``, ``false``, ``no``, ``off``."""
    return quick_setting()


def quick_or(full, quick):
    """``quick`` in quick mode, else ``full``: the one switch notebooks read settings through.

    >>> quick_or(512, 64) in (512, 64)
    True
    """
    return quick if quick_mode() else full


def default_size(device: torch.device) -> int:
    """Default longer side in pixels: 512 on a GPU, 384 on a CPU, 64 in quick mode."""
    return quick_or(GPU_SIZE if device.type != "cpu" else CPU_SIZE, QUICK_SIZE)


def default_steps(device: torch.device) -> int:
    """Default L-BFGS steps: 500 on a GPU, 300 on a CPU, 5 in quick mode."""
    return quick_or(GPU_STEPS if device.type != "cpu" else CPU_STEPS, QUICK_STEPS)


@dataclass(frozen=True)
class LossWeights:
    """α, β and the per-layer style weights w_l (which sum to 1)."""

    content_weight: float
    style_weight: float
    layer_weights: dict[str, float]

    @property
    def ratio(self) -> float:
        """α/β, the number the paper quotes."""
        return self.content_weight / self.style_weight


def tutorial_equivalent_weights(content_maps: int, content_positions: int,
                                style_maps: Mapping[str, int]) -> LossWeights:
    """The PyTorch tutorial's weights, converted exactly to the paper's formulas.

    Args:
        content_maps: N_c, the number of feature maps of the content layer.
        content_positions: M_c, height × width of the content layer's maps.
        style_maps: ``{layer: N_l}`` for the style layers.

    >>> w = tutorial_equivalent_weights(512, 48 * 32, {"relu1_1": 64, "relu5_1": 512})
    >>> round(w.layer_weights["relu1_1"] / w.layer_weights["relu5_1"])
    64
    """
    inverse_squares = {layer: 1.0 / n**2 for layer, n in style_maps.items()}
    total = sum(inverse_squares.values())
    return LossWeights(
        content_weight=TUTORIAL_CONTENT_WEIGHT * 2.0 / (content_maps * content_positions),
        style_weight=TUTORIAL_STYLE_WEIGHT * 4.0 * total,
        layer_weights={layer: value / total for layer, value in inverse_squares.items()},
    )


def validate_balance(balance) -> str:
    """One of :data:`BALANCES`."""
    if balance not in BALANCES:
        raise SettingsError(f"balance must be one of {', '.join(BALANCES)}, not {balance!r}.")
    return balance


def resolve_balance(balance: str | None, weights_source) -> str:
    """``balance`` if given, else ``"tutorial"`` for torchvision's own VGG19 download
    (``weights_source == "imagenet"``) and ``"relative"`` for every other network.

    >>> resolve_balance(None, "imagenet"), resolve_balance(None, "vgg.pth")
    ('tutorial', 'relative')
    """
    if balance is None:
        return "tutorial" if weights_source == "imagenet" else "relative"
    return validate_balance(balance)


def relative_weights(style_layers: Sequence[str]) -> LossWeights:
    """The relative balance: α, β for relative-error terms, and the paper's w_l = 1/|λ|.

    >>> relative_weights(["relu1_1", "relu2_1"]).layer_weights
    {'relu1_1': 0.5, 'relu2_1': 0.5}
    """
    return LossWeights(content_weight=RELATIVE_CONTENT_WEIGHT,
                       style_weight=RELATIVE_STYLE_WEIGHT,
                       layer_weights={layer: 1.0 / len(style_layers) for layer in style_layers})
