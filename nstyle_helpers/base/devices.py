"""Choosing the device: CUDA, then Apple MPS, then CPU; overridable.

There is no module-level device global: the rest of the package takes the device from the
tensors it is given. Only the entry points (command line, notebooks) call
:func:`resolve_device`.
"""

from __future__ import annotations

import torch

from .errors import DeviceError
from .environment import DEVICE_ENV, device_setting

__all__ = ["DEVICE_ENV", "mps_available", "resolve_device"]


def mps_available() -> bool:
    """Whether torch sees an Apple GPU (MPS): the fallback after CUDA."""
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """Return the device to compute on.

    Order: the ``name`` argument, then ``$NSTYLE_DEVICE``, then the first available of
    CUDA, Apple MPS and CPU. Accepted names: ``"auto"``, ``"cpu"``, ``"cuda"``,
    ``"cuda:N"`` and ``"mps"``.

    Raises:
        DeviceError: the name is unknown, or names a device this machine does not have.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if isinstance(name, torch.device):
        name = str(name)
    name = (name or device_setting() or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise DeviceError(
            f"Unknown device {name!r}; choose one of auto, cpu, cuda, cuda:N or mps."
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"Device {name!r} was requested but this machine has no usable CUDA GPU; "
                "use --device cpu (or unset NSTYLE_DEVICE)."
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(
                f"Device {name!r} does not exist: this machine has "
                f"{torch.cuda.device_count()} CUDA GPU(s), numbered from 0."
            )
    elif device.type == "mps":
        if not mps_available():
            raise DeviceError(
                f"Device {name!r} was requested but Apple MPS is not available here; "
                "use --device cpu."
            )
    elif device.type != "cpu":
        raise DeviceError(
            f"Unsupported device {name!r}; choose one of auto, cpu, cuda, cuda:N or mps."
        )
    return device
