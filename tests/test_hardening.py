"""Hardening (issue 11): each case a new user hit, with the behaviour now promised.

Images at their own size through every entry point, default names claimed atomically, the
library's own checks at its boundary (shared with the command line), a file name with a
comma, SIGTERM and a second Ctrl-C, 16-bit colour PNGs, and messages that name the cause.
"""

from __future__ import annotations

import os
import pickle
import re
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import nstyle_helpers as nh
from nstyle_helpers.core import images as images_module
from nstyle_helpers.teaching import movie
from nstyle_helpers import multiscale
from nstyle_helpers.core import memory
from nstyle_helpers.base import validation
from nstyle_helpers.base.errors import DivergedError, ImageError, LayerError, SettingsError
from nstyle_helpers.core.features import VGG19Features
from nstyle_helpers.transfer import RunConfig, TransferConfig, style_transfer
from nstyle_helpers.core.images import validate_image
from nstyle_helpers.base.validation import validate_same_device
from nstyle_helpers.teaching.widgets import StyleReconstructionExplorer, StyleTransferExplorer

from helpers import FAST, assert_cli_error, cli  # noqa: F401 (fixture)

REPO = Path(__file__).resolve().parent.parent
SHALLOW = ("--content-layer", "relu1_2", "--style-layers", "relu1_1,relu2_1")
SHALLOW_CONFIG = dict(content_layer="relu1_2", style_layers=("relu1_1", "relu2_1"),
                      weights="random", steps=2)


def write_png(path: Path, height: int, width: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    return path


# --------------------------------------------------------------------------------------------
# 1. An image at its own size (no resize): load_image used to return a non-contiguous
#    tensor, and L-BFGS's flat view of it crashed.


def test_load_image_returns_a_contiguous_tensor_at_its_own_size(tmp_path):
    image = nh.load_image(write_png(tmp_path / "a.png", 30, 40))
    assert image.shape == (1, 3, 30, 40) and image.is_contiguous()
    assert nh.load_image(tmp_path / "a.png", size=40).is_contiguous()  # the size it has


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_style_transfer_and_the_reconstructions_at_the_images_own_size(tmp_path, optimizer):
    content = nh.load_image(write_png(tmp_path / "c.png", 24, 36, seed=1))
    style = nh.load_image(write_png(tmp_path / "s.png", 30, 30, seed=2))
    config = TransferConfig(**SHALLOW_CONFIG, optimizer=optimizer)
    assert nh.style_transfer(content, style, config, progress=False).image.shape == content.shape
    run = RunConfig(steps=2, optimizer=optimizer, weights="random")
    assert nh.reconstruct_content(content, ["relu1_2"], run, progress=False).steps == 2
    assert nh.reconstruct_style(style, [("relu1_1",)], run, progress=False).steps == 2
    result = style_transfer(content, [style, style], config, progress=False)
    assert result.image.shape == content.shape


def test_a_one_pixel_content_image_with_a_first_block_layer(tmp_path):
    pixel = nh.load_image(write_png(tmp_path / "p.png", 1, 1))
    result = nh.reconstruct_content(pixel, ["relu1_1"], RunConfig(steps=2, weights="random"),
                                    progress=False)
    assert result.image.shape == (1, 3, 1, 1)


def test_a_non_contiguous_start_image_is_fine_too():
    start = torch.rand(1, 32, 32, 3).permute(0, 3, 1, 2)  # channels-last memory
    assert not start.is_contiguous()
    objective = nh.Objective(None, pixel_target=torch.rand(1, 3, 32, 32))
    assert nh.optimize(objective, start, steps=2, progress=False).steps == 2


def test_the_command_line_at_the_images_own_size(cli, tmp_path):
    path = write_png(tmp_path / "own.png", 30, 40)
    result = cli("transfer", "--content", path, "--style", path, "--size", "40", "--steps", "2",
                 "--weights", "random", "-q", *SHALLOW, "-o", tmp_path / "out.png")
    assert result.code == 0, result.err
    assert Image.open(tmp_path / "out.png").size == (40, 30)


def test_the_widgets_run_button_at_the_images_own_size(tmp_path):
    image = nh.load_image(write_png(tmp_path / "w.png", 32, 32))
    explorer = StyleTransferExplorer(image, image, steps=2,
                                     config=TransferConfig(weights="random"))
    explorer.run_button.click()
    assert explorer.status.value.startswith("done"), explorer.status.value


# --------------------------------------------------------------------------------------------
# 2. Default names are claimed when the image is saved.


def test_a_default_name_taken_meanwhile_moves_on_to_the_next(tmp_path, monkeypatch):
    # Another run writes result.png between our check and our write: we take result-2.png.
    real_save = images_module.save_image

    def rival_first(image, path, **kwargs):
        if path.name == "result.png" and not path.exists():
            real_save(torch.zeros(3, 2, 2), path)  # the other run
        return real_save(image, path, **kwargs)

    monkeypatch.setattr(images_module, "save_image", rival_first)
    written = images_module.save_new_image(torch.ones(3, 2, 2), tmp_path, "result")
    assert written == tmp_path / "result-2.png"
    assert np.asarray(Image.open(tmp_path / "result.png")).max() == 0  # theirs, untouched
    assert np.asarray(Image.open(written)).min() == 255


def test_two_command_line_runs_started_together_both_keep_their_result(tmp_path):
    command = [sys.executable, "-m", "nstyle_helpers", "transfer", *FAST, *SHALLOW]
    environment = dict(os.environ, NSTYLE_DEVICE="cpu")
    runs = [subprocess.Popen(command, cwd=tmp_path, env=environment, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [run.communicate(timeout=300) + (run.returncode,) for run in runs]
    assert [code for _, _, code in outcomes] == [0, 0], outcomes
    written = sorted(p.name for p in (tmp_path / "outputs").iterdir())
    assert written == ["chicago_great_wave-2.png", "chicago_great_wave.png"]


# --------------------------------------------------------------------------------------------
# 4-5. The library checks what it is given, with the command line's checks.


@pytest.mark.parametrize("make, fragment", [
    (lambda x: x * 255, "outside [0, 1] (it looks like 0..255: divide by 255)"),
    (lambda x: x - 2, "outside [0, 1]"),
    (lambda x: x.expand(2, -1, -1, -1), "holds 2 images; pass 1"),
    (lambda x: x.half(), "is float16; pass float32"),
    (lambda x: x.numpy(), "is a NumPy array"),
    (lambda x: x.tolist(), "is a list"),
    (lambda x: x[:, :1], "has shape (1, 1, 16, 16)"),
    (lambda x: x * float("nan"), "NaN"),
])
def test_the_library_refuses_bad_images_with_one_sentence(make, fragment):
    content = torch.rand(1, 3, 16, 16)
    with pytest.raises(ImageError) as error:
        nh.style_transfer(make(content), content, TransferConfig(**SHALLOW_CONFIG),
                          progress=False)
    assert fragment in str(error.value)
    assert "\n" not in str(error.value)


def test_the_library_converts_what_users_expect():
    float64 = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    assert validate_image(float64).dtype == torch.float32
    uint8 = (float64 * 255).round().to(torch.uint8)
    assert torch.allclose(validate_image(uint8), uint8.float() / 255)
    pil = Image.fromarray(np.full((4, 6), 128, np.uint8))  # grey, mode "L"
    assert validate_image(pil).shape == (1, 3, 4, 6)
    assert validate_image(float64[0]).shape == (1, 3, 8, 8)  # (3, H, W): a batch of one
    content = torch.rand(1, 3, 16, 16)
    result = nh.style_transfer(Image.fromarray(np.zeros((16, 16, 3), np.uint8)), content,
                               TransferConfig(**SHALLOW_CONFIG), progress=False)
    assert result.image.dtype == torch.float32
    # The start image is converted like the others, and refused in the same sentence.
    started = nh.style_transfer(content, content, TransferConfig(**SHALLOW_CONFIG),
                                init=Image.fromarray(np.zeros((16, 16, 3), np.uint8)),
                                progress=False)
    assert started.image.shape == (1, 3, 16, 16)
    with pytest.raises(ImageError, match="init"):
        nh.style_transfer(content, content, TransferConfig(**SHALLOW_CONFIG),
                          init=np.zeros((16, 16, 3)), progress=False)


def test_content_and_style_on_different_devices_are_refused():
    with pytest.raises(SettingsError, match="style is on meta but the content image is on cpu"):
        validate_same_device(torch.rand(1, 3, 4, 4), style=torch.empty(1, 3, 4, 4, device="meta"))


@pytest.mark.parametrize("changes, fragment", [
    (dict(style_weight=-1.0), "style_weight must be a number from 0"),
    (dict(tv_weight=-0.5), "tv_weight must be a number from 0"),
    (dict(content_weight=float("inf")), "content_weight must be a number from 0"),
    (dict(style_weight=1e39), "style_weight must be a number from 0 to 3.4e+38"),
    (dict(lr=1e39), "learning rate must be a positive number up to 3.4e+38"),
    (dict(seed=2**64), "seed must be a whole number from 0 to 2**64 - 1"),
    (dict(seed=-1), "seed must be a whole number from 0"),
    (dict(steps=-3), "steps must be a whole number from 1 to"),
    (dict(steps=10**23), "steps must be a whole number from 1 to 1,000,000"),
    (dict(style_layers=()), "No layers requested"),
    (dict(init="photo.jpg"), "init must be one of"),
])
def test_configs_check_their_values_as_the_command_line_does(changes, fragment):
    with pytest.raises((SettingsError, LayerError), match=re.escape(fragment)):
        TransferConfig(**changes)


def test_an_image_with_no_pixels_gets_one_sentence():
    empty = torch.rand(1, 3, 24, 0)
    with pytest.raises(ImageError, match=r"content has shape \(1, 3, 24, 0\), no pixels"):
        nh.style_transfer(empty, torch.rand(1, 3, 24, 24), TransferConfig(weights="random"),
                          progress=False)


def test_a_run_that_cannot_fit_in_memory_is_refused_before_it_starts(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda device: 2**20)  # 1 MiB
    with pytest.raises(SettingsError, match=r"needs about .* GiB on cpu, more than the .* "
                                            r"free; at most about \d+ px"):
        nh.style_transfer(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64),
                          TransferConfig(weights="random"), progress=False)


def test_resize_refuses_more_than_the_pixel_limit_before_allocating():
    with pytest.raises(SettingsError, match="over the limit of 64"):
        images_module.resize(torch.rand(1, 3, 1, 1), 16_000)


def test_widget_failures_all_show_in_the_status_line(monkeypatch):
    image = torch.rand(1, 3, 32, 32)
    explorer = StyleTransferExplorer(image, image, steps=2,
                                     config=TransferConfig(weights="random"))

    def broken(**kwargs):
        raise RuntimeError("something deep inside torch")

    monkeypatch.setattr(explorer, "run", lambda: broken())
    explorer.run_button.click()
    assert explorer.status.value == "error (RuntimeError): something deep inside torch"
    with pytest.raises(LayerError, match="No layers requested"):
        StyleReconstructionExplorer(image, steps=2, layers=())
    with pytest.raises(SettingsError, match="steps must be a whole number from 1 to"):
        StyleReconstructionExplorer(image, steps=-1)


# --------------------------------------------------------------------------------------------
# 6. A style file with a comma in its name.


def test_an_existing_path_with_a_comma_is_one_style(cli, tmp_path):
    path = write_png(tmp_path / "my,photo.png", 32, 32)
    result = cli("transfer", "--style", path, *FAST, *SHALLOW, "-o", tmp_path / "out.png")
    assert result.code == 0, result.err


# --------------------------------------------------------------------------------------------
# 7. SIGTERM like Ctrl-C; a second Ctrl-C does not print a traceback.


def _start_long_run(tmp_path: Path) -> subprocess.Popen:
    run = subprocess.Popen(
        [sys.executable, "-m", "nstyle_helpers", "transfer", "--size", "48", "--steps",
         "100000", "--weights", "random", *SHALLOW, "-o", str(tmp_path / "out.png")],
        cwd=tmp_path, env=dict(os.environ, NSTYLE_DEVICE="cpu"), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    seen = b""
    deadline = time.monotonic() + 120
    while b"step/s]" not in seen and time.monotonic() < deadline:
        seen += run.stderr.read1(4096)  # the progress bar: the optimisation has started
    assert b"step/s]" in seen, seen
    time.sleep(0.5)
    return run


def test_sigterm_writes_the_best_image_and_exits_143(tmp_path):
    run = _start_long_run(tmp_path)
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 143, err
    assert b"terminated (SIGTERM)" in out and b"Traceback" not in err
    assert Image.open(tmp_path / "out.png").size == (48, 32)


def test_a_second_ctrl_c_right_after_the_first_is_ignored(tmp_path):
    run = _start_long_run(tmp_path)
    run.send_signal(signal.SIGINT)
    time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    assert b"Traceback" not in err and b"interrupted after" in out
    assert (tmp_path / "out.png").is_file()


@pytest.mark.parametrize("importing", ["numpy.", "torch.", "torch.nn.", "torchvision."])
def test_ctrl_c_while_torch_imports_is_one_line(tmp_path, importing):
    """The first seconds: torch, numpy and torchvision importing (torch's C code swallows a
    KeyboardInterrupt while it imports numpy, and its C++ code can abort on one)."""
    run = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "nstyle_helpers", "info"],
                           cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
    for line in run.stderr:  # -X importtime reports each module as its import ends
        if line.split("|")[-1].strip().startswith(importing):
            break
    run.send_signal(signal.SIGINT)
    rest = run.stderr.read()
    run.wait(timeout=60)
    said = [line for line in rest.splitlines() if not line.startswith("import time:")]
    assert run.returncode == 130 and said == ["nstyle: interrupted; nothing was written"], rest


def test_a_reader_that_stops_early_gets_no_traceback():
    """``nstyle info | head -1``: the pipe closes before the command writes."""
    run = subprocess.Popen([sys.executable, "-m", "nstyle_helpers", "info"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run.stdout.close()
    err = run.stderr.read()
    assert run.wait(timeout=120) == 1 and err == "", err


# --------------------------------------------------------------------------------------------
# 8. 16-bit colour PNGs: what the docstring says.


def _png_48_bit(path: Path, pixels: np.ndarray) -> Path:
    # Pillow cannot write 16-bit RGB, so the PNG is assembled by hand.
    height, width, _ = pixels.shape
    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


def test_16_bit_colour_pngs_arrive_at_8_bits_as_documented(tmp_path):
    assert "16-bit *colour* PNGs (48-bit RGB) arrive at\n    8 bits" in nh.load_image.__doc__
    pixels = np.array([[[32768, 32896, 0], [65535, 1, 2]]], np.uint16)
    loaded = nh.load_image(_png_48_bit(tmp_path / "rgb16.png", pixels))
    assert torch.equal(loaded[0, :, 0, 0] * 255, torch.tensor([128.0, 128.0, 0.0]))


# --------------------------------------------------------------------------------------------
# 9. Messages that name the cause.


def test_divergence_names_nan_weights_first():
    vgg = VGG19Features(["relu1_1"], weights="random")
    with torch.no_grad():
        vgg.body[0].weight[0, 0, 0, 0] = float("nan")
    content = torch.rand(1, 3, 16, 16)
    config = TransferConfig(content_layer="relu1_1", style_layers=("relu1_1",), steps=2,
                            weights="random")
    with pytest.raises(DivergedError, match="VGG19's weights contain NaN") as error:
        nh.style_transfer(content, content, config, extractor=vgg, progress=False)
    assert "learning rate" not in str(error.value)
    assert str(error.value).endswith("error.result.image.")


def test_divergence_names_a_too_large_tv_weight():
    content = torch.rand(1, 3, 16, 16)
    config = TransferConfig(**SHALLOW_CONFIG, tv_weight=3e38, init="noise")
    with pytest.raises(DivergedError, match="the tv term is infinite for the starting image"):
        nh.style_transfer(content, content, config, progress=False)


def test_the_command_line_saves_the_best_image_of_a_diverged_run(cli, tmp_path):
    out = tmp_path / "out.png"
    result = cli("transfer", *FAST, *SHALLOW, "--tv-weight", "3e38", "--init", "noise",
                 "-o", out)
    line = assert_cli_error(result, "tv term is infinite", f"wrote the best image before "
                                                           f"that to {out}")
    assert "error.result" not in line
    assert out.is_file()


def test_an_existing_output_names_the_command_lines_option(cli, tmp_path):
    out = write_png(tmp_path / "x.png", 4, 4)
    line = assert_cli_error(cli("transfer", *FAST, "-o", out), "--overwrite")
    assert "overwrite=True" not in line


def test_a_decompression_bomb_pillow_refuses_itself_gets_a_size_and_a_verb(tmp_path):
    # Over twice Pillow's own limit (89 Mpx): Pillow raises before we see the size.
    path = tmp_path / "bomb.png"
    Image.new("1", (15_000, 12_000)).save(path)
    with pytest.raises(ImageError, match=r"bomb.png is too large: 180,000,000 pixels "
                                         r"\(180 megapixels\) is over the limit"):
        nh.load_image(path)


@pytest.mark.parametrize("url", ["https://example.org/a.jpg", "http://example.org/b"])
def test_urls_are_refused_by_name(cli, tmp_path, url):
    with pytest.raises(ImageError, match=f"{url} is a URL; URLs are not supported"):
        nh.load_image(url)
    assert_cli_error(cli("transfer", "--content", url, *FAST, "-o", tmp_path / "o.png"),
                     f"{url} is a URL")


def test_weights_whose_value_is_not_a_tensor(cli, tmp_path):
    path = tmp_path / "list.pth"
    torch.save({"0.weight": [1, 2], "0.bias": torch.zeros(64)}, path)
    result = cli("transfer", "--size", "32", "--steps", "1", "-q", "--weights", path,
                 "-o", tmp_path / "o.png")
    line = assert_cli_error(result, "its '0.weight' is a list, not a tensor")
    assert "first keys" not in line


def test_a_raw_pickle_weights_file_is_one_line(cli, tmp_path):
    path = tmp_path / "raw.pth"
    path.write_bytes(pickle.dumps({"0.weight": 1}))
    result = cli("transfer", "--size", "32", "--steps", "1", "-q", "--weights", path,
                 "-o", tmp_path / "o.png")
    assert_cli_error(result, "not a PyTorch state dict that can be loaded safely")


@pytest.mark.parametrize("build", [
    lambda: TransferConfig(style_layers="relu1_1"),
    lambda: nh.Objective(VGG19Features(["relu1_1"], weights="random"),
                         style_image=torch.rand(1, 3, 8, 8), style_layers="relu1_1"),
])
def test_one_layer_name_as_a_string_is_refused_with_the_fix(build):
    with pytest.raises(LayerError, match=r"not the string 'relu1_1'; pass \('relu1_1',\)"):
        build()


# --------------------------------------------------------------------------------------------
# A finished result is never lost: names taken during the run, dangling links, a full disk.

def _run_that_takes(monkeypatch, *paths: Path):
    """Make the transfer create ``paths`` while it runs (another program taking the names)."""
    from nstyle_helpers import cli as cli_module

    real = cli_module.style_transfer

    def run_and_take(*args, **kwargs):
        result = real(*args, **kwargs)
        for path in paths:
            path.write_bytes(b"someone else's file")
        return result

    monkeypatch.setattr(cli_module, "style_transfer", run_and_take)


def test_an_output_name_taken_during_the_run_gets_the_next_free_name(cli, tmp_path,
                                                                     monkeypatch):
    _run_that_takes(monkeypatch, tmp_path / "out.png", tmp_path / "out.gif")
    result = cli("transfer", *FAST, "--steps", "2", "-o", "out.png", "--movie", "out.gif")
    assert result.code == 0, result.err
    assert "out.png appeared during the run; wrote out-2.png instead" in result.err
    assert "out.gif appeared during the run; wrote out-2.gif instead" in result.err
    assert "wrote out-2.png and the movie out-2.gif" in result.out
    assert (tmp_path / "out.png").read_bytes() == b"someone else's file"
    assert Image.open(tmp_path / "out-2.png").size == (32, 21)


def test_a_dangling_link_as_output_is_refused_before_the_run(cli, tmp_path):
    (tmp_path / "out.png").symlink_to(tmp_path / "nowhere.png")
    result = cli("transfer", *FAST, "-o", "out.png")
    assert_cli_error(result, "out.png", "already exists")
    assert not (tmp_path / "nowhere.png").exists()


def test_a_movie_that_cannot_be_written_says_the_image_was(cli, tmp_path, monkeypatch):
    def disk_full(frames, file, *args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(movie, "_save_gif", disk_full)
    result = cli("transfer", *FAST, "-o", "out.png", "--movie", "out.gif")
    line = assert_cli_error(result, "Wrote out.png, but not the movie", "No space left")
    assert (tmp_path / "out.png").is_file() and not (tmp_path / "out.gif").exists(), line


def test_the_movie_ends_on_the_image_written(cli, tmp_path):
    # Snapshots every 3 of 7 steps are 0, 3, 6: the last frame is still the result (step 7).
    result = cli("transfer", *FAST, "--steps", "7", "--init", "noise", "--snapshot-every", "3",
                 "-o", "out.png", "--movie", "out.gif")
    assert result.code == 0, result.err
    with Image.open(tmp_path / "out.gif") as gif:
        gif.seek(gif.n_frames - 1)
        last = np.asarray(gif.convert("RGB"), dtype=float)
        frames = gif.n_frames
    written = np.asarray(Image.open(tmp_path / "out.png").convert("RGB"), dtype=float)
    assert frames == 4  # steps 0, 3, 6 and the result
    assert np.abs(last - written).mean() < 8  # the GIF's 256 colours, nothing more


def test_every_error_the_package_raises_is_an_nstyle_error():
    # The promise of nstyle_helpers.base.errors: a problem a user can cause is an NstyleError
    # with one sentence. Built-in exception types are raised nowhere in the package.
    package = Path(nh.__file__).parent
    raised = re.compile(r"raise (ValueError|TypeError|RuntimeError|KeyError|IndexError)\(")
    offenders = [f"{path.name}:{number}" for path in sorted(package.rglob("*.py"))
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if raised.search(line)]
    assert offenders == []


def test_misused_display_helpers_raise_nstyle_errors():
    from nstyle_helpers import display

    with pytest.raises(nh.ImageError, match="expected images of shape"):
        display.show_images(torch.rand(2, 4, 4))
    with pytest.raises(nh.SettingsError, match="needs at least one image"):
        display.show_images([])


@pytest.mark.parametrize("check", [
    validation.validate_steps,
    lambda n: multiscale.validate_scales([n])[0],
    lambda n: multiscale.validate_scale_steps(n, 2)[0],
    movie.validate_snapshot_every,
])
def test_every_count_takes_numpy_whole_numbers_and_refuses_bools(check):
    # One check, validation.validate_whole_number, for every count the package takes.
    assert check(np.int64(48)) == 48 and type(check(np.int32(48))) is int
    for bad in (True, 2.5, "48", 0):
        with pytest.raises(SettingsError, match="must be a whole number"):
            check(bad)


@pytest.mark.parametrize("run", [
    lambda: nh.style_transfer(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 64, 64), progress=False),
    lambda: nh.style_transfer(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64), progress=False,
                              style_scale=0.2),
    lambda: nh.reconstruct_content(torch.rand(1, 3, 8, 8), ["relu5_2"], progress=False),
    lambda: nh.reconstruct_style(torch.rand(1, 3, 8, 8), [["relu5_1"]], progress=False,
                                 size=(64, 64)),
], ids=["content", "scaled style", "content reconstruction", "style image"])
def test_sizes_are_checked_before_any_weights_are_loaded(run, monkeypatch):
    from nstyle_helpers import transfer

    def no_weights(*args, **kwargs):
        raise AssertionError("VGG19 was built before the sizes were checked")

    monkeypatch.setattr(transfer, "build_extractor", no_weights)
    with pytest.raises(nh.ImageTooSmallError, match="too small for layer"):
        run()
