"""Input validation shared by the library and the command line, so they cannot disagree.

Each ``validate_*`` function takes what a user gave, returns it in the form the package
uses, or raises an :class:`~nstyle_helpers.errors.NstyleError` whose message is one sentence
saying what was given and what to give instead. The command line's option parsers call
the same functions (:mod:`nstyle_helpers.cli`); the library's entry points call them at
their boundary, before anything is computed.

(*Grading* a student's function is another thing, done by :mod:`nstyle_helpers.checks`.)
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from PIL import Image

from .errors import ImageError, SettingsError

__all__ = ["FLOAT32_MAX", "MAX_SIDE", "MAX_SEED", "OPTIMIZERS", "POOLINGS",
           "validate_optimizer", "validate_pooling", "validate_steps", "validate_size",
           "validate_learning_rate", "validate_loss_weight", "validate_seed", "validate_image",
           "extractor_dtype", "validate_same_device", "estimated_memory", "available_memory",
           "validate_memory"]

#: Largest finite float32 (about 3.4e38): loss weights and learning rates above it overflow.
FLOAT32_MAX = float(torch.finfo(torch.float32).max)

#: Longest image side accepted, in pixels: the 64-megapixel limit of
#: :data:`~nstyle_helpers.images.MAX_IMAGE_PIXELS` holds 16000 × 4000 at most at 4:1.
MAX_SIDE = 16_000
#: The most optimiser steps a run accepts: the paper's runs take hundreds to a few thousand;
#: a million on a GPU is days. A typo like 10**20 should not run for ever.
MAX_STEPS = 1_000_000

#: Largest seed: PyTorch's generators take 64-bit unsigned seeds.
MAX_SEED = 2**64 - 1

#: The optimisers :func:`~nstyle_helpers.optimize.optimize` knows.
OPTIMIZERS = ("lbfgs", "adam")

#: VGG19's pooling: max (what the weights were trained with) or average (the paper).
POOLINGS = ("max", "avg")


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def validate_whole_number(value, what: str, low: int, high: int | None = None) -> int:
    """``value`` as an int: a Python or NumPy whole number (not a bool) from ``low`` to
    ``high`` (no upper limit for ``None``). The one check every count in the package uses.

    >>> validate_whole_number(np.int64(3), "steps", 1)
    3
    """
    if not _is_int(value) or value < low or (high is not None and value > high):
        limits = f"from {low:,} to {high:,}" if high is not None else f"{low} or more"
        raise SettingsError(f"{what} must be a whole number {limits}, not {value!r}.")
    return int(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def validate_optimizer(name) -> str:
    """One of :data:`OPTIMIZERS`."""
    if name not in OPTIMIZERS:
        raise SettingsError(f"Unknown optimizer {name!r}; choose 'lbfgs' or 'adam'.")
    return name


def validate_pooling(pooling) -> str:
    """One of :data:`POOLINGS`."""
    if pooling not in POOLINGS:
        raise SettingsError(f"pooling must be 'max' or 'avg', not {pooling!r}.")
    return pooling


def validate_steps(steps) -> int:
    """A whole number of optimiser steps from 1 to :data:`MAX_STEPS`."""
    return validate_whole_number(steps, "steps", 1, MAX_STEPS)


def validate_size(size) -> int:
    """A longer side in pixels: a whole number from 1 to :data:`MAX_SIDE`."""
    if not _is_int(size) or not 1 <= size <= MAX_SIDE:
        raise SettingsError(f"size must be a whole number of pixels from 1 to {MAX_SIDE}, "
                            f"not {size!r}.")
    return int(size)


def validate_learning_rate(lr) -> float:
    """A positive, finite learning rate that float32 can hold."""
    if not _is_number(lr) or not math.isfinite(lr) or not 0 < lr <= FLOAT32_MAX:
        raise SettingsError(f"The learning rate must be a positive number up to "
                            f"{FLOAT32_MAX:.3g}, not {lr!r}.")
    return float(lr)


def validate_loss_weight(weight, name: str):
    """A loss weight (α, β, the TV weight): a number ≥ 0 up to :data:`FLOAT32_MAX`, or an
    (N,) tensor of them. Returned unchanged."""
    if isinstance(weight, torch.Tensor):
        values = weight.detach()
        ok = values.dim() <= 1 and bool(torch.isfinite(values).all()) and \
            bool((values >= 0).all()) and bool((values <= FLOAT32_MAX).all())
    else:
        ok = _is_number(weight) and math.isfinite(weight) and 0 <= weight <= FLOAT32_MAX
    if not ok:
        raise SettingsError(f"{name} must be a number from 0 to {FLOAT32_MAX:.3g} (or a 1-D "
                            f"tensor of them), not {weight!r}.")
    return weight


def validate_seed(seed) -> int:
    """A seed for the white noise: a whole number from 0 to 2⁶⁴ − 1."""
    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise SettingsError(f"seed must be a whole number from 0 to 2**64 - 1, not {seed!r}.")
    return int(seed)


def validate_image(image, name: str = "image", *, batch: int | None = 1,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """An image batch as the package computes with it: (N, 3, H, W) ``dtype`` in [0, 1].

    Accepted and converted: a Pillow image (any mode, as :func:`~nstyle_helpers.images.load_image`
    converts it), a (3, H, W) tensor (a batch of one), a uint8 tensor (0..255 ÷ 255), a
    float32 or float64 tensor (to ``dtype``, the extractor's: float32 unless you built a
    float64 one), and a non-contiguous tensor (made contiguous: L-BFGS needs flat views of
    its parameters). Refused with one sentence: anything else (a NumPy array, a list),
    another dtype, another shape, not ``batch`` images (``None``: any number), NaN or
    values outside [0, 1].
    """
    if isinstance(image, Image.Image):
        from .images import pil_to_tensor  # images imports this module

        image = pil_to_tensor(image)
    if isinstance(image, np.ndarray):
        raise ImageError(f"{name} is a NumPy array {image.shape}; pass a tensor, e.g. "
                         "torch.from_numpy(array).permute(2, 0, 1)[None] / 255 for an (H, W, 3) "
                         "uint8 array, or load the file with load_image.")
    if not isinstance(image, torch.Tensor):
        raise ImageError(f"{name} is a {type(image).__name__}; pass an (N, 3, H, W) tensor "
                         "in [0, 1], e.g. from load_image.")
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4 or image.shape[1] != 3:
        raise ImageError(f"{name} has shape {tuple(image.shape)}; pass an (N, 3, H, W) RGB "
                         "batch, e.g. load_image(path) (1, 3, H, W).")
    if batch is not None and image.shape[0] != batch:
        raise ImageError(f"{name} holds {image.shape[0]} images; pass {batch}, e.g. "
                         f"{name}[:1].")
    if image.numel() == 0:
        raise ImageError(f"{name} has shape {tuple(image.shape)}, no pixels; pass an image at "
                         "least 1 pixel high and wide.")
    if image.dtype == torch.uint8:
        image = image.float() / 255.0
    if image.dtype not in (torch.float32, torch.float64):
        raise ImageError(f"{name} is {str(image.dtype).replace('torch.', '')}; pass float32 "
                         "values in [0, 1], e.g. image.float().")
    low, high = float(image.detach().min()), float(image.detach().max())
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ImageError(f"{name} contains NaN or infinite values; pass pixel values in [0, 1].")
    if low < 0.0 or high > 1.0:
        hint = " (it looks like 0..255: divide by 255)" if high > 1.5 else ""
        raise ImageError(f"{name} has values from {low:.4g} to {high:.4g}, outside [0, 1]"
                         f"{hint}; pass pixel values in [0, 1], e.g. image.clamp(0, 1).")
    return image.to(dtype).contiguous()


def extractor_dtype(extractor) -> torch.dtype:
    """The dtype ``extractor`` computes in (float32 for ``None``: what the package builds)."""
    parameter = next(extractor.parameters(), None) if extractor is not None else None
    return parameter.dtype if parameter is not None else torch.float32


def validate_same_device(reference: torch.Tensor, **others: torch.Tensor | None) -> None:
    """Every tensor in ``others`` is on ``reference``'s device (the content image's)."""
    for name, tensor in others.items():
        if tensor is not None and tensor.device != reference.device:
            raise SettingsError(f"{name} is on {tensor.device} but the content image is on "
                                f"{reference.device}; move it with .to({str(reference.device)!r}).")


# --------------------------------------------------------------------------------------------
# Memory: refuse a run that cannot fit before it starts, with the size that does fit.

#: Peak bytes of a forward and backward pass per value of the network's module outputs
#: (conv and ReLU outputs counted separately, plus the input). Calibrated on the CPU: a
#: 2048 × 1363 px run through relu5_1 peaked at 8.2 GiB, 5.2 bytes per value (float32 values,
#: what autograd keeps for the backward pass, gradient buffers); 6 leaves a margin.
_BYTES_PER_VALUE = 6


def estimated_memory(layers, height: int, width: int, batch: int = 1) -> int:
    """Approximate peak memory in bytes of one loss evaluation (forward + backward) of a
    batch of ``batch`` H×W images through VGG19 up to the deepest of ``layers``."""
    from .features import VGG19_LAYERS, feature_shape, validate_layer_names

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
