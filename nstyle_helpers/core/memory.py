"""Will a run fit? Its peak memory estimated from VGG19's shapes, and a refusal before it starts.

A run that does not fit would fail minutes in, deep inside torch (or make the machine swap);
:func:`validate_memory` refuses it first with one sentence that names the size that fits.
:func:`~nstyle_helpers.transfer.build_extractor` calls it before any weights are loaded.
"""

from __future__ import annotations

import math
import os

import torch

from ..base.errors import SettingsError
from .features import VGG19_LAYERS, feature_shape, validate_layer_names

__all__ = ["estimated_memory", "available_memory", "validate_memory"]


#: Peak bytes of a forward and backward pass per value of the network's module outputs
#: (conv and ReLU outputs counted separately, plus the input). Calibrated on the CPU: a
#: 2048 × 1363 px run through relu5_1 peaked at 8.2 GiB, 5.2 bytes per value (float32 values,
#: what autograd keeps for the backward pass, gradient buffers); 6 leaves a margin.
_BYTES_PER_VALUE = 6


def estimated_memory(layers, height: int, width: int, batch: int = 1) -> int:
    """Approximate peak memory in bytes of one loss evaluation (forward + backward) of a
    batch of ``batch`` H×W images through VGG19 up to the deepest of ``layers``."""
    layers = validate_layer_names(layers)
    deepest = max(VGG19_LAYERS.index(layer) for layer in layers)
    values = 3 * height * width
    for name in VGG19_LAYERS[: deepest + 1]:
        channels, h, w = feature_shape(name, height, width)
        values += channels * h * w
    return _BYTES_PER_VALUE * values * batch


def available_memory(device: torch.device) -> int | None:
    """Bytes free for a run on ``device``: free GPU memory on CUDA, the available RAM on a
    CPU (Linux's MemAvailable, else the physical size); ``None`` where unknown (MPS)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def validate_memory(layers, height: int, width: int, device: torch.device,
                    batch: int = 1) -> None:
    """Refuse an H×W run whose estimated memory is more than ``device`` has free."""
    needed = estimated_memory(layers, height, width, batch)
    free = available_memory(device)
    if free is None or needed <= free:
        return
    longer = max(height, width)
    fits = int(longer * math.sqrt(free / needed))
    raise SettingsError(
        f"A {width}×{height} run{f' of {batch} images' if batch > 1 else ''} needs about "
        f"{needed / 2**30:.1f} GiB on {device}, more than the {free / 2**30:.1f} GiB free; "
        f"at most about {fits} px (longer side) fits: use a smaller size.")
