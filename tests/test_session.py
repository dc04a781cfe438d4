"""session.py: the session summary says out loud when random weights or quick mode are on."""

from __future__ import annotations

import pytest
import torch

from nstyle_helpers import describe_session
from nstyle_helpers.teaching.session import pretrained_weights_cached

CPU = torch.device("cpu")


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_random_weights_and_quick_mode_are_announced(monkeypatch):
    """With random weights and NSTYLE_QUICK=1 the text says RANDOM and QUICK MODE."""
    monkeypatch.setenv("NSTYLE_QUICK", "1")
    text = describe_session(CPU, weights="random")
    assert "RANDOM" in text and "NOT" in text
    assert "QUICK MODE" in text
    assert "device: cpu" in text


def test_environment_random_weights_are_announced(monkeypatch, empty_torch_home):
    """NSTYLE_WEIGHTS=random is picked up when no weights argument is given."""
    monkeypatch.setenv("NSTYLE_WEIGHTS", "random")
    assert "RANDOM" in describe_session(CPU)
    assert "RANDOM" not in describe_session(CPU, weights="imagenet")


@pytest.mark.parametrize("quick", [None, "0", "false", "no", ""])
def test_nothing_announced_when_off(monkeypatch, empty_torch_home, quick):
    """Pretrained weights and quick mode off: neither RANDOM nor QUICK MODE appears."""
    if quick is None:
        monkeypatch.delenv("NSTYLE_QUICK", raising=False)
    else:
        monkeypatch.setenv("NSTYLE_QUICK", quick)
    text = describe_session(CPU, weights="imagenet")
    assert "RANDOM" not in text
    assert "QUICK" not in text
    assert "pretrained VGG19" in text


def test_pretrained_cache_state_is_reported(empty_torch_home):
    """Without the cached file the text says they will be downloaded; with it, "cached"."""
    assert not pretrained_weights_cached()
    assert "not cached yet" in describe_session(CPU, weights="imagenet")
    empty_torch_home.mkdir(parents=True)
    (empty_torch_home / "vgg19-dcbb9e9d.pth").write_bytes(b"placeholder")
    assert pretrained_weights_cached()
    text = describe_session(CPU, weights="imagenet")
    assert "(cached)" in text and "not cached" not in text


def test_weights_file_is_named(tmp_path, monkeypatch):
    """A weights path is shown as such, without RANDOM."""
    monkeypatch.delenv("NSTYLE_QUICK", raising=False)
    text = describe_session(CPU, weights=str(tmp_path / "mine.pth"))
    assert str(tmp_path / "mine.pth") in text and "RANDOM" not in text


def test_cpu_is_said_to_be_slow_and_gpu_is_not():
    """The CPU line warns that runs take minutes; a CUDA device line does not."""
    assert "no GPU found" in describe_session(CPU, weights="random")
    assert "no GPU found" not in describe_session(torch.device("cuda"), weights="random")


def test_precision_and_convolutions_are_said(monkeypatch):
    """Both change the numbers a run computes, so the session says which are in use."""
    monkeypatch.delenv("NSTYLE_WINOGRAD", raising=False)
    monkeypatch.delenv("NSTYLE_PRECISION", raising=False)
    assert "precision: float32; convolutions: PyTorch's" in describe_session(CPU, "random")
    monkeypatch.setenv("NSTYLE_WINOGRAD", "1")
    assert "convolutions: Winograd (NNPACK)" in describe_session(CPU, "random")
    monkeypatch.setenv("NSTYLE_PRECISION", "bfloat16")  # NNPACK computes in float32 only
    assert "precision: bfloat16; convolutions: PyTorch's" in describe_session(CPU, "random")
