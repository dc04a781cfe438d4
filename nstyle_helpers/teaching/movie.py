"""The optimisation as a movie: the snapshots of a run as an animated GIF.

``optimize(..., snapshot_every=k)`` keeps the image every k steps
(:attr:`~nstyle_helpers.core.optimize.OptimizationResult.snapshots`: ``[(step, (N, 3, H, W))]``).
Played one after the other they show the painting happen. We write GIFs with Pillow, which
the package already needs: no video encoder (ffmpeg) to install. A GIF has at most 256
colours per frame; Pillow picks the best 256 for each frame, which is plenty for watching.

Pillow merges consecutive frames that are identical (a run that has stopped changing) into
one frame shown for their added durations, so such a movie looks the same but has fewer
frames than snapshots.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

from ..base.errors import OutputError, SettingsError
from ..base.validation import validate_whole_number
from ..core.images import validate_writable_path, resize, to_pil, write_atomically

__all__ = ["MOVIE_FORMATS", "FRAME_MS", "HOLD_MS", "MOVIE_FRAMES", "default_snapshot_every",
           "validate_snapshot_every", "ending_with_result", "movie_frames", "gif_bytes",
           "validate_movie_path", "write_movie"]

#: Movie formats we write, by file extension.
MOVIE_FORMATS = (".gif",)
#: How long each frame shows, in milliseconds (10 frames a second).
FRAME_MS = 100
#: How long the last frame (the result) stays before the movie starts again.
HOLD_MS = 1500

#: About how many frames a movie gets by default (:func:`default_snapshot_every`).
MOVIE_FRAMES = 20

Snapshots = Sequence[tuple[int, torch.Tensor]]


def default_snapshot_every(steps: int) -> int:
    """Keep a snapshot every this many steps for a movie of about :data:`MOVIE_FRAMES` frames
    (plus the starting image): ``steps // 20``, at least 1.

    >>> default_snapshot_every(300), default_snapshot_every(5)
    (15, 1)
    """
    return max(1, steps // MOVIE_FRAMES)


def validate_snapshot_every(every) -> int:
    """A movie's frame spacing in steps: a whole number ≥ 1 (each frame is a copy of the
    image kept in memory until the run ends)."""
    return validate_whole_number(every, "snapshot_every", 1)


def ending_with_result(snapshots: Snapshots, step: int, image: torch.Tensor) -> Snapshots:
    """``snapshots`` whose last frame is ``image``, the (N, 3, H, W) result of a run that
    stopped after ``step`` steps: the picture the run wrote (its best), which the snapshots
    every k steps miss when the run stops between two of them or is interrupted."""
    final = image.detach().clamp(0, 1).cpu()
    if snapshots and snapshots[-1][0] == step and torch.equal(snapshots[-1][1], final):
        return list(snapshots)
    return [*snapshots, (step, final)]


def movie_frames(snapshots: Snapshots, index: int = 0, *, size: int | None = None,
                 max_frames: int | None = None) -> list[Image.Image]:
    """The snapshots of batch item ``index`` as RGB Pillow images, in step order.

    Args:
        snapshots: ``result.snapshots``: ``[(step, (N, 3, H, W) tensor in [0, 1]), ...]``.
        index: which image of the batch to follow.
        size: shrink (or enlarge) every frame to this longer side in pixels.
        max_frames: keep at most this many snapshots, evenly spread, always with the first
            and the last (default: all).

    Raises:
        SettingsError: there are no snapshots, ``index`` is outside the batch, or
            ``max_frames`` is below 2.
    """
    if not snapshots:
        raise SettingsError("there are no snapshots; run with snapshot_every=k (k ≥ 1).")
    batch = snapshots[0][1].shape[0]
    if not 0 <= index < batch:
        raise SettingsError(f"index {index} is outside the batch of {batch} images.")
    chosen = list(snapshots)
    if max_frames is not None and len(chosen) > max_frames:
        if max_frames < 2:
            raise SettingsError(f"max_frames must be at least 2 (the first and the last), "
                             f"not {max_frames}.")
        last = len(chosen) - 1
        picks = sorted({round(k * last / (max_frames - 1)) for k in range(max_frames)})
        chosen = [chosen[k] for k in picks]
    frames = []
    for _, images in chosen:
        image = images[index : index + 1].detach().float().cpu()  # (1, 3, H, W)
        frames.append(to_pil(resize(image, size) if size else image))
    return frames


def gif_bytes(snapshots: Snapshots, index: int = 0, *, size: int | None = None,
              max_frames: int | None = None, frame_ms: int = FRAME_MS,
              hold_ms: int = HOLD_MS) -> bytes:
    """The snapshots as an animated GIF (the bytes of the file), looping forever.

    Each frame shows for ``frame_ms`` milliseconds, the last for ``hold_ms``; ``index``,
    ``size`` and ``max_frames`` are as for :func:`movie_frames`.

    Example:
        >>> snapshots = [(step, torch.full((1, 3, 4, 6), step / 10)) for step in (0, 5, 10)]
        >>> gif = gif_bytes(snapshots)
        >>> gif[:6], Image.open(io.BytesIO(gif)).n_frames
        (b'GIF89a', 3)
    """
    frames = movie_frames(snapshots, index, size=size, max_frames=max_frames)
    buffer = io.BytesIO()
    _save_gif(frames, buffer, frame_ms, hold_ms)
    return buffer.getvalue()


def _save_gif(frames: list[Image.Image], file, frame_ms: int, hold_ms: int) -> None:
    durations = [frame_ms] * (len(frames) - 1) + [hold_ms]
    frames[0].save(file, format="GIF", save_all=True, append_images=frames[1:],
                   duration=durations, loop=0)


def validate_movie_path(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Check, before the run, that the movie can be written to ``path``.

    Raises:
        OutputError: the extension is not a movie format (:data:`MOVIE_FORMATS`), the folder
            is missing or read-only, the path is a folder, or the file exists and
            ``overwrite`` is false (:class:`~nstyle_helpers.base.errors.OutputExistsError`).
    """
    path = Path(path)
    if path.suffix.lower() not in MOVIE_FORMATS:
        raise OutputError(f"Cannot write the movie {path}: unknown movie extension "
                          f"{path.suffix or '(none)'}; use .gif.")
    return validate_writable_path(path, overwrite=overwrite)


def write_movie(snapshots: Snapshots, path: str | os.PathLike, *, index: int = 0,
                overwrite: bool = False, frame_ms: int = FRAME_MS,
                hold_ms: int = HOLD_MS) -> Path:
    """Write the snapshots of batch item ``index`` to ``path`` as an animated GIF.

    Written atomically, as :func:`~nstyle_helpers.core.images.save_image` writes images: to a
    temporary file beside ``path``, then moved into place, so ``path`` never holds half a
    movie; an existing file is only replaced when ``overwrite`` is true. One frame per
    snapshot, at the snapshots' size (see the module docstring for identical frames).
    Returns the path written.

    Raises:
        OutputError: as :func:`validate_movie_path`, or the write failed.
        SettingsError: there are no snapshots.
    """
    path = validate_movie_path(path, overwrite=overwrite)
    frames = movie_frames(snapshots, index)
    return write_atomically(path, lambda file: _save_gif(frames, file, frame_ms, hold_ms),
                            overwrite=overwrite)
