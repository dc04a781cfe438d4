"""What this session runs with: device, weights and quick mode, said out loud.

Notebooks call :func:`describe_session` in their first code cell, so a student sees at the
top of the output whether quick mode or random weights are on (and then the pictures are
not results), which device is used, and what to do if pretrained weights are missing.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .defaults import QUICK_ENV, quick_mode
from .weights import WEIGHTS_ENV, resolve_weights_source

__all__ = ["pretrained_weights_cached", "describe_session"]

_IMAGENET_FILE = "vgg19-dcbb9e9d.pth"


def pretrained_weights_cached() -> bool:
    """True if torchvision's VGG19 ImageNet weights are already in torch's cache."""
    return (Path(torch.hub.get_dir()) / "checkpoints" / _IMAGENET_FILE).is_file()


def describe_session(device: torch.device, weights: str | None = None) -> str:
    """A few lines on the device, the weights and quick mode, with warnings in capitals."""
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
    if quick_mode():
        lines.append(f"QUICK MODE ({QUICK_ENV}=1): tiny images and a few steps, for tests. "
                     "Unset it for the real settings.")
    return "\n".join(lines)
