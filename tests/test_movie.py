"""The optimisation as a movie: GIF frames, the atomic never-overwrite writer, ``--movie``.

The command-line tests run ``nstyle transfer|reconstruct --movie PATH.gif [--snapshot-every N]``
with random weights on 32-pixel images.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

import nstyle_helpers as nh
from helpers import FAST, assert_cli_error, cli, unchanged  # noqa: F401 (cli is a fixture)
from nstyle_helpers.teaching import movie
from nstyle_helpers.base.errors import OutputExistsError


def snapshots(count: int, height: int = 6, width: int = 8, batch: int = 1):
    """``count`` snapshots whose frames are flat greys, each a different one (exact in a GIF)."""
    return [(10 * k, torch.full((batch, 3, height, width), k / max(count - 1, 1)))
            for k in range(count)]


def gif_frames(path_or_file) -> list[np.ndarray]:
    with Image.open(path_or_file) as gif:
        assert gif.format == "GIF"
        return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(gif)]


def snapshots_shown(path: Path) -> int:
    """How many snapshots a movie shows: Pillow merges identical consecutive frames into one
    shown for their added durations, so count frame times rather than frames."""
    with Image.open(path) as gif:
        total = sum(frame.info["duration"] for frame in ImageSequence.Iterator(gif))
    return (total - movie.HOLD_MS) // movie.FRAME_MS + 1


def leftovers(folder: Path) -> list[str]:
    """Temporary files a write left behind (they start with a dot)."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


# --------------------------------------------------------------------------------------------
# Frames and GIF bytes


def test_one_frame_per_snapshot_at_the_snapshots_size(tmp_path):
    written = movie.write_movie(snapshots(5), tmp_path / "run.gif")
    frames = gif_frames(written)
    assert len(frames) == 5
    assert all(frame.shape == (6, 8, 3) for frame in frames)
    for k, frame in enumerate(frames):  # the frames are the snapshots, in order
        assert np.abs(frame.astype(int) - round(255 * k / 4)).max() <= 1


def test_the_movie_loops_and_holds_the_last_frame(tmp_path):
    path = movie.write_movie(snapshots(3), tmp_path / "run.gif", frame_ms=50, hold_ms=900)
    with Image.open(path) as gif:
        assert gif.info["loop"] == 0
        durations = [frame.info["duration"] for frame in ImageSequence.Iterator(gif)]
    assert durations == [50, 50, 900]


def test_movie_frames_follow_one_batch_item_and_can_be_resized():
    shots = [(0, torch.stack([torch.zeros(3, 6, 8), torch.ones(3, 6, 8)]))]
    (second,) = movie.movie_frames(shots, index=1, size=16)
    assert second.size == (16, 12) and second.getpixel((0, 0)) == (255, 255, 255)
    with pytest.raises(ValueError, match="index 2 is outside the batch of 2"):
        movie.movie_frames(shots, index=2)
    with pytest.raises(ValueError, match="no snapshots"):
        movie.movie_frames([])


def test_max_frames_keeps_the_first_and_the_last():
    shots = snapshots(21)
    frames = movie.movie_frames(shots, max_frames=5)
    steps = [round(np.asarray(f)[0, 0, 0] / 255 * 20) * 10 for f in frames]
    assert steps == [0, 50, 100, 150, 200]
    assert len(movie.movie_frames(shots, max_frames=100)) == 21
    with pytest.raises(ValueError, match="at least 2"):
        movie.movie_frames(shots, max_frames=1)


def test_default_snapshot_spacing_gives_about_twenty_frames():
    assert movie.default_snapshot_every(300) == 15
    assert movie.default_snapshot_every(3) == 1
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(nh.SettingsError,
                           match="snapshot_every must be a whole number 1 or more"):
            movie.validate_snapshot_every(bad)


def test_a_real_run_becomes_a_movie(tmp_path):
    target = torch.rand(1, 3, 8, 10, generator=torch.Generator().manual_seed(0))
    start = nh.white_noise(8, 10, seed=1)
    result = nh.optimize(nh.Objective(pixel_target=target), start, optimizer="adam", lr=0.1,
                         steps=6, snapshot_every=2, progress=False)
    frames = gif_frames(movie.write_movie(result.snapshots, tmp_path / "pixels.gif"))
    assert len(frames) == len(result.snapshots) == 4  # steps 0, 2, 4, 6
    assert frames[0].shape == (8, 10, 3)


# --------------------------------------------------------------------------------------------
# The path check and the atomic, never-overwrite write


@pytest.mark.parametrize("name, message", [
    ("missing/run.gif", "missing does not exist; create it first"),
    ("run.mp4", "unknown movie extension .mp4; use .gif"),
    ("run", "unknown movie extension (none)"),
])
def test_check_movie_path_refuses_in_one_sentence(tmp_path, name, message):
    with pytest.raises(nh.OutputError, match=message.replace("(", r"\(").replace(")", r"\)")) \
            as error:
        movie.validate_movie_path(tmp_path / name)
    assert str(error.value).count(". ") == 0 and "\n" not in str(error.value)


def test_an_existing_movie_is_never_replaced_without_overwrite(tmp_path):
    path = tmp_path / "run.gif"
    path.write_bytes(b"the old movie")
    with unchanged(path), pytest.raises(OutputExistsError):
        movie.validate_movie_path(path)
    with unchanged(path), pytest.raises(OutputExistsError):
        movie.write_movie(snapshots(2), path)
    movie.write_movie(snapshots(2), path, overwrite=True)
    assert len(gif_frames(path)) == 2
    assert leftovers(tmp_path) == []
    (tmp_path / "folder.gif").mkdir()
    with pytest.raises(nh.OutputError, match="it is a folder"):
        movie.validate_movie_path(tmp_path / "folder.gif")


def test_identical_snapshots_are_merged_but_keep_their_time(tmp_path):
    shots = snapshots(3) + [(30, snapshots(3)[-1][1])]  # the run stopped changing
    path = movie.write_movie(shots, tmp_path / "run.gif")
    assert len(gif_frames(path)) == 3 and snapshots_shown(path) == 4


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    def half_then_fail(frames, file, frame_ms, hold_ms):
        file.write(b"GIF89a half a movie")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(movie, "_save_gif", half_then_fail)
    with pytest.raises(nh.OutputError, match="Cannot write .*No space left on device"):
        movie.write_movie(snapshots(3), tmp_path / "run.gif")
    assert list(tmp_path.iterdir()) == []


def test_the_movie_gets_the_usual_file_mode(tmp_path):
    path = movie.write_movie(snapshots(2), tmp_path / "run.gif")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


# --------------------------------------------------------------------------------------------
# The command line: --movie PATH.gif and --snapshot-every N


def test_transfer_writes_a_movie_of_the_snapshots(cli, tmp_path):
    result = cli("transfer", "--content", "chicago", "--style", "great_wave", *FAST,
                 "--steps", "4", "--init", "noise", "--snapshot-every", "2",
                 "-o", "out.png", "--movie", "out.gif")
    assert result.code == 0, result.err
    assert "out.png and the movie out.gif" in result.out
    frames = gif_frames(tmp_path / "out.gif")
    image = np.asarray(Image.open(tmp_path / "out.png"))
    assert len(frames) == snapshots_shown(tmp_path / "out.gif") == 3  # steps 0, 2 and 4
    assert all(frame.shape == image.shape for frame in frames)
    assert leftovers(tmp_path) == []


def test_snapshot_every_defaults_to_a_twentieth_of_the_steps(cli, tmp_path):
    result = cli("reconstruct", "--image", "starry_night", "--content-layer", "relu1_2",
                 *FAST, "--steps", "40", "--movie", "run.gif")
    assert result.code == 0, result.err
    assert snapshots_shown(tmp_path / "run.gif") == 21  # steps 0, 2, ..., 40


@pytest.mark.parametrize("movie_path, fragments", [
    ("missing/out.gif", ("missing", "does not exist")),
    ("out.mp4", ("unknown movie extension .mp4", ".gif")),
])
def test_bad_movie_paths_exit_2_before_the_run(cli, tmp_path, movie_path, fragments):
    with unchanged(tmp_path / "out.png"):
        result = cli("transfer", *FAST, "-o", "out.png", "--movie", movie_path)
    assert_cli_error(result, *fragments)
    assert not (tmp_path / "outputs").exists()


def test_an_existing_movie_exits_2_and_stays(cli, tmp_path):
    (tmp_path / "out.gif").write_bytes(b"the old movie")
    with unchanged(tmp_path / "out.gif"), unchanged(tmp_path / "out.png"):
        result = cli("transfer", *FAST, "-o", "out.png", "--movie", "out.gif")
    assert_cli_error(result, "out.gif already exists", "--overwrite")
    result = cli("transfer", *FAST, "-o", "out.png", "--movie", "out.gif", "--overwrite")
    assert result.code == 0, result.err
    assert len(gif_frames(tmp_path / "out.gif")) >= 1


@pytest.mark.parametrize("value", ["0", "-3", "two", "1.5"])
def test_bad_snapshot_every_exits_2(cli, value):
    assert_cli_error(cli("transfer", *FAST, "--movie", "out.gif", "--snapshot-every", value),
                     "--snapshot-every")


def test_snapshot_every_needs_a_movie(cli, tmp_path):
    assert_cli_error(cli("transfer", *FAST, "--snapshot-every", "2"), "--snapshot-every",
                     "--movie")
    assert not (tmp_path / "outputs").exists()
