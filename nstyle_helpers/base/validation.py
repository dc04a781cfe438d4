"""Input validation shared by the library and the command line, so they cannot disagree.

Each ``validate_*`` function takes what a user gave, returns it in the form the package
uses, or raises an :class:`~nstyle_helpers.base.errors.NstyleError` whose message is one sentence
saying what was given and what to give instead. The command line's option parsers call
the same functions (:mod:`nstyle_helpers.cli`); the library's entry points call them at
their boundary, before anything is computed.

(*Grading* a student's function is another thing, done by :mod:`nstyle_helpers.classroom.checks`.)
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .errors import SettingsError

__all__ = ["FLOAT32_MAX", "MAX_SIDE", "MAX_SEED", "OPTIMIZERS", "POOLINGS",
           "validate_optimizer", "validate_pooling", "validate_steps", "validate_size",
           "validate_learning_rate", "validate_loss_weight", "validate_seed",
           "extractor_dtype", "validate_same_device"]

#: Largest finite float32 (about 3.4e38): loss weights and learning rates above it overflow.
FLOAT32_MAX = float(torch.finfo(torch.float32).max)

#: Longest image side accepted, in pixels: the 64-megapixel limit of
#: :data:`~nstyle_helpers.core.images.MAX_IMAGE_PIXELS` holds 16000 × 4000 at most at 4:1.
MAX_SIDE = 16_000
#: The most optimiser steps a run accepts: the paper's runs take hundreds to a few thousand;
#: a million on a GPU is days. A typo like 10**20 should not run for ever.
MAX_STEPS = 1_000_000

#: Largest seed: PyTorch's generators take 64-bit unsigned seeds.
MAX_SEED = 2**64 - 1

#: The optimisers :func:`~nstyle_helpers.core.optimize.optimize` knows.
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
