"""The exceptions the package raises for bad input.

Every problem a user can cause (a wrong path, a file that is not an image, an unknown
layer name, a diverging run, ...) raises a subclass of :class:`NstyleError` whose message
is one sentence saying what is wrong and what to do. The command line prints that sentence
and exits with status 2; a notebook shows it instead of a traceback from deep inside torch.
"""

from __future__ import annotations

__all__ = [
    "NstyleError",
    "SettingsError",
    "ImageError",
    "ImageTooSmallError",
    "LayerError",
    "WeightsError",
    "DeviceError",
    "OutputError",
    "OutputExistsError",
    "DivergedError",
    "MaskError",
    "AssignmentError",
]

#: The command line's name: its messages begin with it.
PROG = "nstyle"


def nothing_written(how: str) -> str:
    """The one line the command line prints when a run stops (``how``: "interrupted", ...)
    before it wrote anything. Here, free of torch, so that it can be said while torch loads."""
    return f"{PROG}: {how}; nothing was written"


class NstyleError(ValueError):
    """Base class: bad input or a failed run, with a message meant for the user."""


class SettingsError(NstyleError):
    """A setting out of range: a size, a number of steps or a learning rate, say."""


class ImageError(NstyleError):
    """An image file is missing, unreadable, truncated, too large, or of an odd kind."""


class ImageTooSmallError(ImageError):
    """An image is too small for the deepest requested VGG19 layer."""


class LayerError(NstyleError):
    """An unknown VGG19 layer name or an unusable layer set."""


class WeightsError(NstyleError):
    """Pretrained weights could not be downloaded or a weights file is not a VGG19 state dict."""


class DeviceError(NstyleError):
    """An unknown or unavailable device was requested."""


class OutputError(NstyleError):
    """The output file cannot be written (missing or read-only folder, or it exists)."""


class OutputExistsError(OutputError):
    """The output file exists and overwriting was not asked for; ``path`` is that file."""

    def __init__(self, path, *, option: str = "overwrite=True"):
        super().__init__(f"{path} already exists; choose another output path or pass "
                         f"{option} to replace it.")
        self.path = path


class DivergedError(NstyleError):
    """The loss became NaN or infinite.

    ``result`` holds the run so far (an :class:`~nstyle_helpers.core.optimize.OptimizationResult`)
    with the best image seen before the loss diverged, so no work is lost. ``cause`` is the
    sentence on what went wrong, without the pointer to ``error.result`` (the command line
    saves that image instead).
    """

    def __init__(self, cause: str, result=None):
        super().__init__(f"{cause} The best image so far is kept in error.result.image.")
        self.cause = cause
        self.result = result


class MaskError(NstyleError):
    """Region masks for spatial style control are unusable: wrong size, an empty region,
    values outside [0, 1], or not one region per style."""


class AssignmentError(NstyleError):
    """A solution notebook breaks nbgrader's rules (a marker in the wrong cell, ...)."""
