"""What this session runs with: device, weights, precision, convolutions and quick mode.

Notebooks call :func:`describe_session` in their first code cell, so a student sees at the
top of the output whether quick mode or random weights are on (and then the pictures are
not results), which device is used, and what to do if pretrained weights are missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..base.environment import QUICK_ENV, WEIGHTS_ENV, WINOGRAD_ENV
from ..core.weights import resolve_weights_source
from ..core.defaults import quick_mode
from ..accel.acceleration import resolve_precision, winograd_default

__all__ = ["pretrained_weights_cached", "describe_session", "describe_setup"]

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


def describe_setup(device: torch.device) -> str:
    """What a teaching assistant needs to debug a set-up (``nstyle info``): versions, the
    session (:func:`describe_session`), threads, where weights and example images are cached
    and whether they are there, and every ``NSTYLE_*`` variable that is set."""
    import platform

    import torchvision

    from ..core.examples import cache_dir, cached_examples
    from ..base.version import __version__

    hub = Path(torch.hub.get_dir()) / "checkpoints"
    examples = ", ".join(f"{name} {state}" for name, state in cached_examples().items())
    variables = {name: value for name, value in sorted(os.environ.items())
                 if name.startswith("NSTYLE_")}
    return "\n".join([
        f"nstyle_helpers {__version__} ({Path(__file__).resolve().parents[1]})",
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"torchvision {torchvision.__version__}",
        describe_session(device),
        f"CPU threads: {torch.get_num_threads()}",
        f"torchvision's VGG19 weights: {hub / _IMAGENET_FILE} "
        f"({'present' if pretrained_weights_cached() else 'not downloaded yet'})",
        f"example images: {cache_dir()} ({examples})",
        "environment: " + (", ".join(f"{k}={v}" for k, v in variables.items())
                           or "no NSTYLE_* variable set"),
    ])
