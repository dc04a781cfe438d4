"""devices.py: choosing CPU / CUDA / MPS from an argument, $NSTYLE_DEVICE, or availability.

Availability is monkeypatched where a test depends on it, so the tests mean the same on a
machine with a GPU as on the GPU-less development machines.
"""

from __future__ import annotations

import pytest
import torch

from nstyle_helpers.base import devices
from nstyle_helpers.base.devices import resolve_device
from nstyle_helpers.base.errors import DeviceError


@pytest.fixture
def no_gpu(monkeypatch):
    """Neither CUDA nor MPS is available, whatever this machine has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(devices, "mps_available", lambda: False)
    monkeypatch.delenv("NSTYLE_DEVICE", raising=False)


def test_cpu_by_name_or_device():
    """"cpu", " CPU " and torch.device("cpu") give the CPU."""
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_auto_without_gpu_is_cpu(no_gpu):
    """"auto" and no choice at all give the CPU when there is no GPU."""
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")


def test_auto_prefers_cuda_then_mps(no_gpu, monkeypatch):
    """"auto" picks CUDA when available, else MPS, else the CPU."""
    monkeypatch.setattr(devices, "mps_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_auto_on_this_machine_matches_what_torch_sees(monkeypatch):
    """Unpatched, "auto" gives CUDA exactly when torch sees a CUDA GPU (CPU here)."""
    monkeypatch.delenv("NSTYLE_DEVICE", raising=False)
    device = resolve_device("auto")
    assert (device.type == "cuda") == torch.cuda.is_available()
    if not torch.cuda.is_available() and not devices.mps_available():
        assert device == torch.device("cpu")


def test_env_variable_is_respected_and_argument_wins(no_gpu, monkeypatch):
    """$NSTYLE_DEVICE is used when no argument is given; an argument overrides it."""
    monkeypatch.setenv("NSTYLE_DEVICE", "cpu")
    assert resolve_device() == torch.device("cpu")
    monkeypatch.setenv("NSTYLE_DEVICE", "cuda")
    with pytest.raises(DeviceError, match="no usable CUDA GPU"):
        resolve_device()  # the environment's choice is honoured, not silently replaced
    assert resolve_device("cpu") == torch.device("cpu")  # the argument wins
    monkeypatch.setenv("NSTYLE_DEVICE", "tpu")
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu2", "tpu", "cuda-1", "banana"])
def test_unknown_device_names(name):
    """Unknown names raise DeviceError naming the device and the valid choices."""
    with pytest.raises(DeviceError) as info:
        resolve_device(name)
    message = str(info.value)
    assert repr(name) in message
    assert "auto, cpu, cuda, cuda:N or mps" in message


def test_unsupported_torch_device_type():
    """A device torch knows but the package does not support (meta) raises DeviceError."""
    with pytest.raises(DeviceError, match="Unsupported device 'meta'"):
        resolve_device("meta")


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "CUDA"])
def test_unavailable_cuda(no_gpu, name):
    """CUDA on a machine without a usable CUDA GPU raises DeviceError suggesting --device cpu."""
    with pytest.raises(DeviceError, match="no usable CUDA GPU") as info:
        resolve_device(name)
    assert "--device cpu" in str(info.value)


def test_cuda_index_beyond_the_gpus(monkeypatch):
    """cuda:3 on a one-GPU machine raises DeviceError saying how many GPUs there are."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(DeviceError, match="1 CUDA GPU"):
        resolve_device("cuda:3")


def test_unavailable_mps(no_gpu):
    """MPS where Apple MPS is not available raises DeviceError."""
    with pytest.raises(DeviceError, match="MPS is not available"):
        resolve_device("mps")
