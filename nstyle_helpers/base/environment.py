"""Every environment variable the package reads, in one place.

==========================  ====================================================================
``NSTYLE_WEIGHTS``          ``imagenet`` (default: torchvision's download), ``random`` (tests
                            only, with a warning) or the path of a VGG19 state dict file
``NSTYLE_DEVICE``           ``auto`` (default: CUDA, then MPS, then CPU), ``cpu``, ``cuda``,
                            ``cuda:N`` or ``mps``
``NSTYLE_QUICK``            ``1``: quick mode, tiny images and a few steps (tests, CI)
``NSTYLE_PRECISION``        ``auto`` (default: bfloat16 on a recent NVIDIA GPU, float32
                            elsewhere), ``float32``, ``bfloat16`` or ``float16``
``NSTYLE_WINOGRAD``         ``1``: Winograd convolutions through NNPACK on a CPU (opt-in, see
                            :mod:`nstyle_helpers.accel.winograd`); default off
``NSTYLE_IMAGE_DIR``        where the example images are cached (default: the repository's
                            ``images/``; an installed package: :func:`user_cache_dir`)
``XDG_CACHE_HOME``          Linux's per-user cache folder (default ``~/.cache``); on Windows
``LOCALAPPDATA``            ``LOCALAPPDATA`` plays that part (:func:`user_cache_dir`)
==========================  ====================================================================

The variables are read when a function needs them, never at import, so a notebook or a test
can set them first. ``TQDM_DISABLE`` (tqdm's own) is honoured by every progress bar
(:func:`progress_bar`): as tqdm documents, any non-empty value, even ``0``, turns bars off.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tqdm.auto import tqdm

__all__ = ["WEIGHTS_ENV", "DEVICE_ENV", "QUICK_ENV", "PRECISION_ENV", "WINOGRAD_ENV",
           "IMAGE_DIR_ENV", "weights_setting", "device_setting", "quick_setting",
           "precision_setting", "winograd_setting", "image_dir_setting", "user_cache_dir",
           "progress_bar"]

WEIGHTS_ENV = "NSTYLE_WEIGHTS"
DEVICE_ENV = "NSTYLE_DEVICE"
QUICK_ENV = "NSTYLE_QUICK"
PRECISION_ENV = "NSTYLE_PRECISION"
WINOGRAD_ENV = "NSTYLE_WINOGRAD"
IMAGE_DIR_ENV = "NSTYLE_IMAGE_DIR"
TQDM_DISABLE_ENV = "TQDM_DISABLE"  # tqdm's own

_FALSE = ("", "0", "false", "no", "n", "off")


def _text(name: str) -> str:
    return os.environ.get(name, "").strip()


def _switch(name: str) -> bool:
    return _text(name).lower() not in _FALSE


def weights_setting() -> str:
    """``$NSTYLE_WEIGHTS`` as given (``""`` when unset)."""
    return _text(WEIGHTS_ENV)


def device_setting() -> str:
    """``$NSTYLE_DEVICE``, lower-cased (``""`` when unset)."""
    return _text(DEVICE_ENV).lower()


def quick_setting() -> bool:
    """True when ``$NSTYLE_QUICK`` is set, except to ``""``, ``0``, ``false``, ``no``, ``off``."""
    return _switch(QUICK_ENV)


def precision_setting() -> str:
    """``$NSTYLE_PRECISION``, lower-cased (``""`` when unset)."""
    return _text(PRECISION_ENV).lower()


def winograd_setting() -> bool:
    """True when ``$NSTYLE_WINOGRAD`` asks for Winograd convolutions (``1``, ``yes``, ...)."""
    return _switch(WINOGRAD_ENV)


def image_dir_setting() -> str:
    """``$NSTYLE_IMAGE_DIR`` (``""`` when unset)."""
    return _text(IMAGE_DIR_ENV)


def user_cache_dir() -> Path:
    """The platform's per-user cache folder for nstyle: ``$XDG_CACHE_HOME/nstyle`` (default
    ``~/.cache/nstyle``) on Linux, ``~/Library/Caches/nstyle`` on macOS,
    ``%LOCALAPPDATA%\\nstyle\\Cache`` on Windows."""
    if sys.platform == "win32":
        local = _text("LOCALAPPDATA")
        return (Path(local) if local else Path.home() / "AppData" / "Local") / "nstyle" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "nstyle"
    return Path(_text("XDG_CACHE_HOME") or Path.home() / ".cache") / "nstyle"


def progress_bar(*, enabled: bool, **options) -> tqdm:
    """A ``tqdm.auto`` bar (a widget in Jupyter, text in a terminal) with ``options``.

    ``enabled=False`` hides it, and so does ``$TQDM_DISABLE`` with any non-empty value, as
    tqdm casts it (with ``bool``). Read here, when the bar is made: tqdm itself reads it
    once, at import, and an explicit ``disable=False`` would override it.
    """
    return tqdm(disable=not enabled or bool(os.environ.get(TQDM_DISABLE_ENV)), **options)
