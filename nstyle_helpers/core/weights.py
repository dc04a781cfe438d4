"""Where VGG19's weights come from: torchvision's download, a local file, or random.

Three sources, chosen by an argument or ``$NSTYLE_WEIGHTS`` (the argument wins):

- ``"imagenet"`` (default): torchvision's ``VGG19_Weights.IMAGENET1K_V1``, downloaded once by
  torchvision into its cache (``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth``).
- a path: a torchvision VGG19 state dict, either the whole network (keys ``features.0.weight``,
  ..., ``classifier...``) or only ``features`` (keys ``0.weight``, ...). It is read with
  ``torch.load(weights_only=True)``, which never unpickles arbitrary objects.
- ``"random"``: torchvision's random initialisation, from a fixed seed. Only on request,
  and with a warning, because the pictures will not look like style transfer. Tests and CI
  use it because pretrained weights cannot be downloaded there.

Nothing falls back silently: a failed download raises an error that says how to work offline.
"""

from __future__ import annotations

import functools
import os
import sys
import pickle
import urllib.error
import warnings
from pathlib import Path

import torch

from ..base.errors import WeightsError
from ..base.environment import WEIGHTS_ENV, weights_setting

__all__ = ["WEIGHTS_ENV", "RandomWeightsWarning", "resolve_weights_source",
           "load_features_state_dict", "clear_cache"]

#: Environment variable choosing the weights: ``imagenet``, ``random`` or a file path.

_OFFLINE_HELP = (
    "To work offline, copy vgg19-dcbb9e9d.pth (from "
    "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth) into {cache}, or pass "
    "--weights PATH (weights=PATH) to a VGG19 state dict, or set NSTYLE_WEIGHTS=random for a "
    "quick test with random weights (the pictures will not look like style transfer)."
)


class RandomWeightsWarning(UserWarning):
    """Warned whenever VGG19 runs with random weights."""


def _warn_at_caller(message: str, category: type[Warning]) -> None:
    # Point the warning at the first frame outside this package (the student's cell or
    # script), not at the package line that happened to build VGG19.
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def resolve_weights_source(weights: str | os.PathLike | None = None) -> str | Path:
    """Return ``"imagenet"``, ``"random"`` or a :class:`Path`: argument, else env, else imagenet."""
    source = weights if weights is not None else weights_setting() or "imagenet"
    if isinstance(source, str) and source.strip().lower() in ("imagenet", "random"):
        return source.strip().lower()
    return Path(source)


def load_features_state_dict(source: str | Path, conv_indices: list[int], *,
                             progress: bool = True) -> dict[str, torch.Tensor] | None:
    """Load the weights of VGG19's ``features`` as ``{"0.weight": ..., "0.bias": ...}``.

    Only the convolutions in ``conv_indices`` (indices into ``features``) are returned,
    because the extractor stops after the deepest requested layer. Returns ``None`` for
    ``"random"`` (after warning), so the caller keeps its random initialisation.

    Raises:
        WeightsError: the download failed, or the file is missing or not a VGG19 state dict.
    """
    if source == "random":
        _warn_at_caller("VGG19 is running with RANDOM weights (NSTYLE_WEIGHTS=random or "
                        "weights='random'): fine for tests, but the pictures will not look "
                        "like style transfer.", RandomWeightsWarning)
        return None
    if source == "imagenet":
        full = _imagenet_state_dict(torch.hub.get_dir(), progress=progress)
        label = "torchvision's VGG19 IMAGENET1K_V1 weights"
    else:
        path = Path(source)
        full = _file_state_dict(str(path.resolve()), path.stat().st_mtime_ns if path.is_file() else 0)
        label = str(path)
    return _select_features(full, conv_indices, label)


def clear_cache() -> None:
    """Forget the state dicts kept in memory (torchvision's and the last two files read), so
    that the next extractor reads them again: after replacing a file within the same second,
    or in tests that must not see another test's weights."""
    _imagenet_state_dict.cache_clear()
    _file_state_dict.cache_clear()


@functools.lru_cache(maxsize=1)
def _imagenet_state_dict(hub_dir: str, *, progress: bool) -> dict[str, torch.Tensor]:
    # Cached per torch hub folder ($TORCH_HOME may change, in tests for one). A different
    # `progress` reads the file again; notebooks share one extractor, so that is rare.
    # Imported here: torchvision's weight enums are only needed on this path.
    from torchvision.models import VGG19_Weights

    cache = Path(hub_dir) / "checkpoints"
    try:
        with warnings.catch_warnings():
            # As for a weights file: torch warns about a raw pickle in the cache on top of
            # the error, and the sentence below says it all, in one line.
            warnings.simplefilter("ignore")
            return VGG19_Weights.IMAGENET1K_V1.get_state_dict(
                progress=progress, check_hash=True, weights_only=True)
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        reason = getattr(error, "reason", None) or error
        raise WeightsError(f"Could not download the pretrained VGG19 weights ({reason}). "
                           + _OFFLINE_HELP.format(cache=cache)) from None
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as error:
        # A failed hash check, a half-downloaded or damaged cached file. An empty or non-zip
        # file (e.g. an HTML error page) makes torch.load raise EOFError / UnpicklingError,
        # whose multi-line text is replaced by its type to keep the message to one line.
        detail = error if isinstance(error, (RuntimeError, OSError)) else type(error).__name__
        raise WeightsError(f"The pretrained VGG19 weights in {cache} could not be loaded "
                           f"({detail}); delete the file and try again. "
                           + _OFFLINE_HELP.format(cache=cache)) from None


@functools.lru_cache(maxsize=2)
def _file_state_dict(path: str, _mtime_ns: int) -> dict[str, torch.Tensor]:
    # _mtime_ns is part of the cache key only, so an edited file is read again.
    if not os.path.exists(path):
        raise WeightsError(f"No such weights file: {path}; check the path, or leave --weights "
                           "out to use torchvision's pretrained weights.")
    if os.path.isdir(path):
        raise WeightsError(f"{path} is a folder; --weights needs a VGG19 state dict file (.pth).")
    try:
        with warnings.catch_warnings():
            # torch warns about raw pickles (not torch.save files) on top of the error: the
            # sentence below says it all, in one line.
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many types for a non-checkpoint file
        raise WeightsError(f"{path} is not a PyTorch state dict that can be loaded safely "
                           f"({type(error).__name__}); give a torchvision VGG19 state dict "
                           "saved with torch.save(model.state_dict(), path).") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{path} holds a {type(state).__name__}, not a state dict; save it "
                           "with torch.save(model.state_dict(), path).")
    return state


def _select_features(state: dict, conv_indices: list[int], label: str) -> dict[str, torch.Tensor]:
    # Accept both the full network ("features.0.weight") and features only ("0.weight").
    prefix = "features." if any(str(k).startswith("features.") for k in state) else ""
    selected = {}
    for index in conv_indices:
        for kind in ("weight", "bias"):
            key = f"{prefix}{index}.{kind}"
            value = state.get(key)
            if key in state and not isinstance(value, torch.Tensor):
                raise WeightsError(f"{label} is not a VGG19 state dict: its {key!r} is a "
                                   f"{type(value).__name__}, not a tensor.")
            if value is None:
                first = ", ".join(str(k) for k in list(state)[:3]) or "none"
                raise WeightsError(f"{label} is not a VGG19 state dict: it has no {key!r} "
                                   f"(its first keys are {first}).")
            selected[f"{index}.{kind}"] = value
    return selected
