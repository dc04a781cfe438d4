"""What this session runs with: device, weights, precision, convolutions and quick mode.

Notebooks call :func:`describe_session` in their first code cell, so a student sees at the
top of the output whether quick mode or random weights are on (and then the pictures are
not results), which device is used, and what to do if pretrained weights are missing.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .acceleration import resolve_precision, winograd_default
from .defaults import quick_mode
from .environment import QUICK_ENV, WEIGHTS_ENV, WINOGRAD_ENV
from .weights import resolve_weights_source

__all__ = ["pretrained_weights_cached", "describe_session"]

_IMAGENET_FILE = "vgg19-dcbb9e9d.pth"


def pretrained_weights_cached() -> bool:
    """True if torchvision's VGG19 ImageNet weights are already in torch's cache."""
    return (Path(torch.hub.get_dir()) / "checkpoints" / _IMAGENET_FILE).is_file()


def describe_session(device: torch.device, weights: str | None = None) -> str:
    """A few lines on the device, weights, precision, convolutions and quick mode.

    Warnings (random weights, quick mode) are in capitals. Precision and the convolution
    algorithm are what :func:`~nstyle_helpers.transfer.build_extractor` will use on
    ``device``; both change the numbers a run computes (by rounding).
    """
    source = resolve_weights_source(weights)
    lines = [f"device: {device}" + (" (no GPU found: runs take minutes, not seconds)"
                                    if device.type == "cpu" else "")]
    if source == "random":
        lines.append(f"WEIGHTS: RANDOM ({WEIGHTS_ENV}=random). The pictures below are NOT "
                     "style transfer results; unset it to use the pretrained VGG19.")
    elif source == "imagenet":
        state = ("cached" if pretrained_weights_cached() else
                 "not cached yet: they will be downloaded (548 MB) on first use; offline, "
                 "see the README's 'Working offline'")
        lines.append(f"weights: torchvision's pretrained VGG19 ({state})")
    else:
        lines.append(f"weights: {source}")
    precision = resolve_precision(None, device)
    winograd = ("Winograd (NNPACK), each layer shape verified against PyTorch's first "
                f"({WINOGRAD_ENV}=1)")
    lines.append(f"precision: {precision}; convolutions: "
                 + (winograd if winograd_default(device, precision) else "PyTorch's"))
    if quick_mode():
        lines.append(f"QUICK MODE ({QUICK_ENV}=1): tiny images and a few steps, for tests. "
                     "Unset it for the real settings.")
    return "\n".join(lines)
