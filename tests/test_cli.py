"""cli.py: ``nstyle transfer|reconstruct`` through ``main([...])``, and once as a subprocess.

Every bad input must give exit status 2, exactly one non-empty line on stderr, no traceback,
and leave the output file absent (or, if it existed, unchanged). Runs use tiny images
(--size 32), one or two steps and random weights, so each takes a second or two.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import urllib.error

import pytest
import torch
from PIL import Image

from helpers import (FAST, REPO_IMAGES, assert_cli_error, cli,  # noqa: F401 (fixture)
                     cut_in_half, unchanged, write_bad_weight_files, write_big_bilevel_png,
                     write_rgb_png)
from nstyle_helpers.core import images as images_module
from nstyle_helpers.core import weights as weights_module


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    """Bad image files and bad weights files, written once for the module."""
    folder = tmp_path_factory.mktemp("bad_inputs")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "page.jpg").write_text("<!doctype html><html><body>Not Found</body></html>")
    cut_in_half(REPO_IMAGES / "chicago.jpg", folder / "half.jpg")
    write_big_bilevel_png(folder / "big.png")
    (folder / "a_folder").mkdir()
    files = {name: folder / name for name in ("empty.jpg", "page.jpg", "half.jpg", "big.png",
                                              "a_folder")}
    files["missing"] = folder / "missing.jpg"
    files["weights"] = write_bad_weight_files(folder / "weights")
    return files


#: Transfer options that stop VGG19 at its first layer: for tests about files, not layers.
SHALLOW = ("--content-layer", "relu1_1", "--style-layers", "relu1_1")


def _png_size(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


# ------------------------------------------------------------------------------------------
# Happy paths


def test_transfer_writes_the_output(cli, tmp_path):
    """transfer --size 32 --steps 2 writes a PNG with longer side 32; the last stdout line
    names the file."""
    out = tmp_path / "x.png"
    result = cli("transfer", "--size", "32", "--steps", "2", "--weights", "random", "-q",
                 "-o", out)
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    assert max(_png_size(out)) == 32
    assert _png_size(out) == (32, 21)  # chicago is 712×474
    assert str(out) in result.out_lines[-1]
    assert "2 steps" in result.out_lines[-1]
    assert sorted(os.listdir(tmp_path)) == ["x.png"]  # no outputs/, no temp file


def test_the_summary_line_says_when_lbfgs_restarted(cli, tmp_path, monkeypatch):
    from nstyle_helpers import cli as cli_module
    from nstyle_helpers.core.optimize import OptimizationResult

    def restarted_run(*args, **kwargs):
        return OptimizationResult(image=torch.rand(1, 3, 21, 32), history={}, steps=2,
                                  evaluations=2, restarts=2)

    monkeypatch.setattr(cli_module, "_run_transfer", restarted_run)
    out = tmp_path / "x.png"
    result = cli("transfer", "--size", "32", "--steps", "2", "--weights", "random", "-q",
                 "-o", out)
    assert result.code == 0, result.err
    assert "restarted from its best image 2 times" in result.out_lines[-1]


def test_transfer_with_file_images_and_adam(cli, tmp_path):
    """File paths work as --content/--style; --optimizer adam --lr and --init noise run."""
    write_rgb_png(tmp_path / "c.png", height=40, width=24, seed=1)
    write_rgb_png(tmp_path / "s.png", height=30, width=30, seed=2)
    out = tmp_path / "y.png"
    result = cli("transfer", "--content", tmp_path / "c.png", "--style", tmp_path / "s.png",
                 "--optimizer", "adam", "--lr", "0.05", "--init", "noise", *FAST, *SHALLOW,
                 "-o", out)
    assert result.code == 0, result.err
    assert _png_size(out) == (19, 32)  # portrait: the height is the longer side


def test_reconstruct_content_layer(cli, tmp_path):
    """reconstruct --content-layer relu2_2 writes a 32-pixel PNG of the default image."""
    out = tmp_path / "content.png"
    result = cli("reconstruct", "--content-layer", "relu2_2", *FAST, "-o", out)
    assert result.code == 0, result.err
    assert max(_png_size(out)) == 32
    assert str(out) in result.out_lines[-1]


def test_reconstruct_style_layers(cli, tmp_path):
    """reconstruct --style-layers relu1_1,relu2_1 writes a 32-pixel PNG."""
    out = tmp_path / "style.png"
    result = cli("reconstruct", "--image", "great_wave", "--style-layers", "relu1_1,relu2_1",
                 *FAST, "-o", out)
    assert result.code == 0, result.err
    assert _png_size(out) == (32, 18)  # great_wave is 928×514
    assert str(out) in result.out_lines[-1]


def test_default_output_goes_to_outputs_and_never_overwrites(cli, tmp_path):
    """Without -o the result goes to outputs/ under a fresh name; an existing file there
    is left untouched."""
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    sentinel = outputs / "chicago_great_wave.png"
    Image.new("RGB", (5, 5), (1, 2, 3)).save(sentinel)
    before = sentinel.read_bytes()
    result = cli("transfer", *FAST, *SHALLOW)
    assert result.code == 0, result.err
    assert sentinel.read_bytes() == before
    written = outputs / "chicago_great_wave-2.png"
    assert max(_png_size(written)) == 32
    assert f"outputs/{written.name}" in result.out_lines[-1]
    result = cli("reconstruct", "--content-layer", "relu1_1", *FAST)
    assert result.code == 0, result.err
    assert (outputs / "starry_night_content_relu1_1.png").is_file()
    assert sorted(os.listdir(outputs)) == ["chicago_great_wave-2.png", "chicago_great_wave.png",
                                           "starry_night_content_relu1_1.png"]


@pytest.mark.parametrize("command", ["transfer", "reconstruct"])
def test_help(cli, command):
    """--help for each subcommand exits 0 and prints its usage."""
    result = cli(command, "--help")
    assert result.code == 0
    assert f"usage: nstyle {command}" in result.out
    assert "--size" in result.out and "--weights" in result.out


def test_no_subcommand_is_a_usage_error(cli):
    """Without a subcommand: exit 2 and one line."""
    assert_cli_error(cli(), "required")


def test_python_dash_m_in_a_subprocess(tmp_path):
    """`python -m nstyle_helpers transfer ...` runs as a real process: exit 0, the PNG,
    the file named on stdout, and the random-weights warning as one line on stderr."""
    out = tmp_path / "sub.png"
    env = dict(os.environ, NSTYLE_DEVICE="cpu", NSTYLE_WEIGHTS="random")
    env.pop("NSTYLE_IMAGE_DIR", None)
    process = subprocess.run(
        [sys.executable, "-m", "nstyle_helpers", "transfer", *FAST, *SHALLOW, "-o", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    assert max(_png_size(out)) == 32
    assert str(out) in process.stdout.strip().splitlines()[-1]
    assert "Traceback" not in process.stderr
    assert any(line.startswith("nstyle: warning:") and "RANDOM" in line
               for line in process.stderr.splitlines())


# ------------------------------------------------------------------------------------------
# Bad input: images


@pytest.mark.parametrize("key, fragment", [
    ("missing", "No such file"),
    ("a_folder", "is a folder"),
    ("empty.jpg", "empty (0 bytes)"),
    ("page.jpg", "not an image"),
    ("half.jpg", "truncated"),
    ("big.png", "is too large: 9000×8000 pixels (72 megapixels) is over the limit of 64 megapixels"),
])
@pytest.mark.parametrize("option", ["--content", "--style"])
def test_bad_image_file(cli, tmp_path, bad, key, fragment, option):
    """A bad --content or --style file: exit 2, one line naming the file and the problem."""
    out = tmp_path / "out.png"
    with unchanged(out):
        result = cli("transfer", option, bad[key], *FAST, "-o", out)
    assert_cli_error(result, fragment, str(bad[key]))


def test_bad_image_to_reconstruct(cli, tmp_path, bad):
    """reconstruct --image with an image that is not one: exit 2, one line."""
    out = tmp_path / "out.png"
    with unchanged(out):
        result = cli("reconstruct", "--image", bad["page.jpg"], "--content-layer", "relu1_1",
                     *FAST, "-o", out)
    assert_cli_error(result, "not an image")


def test_unknown_example_name(cli, tmp_path):
    """A bare word that is no example lists the valid example names."""
    out = tmp_path / "out.png"
    with unchanged(out):
        result = cli("transfer", "--content", "chicgo", *FAST, "-o", out)
    assert_cli_error(result, "Unknown example image 'chicgo'", "great_wave, starry_night")


def test_image_too_small_for_the_layers(cli, tmp_path):
    """--size 8 with the default layers (down to relu5_1, needing 16 px): exit 2."""
    out = tmp_path / "out.png"
    with unchanged(out):
        result = cli("transfer", "--size", "8", "--steps", "1", "--weights", "random", "-q",
                     "-o", out)
    assert_cli_error(result, "too small for layer relu5_1", "at least 16 pixels")


# ------------------------------------------------------------------------------------------
# Bad input: layers and numbers


@pytest.mark.parametrize("argv, fragments", [
    (("transfer", "--content-layer", "conv4_5"), ("'conv4_5'", "did you mean 'conv4_4'")),
    (("transfer", "--style-layers", "relu1_1,relu6_1"), ("'relu6_1'", "did you mean 'relu5_1'")),
    (("reconstruct", "--content-layer", "conv4_5"), ("did you mean 'conv4_4'",)),
    (("reconstruct", "--style-layers", "relu1_1,relu4-1"), ("did you mean 'relu4_1'",)),
])
def test_unknown_layer(cli, tmp_path, argv, fragments):
    """An unknown layer name: exit 2, one line suggesting the nearest valid name."""
    out = tmp_path / "out.png"
    with unchanged(out):
        result = cli(*argv, *FAST, "-o", out)
    assert_cli_error(result, *fragments)


@pytest.mark.parametrize("option", ["--content", "--style"])
def test_an_empty_image_name(cli, tmp_path, option):
    out = tmp_path / "out.png"
    with unchanged(out):
        result = cli("transfer", *FAST, option, "", "-o", out)
    assert_cli_error(result, "The image name is empty; give an example (")


def test_steps_beyond_the_range_are_refused(cli, tmp_path):
    out = tmp_path / "out.png"
    with unchanged(out):
        result = cli("transfer", *FAST, "--steps", "9" * 23, "-o", out)
    assert_cli_error(result, "--steps", "from 1 to 1,000,000")


@pytest.mark.parametrize("option", ["--size", "--steps"])
@pytest.mark.parametrize("value, fragment", [("0", "whole number"),
                                             ("-3", "whole number"),
                                             ("abc", "'abc' is not a whole number"),
                                             ("2.5", "is not a whole number")])
def test_bad_size_and_steps(cli, tmp_path, option, value, fragment):
    """--size / --steps of 0, -3, abc or 2.5: a one-line usage error naming the option."""
    out = tmp_path / "out.png"
    with unchanged(out):
        result = cli("transfer", "--weights", "random", "-q", option, value, "-o", out)
    assert_cli_error(result, option, fragment)


@pytest.mark.parametrize("steps", [0, -3, "abc", 2.5, True])
def test_library_rejects_bad_steps(steps):
    """The library counterpart: optimize(steps=...) raises ValueError saying what is wrong."""
    from nstyle_helpers.core.optimize import optimize

    with pytest.raises(ValueError, match="steps must be a whole number from 1 to"):
        optimize(_sum_objective, torch.rand(1, 3, 4, 4), steps=steps, progress=False)


@pytest.mark.parametrize("lr", [0, -1, float("nan"), float("inf"), "fast"])
def test_library_rejects_bad_learning_rate(lr):
    """The library counterpart: optimize(lr=...) raises ValueError saying what is wrong."""
    from nstyle_helpers.core.optimize import optimize

    with pytest.raises(ValueError, match="learning rate must be a positive number"):
        optimize(_sum_objective, torch.rand(1, 3, 4, 4), steps=1, lr=lr, progress=False)


def _sum_objective(image):
    total = image.square().sum(dim=(1, 2, 3))
    return {"total": total}


@pytest.mark.parametrize("value, fragment", [("0", "must be a positive number"),
                                             ("-1", "must be a positive number"),
                                             ("nan", "must be a positive number"),
                                             ("inf", "must be a positive number"),
                                             ("fast", "'fast' is not a number")])
def test_bad_learning_rate(cli, tmp_path, value, fragment):
    """--lr of 0, -1, nan, inf or a word: a one-line usage error."""
    out = tmp_path / "out.png"
    with unchanged(out):
        result = cli("transfer", *FAST, "--lr", value, "-o", out)
    assert_cli_error(result, "--lr", fragment)


def test_bad_style_weight(cli, tmp_path):
    """--style-weight -5 is refused; --tv-weight -1 too (0 is allowed there)."""
    out = tmp_path / "out.png"
    with unchanged(out):
        assert_cli_error(cli("transfer", *FAST, "--style-weight", "-5", "-o", out),
                         "--style-weight")
        assert_cli_error(cli("transfer", *FAST, "--tv-weight", "-1", "-o", out),
                         "--tv-weight", "a number from 0 to 3.4e+38")


# ------------------------------------------------------------------------------------------
# Bad input: weights


@pytest.mark.parametrize("kind", ["text", "random tensors", "wrong shape", "vgg16",
                                  "pickled object"])
def test_weights_file_that_is_not_vgg19(cli, tmp_path, bad, kind):
    """--weights with a file that is not a VGG19 state dict: exit 2, one line naming it."""
    path, fragment = bad["weights"][kind]
    weights_module.clear_cache()
    out = tmp_path / "out.png"
    with unchanged(out):
        result = cli("transfer", "--size", "32", "--steps", "1", "-q", "--weights", path,
                     "-o", out)
    assert_cli_error(result, str(path), fragment)
    assert not (path.parent / "unpickled-marker").exists()


def test_missing_weights_file(cli, tmp_path):
    """--weights naming a missing file: exit 2, one line."""
    out = tmp_path / "out.png"
    with unchanged(out):
        result = cli("transfer", *FAST[:4], "-q", "--weights", tmp_path / "nope.pth", "-o", out)
    assert_cli_error(result, "No such weights file")


def test_pretrained_weights_offline(cli, tmp_path, monkeypatch):
    """--weights imagenet with nothing cached and no network: exit 2, one line that says
    how to work offline."""
    def no_download(url, dst, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    weights_module.clear_cache()
    out = tmp_path / "out.png"
    with unchanged(out):
        result = cli("transfer", "--size", "32", "--steps", "1", "-q", "--weights", "imagenet",
                     "-o", out)
    weights_module.clear_cache()
    assert_cli_error(result, "Could not download", "NSTYLE_WEIGHTS=random", "--weights PATH")


# ------------------------------------------------------------------------------------------
# Bad input: output


def test_output_in_missing_folder(cli, tmp_path):
    """-o in a folder that does not exist: exit 2, one line; the folder is not created."""
    result = cli("transfer", *FAST, "-o", tmp_path / "no" / "such" / "x.png")
    assert_cli_error(result, "does not exist")
    assert not (tmp_path / "no").exists()


def test_output_in_read_only_folder(cli, tmp_path, monkeypatch):
    """-o in a read-only folder: exit 2 before the run, one line.

    Tests run as root, for whom chmod does not stop writes, so os.access is made to report
    the folder as read-only.
    """
    folder = tmp_path / "ro"
    folder.mkdir()
    real_access = os.access
    monkeypatch.setattr(images_module.os, "access", lambda p, mode, *a, **k: (
        False if (mode & os.W_OK and os.fspath(p) == os.fspath(folder))
        else real_access(p, mode, *a, **k)))
    result = cli("transfer", *FAST, "-o", folder / "x.png")
    assert_cli_error(result, "read-only")
    assert os.listdir(folder) == []


def test_output_folder_refuses_the_write_after_the_run(cli, tmp_path, monkeypatch):
    """If the folder refuses the write at the end (made read-only meanwhile): exit 2, one
    line, nothing written.

    As root a chmod-ed folder is still writable, so tempfile.mkstemp raises the
    PermissionError a read-only folder would give.
    """
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    result = cli("transfer", *FAST, *SHALLOW, "-o", tmp_path / "x.png")
    assert_cli_error(result, "read-only")
    assert os.listdir(tmp_path) == []


def test_existing_output_needs_overwrite(cli, tmp_path):
    """An existing -o file is kept without --overwrite (exit 2) and replaced with it."""
    out = tmp_path / "x.png"
    Image.new("RGB", (5, 5), (1, 2, 3)).save(out)
    with unchanged(out):
        result = cli("transfer", *FAST, "-o", out)
    assert_cli_error(result, "already exists", "--overwrite")
    result = cli("transfer", *FAST, *SHALLOW, "-o", out, "--overwrite")
    assert result.code == 0, result.err
    assert max(_png_size(out)) == 32
    assert sorted(os.listdir(tmp_path)) == ["x.png"]


def test_outputs_folder_cannot_be_created(cli, tmp_path):
    """Without -o, a file called "outputs" in the way gives exit 2 and one line, not a
    traceback."""
    (tmp_path / "outputs").write_text("not a folder")
    result = cli("transfer", *FAST)
    assert_cli_error(result, "Cannot create the folder outputs/", "-o")
    assert (tmp_path / "outputs").read_text() == "not a folder"


def test_a_failed_run_without_o_leaves_no_outputs_folder(cli, tmp_path):
    result = cli("transfer", "--content", "chicgo", *FAST)
    assert_cli_error(result, "Unknown example image 'chicgo'")
    assert not (tmp_path / "outputs").exists()


def test_outputs_folder_in_a_read_only_folder(cli, tmp_path, monkeypatch):
    """Without -o in a read-only current folder: exit 2 before the run, one line (os.access
    is faked, as in test_output_in_read_only_folder: tests run as root)."""
    from nstyle_helpers import cli as cli_module

    real_access = os.access
    monkeypatch.setattr(cli_module.os, "access", lambda p, mode, *a, **k: (
        False if (mode & os.W_OK and os.fspath(p) == os.fspath(tmp_path.resolve()))
        else real_access(p, mode, *a, **k)))
    result = cli("transfer", *FAST)
    assert_cli_error(result, "Cannot create the folder outputs/", "read-only", "-o")
    assert not (tmp_path / "outputs").exists()


def test_output_with_unknown_extension(cli, tmp_path):
    """-o result.txt: exit 2, one line asking for .png or .jpg."""
    result = cli("transfer", *FAST, "-o", tmp_path / "result.txt")
    assert_cli_error(result, "unknown image extension", ".png")
    assert not (tmp_path / "result.txt").exists()


# ------------------------------------------------------------------------------------------
# Bad input: device


@pytest.mark.parametrize("name, fragment", [("gpu2", "Unknown device 'gpu2'"),
                                            ("tpu", "'tpu'"),
                                            ("cuda", "no usable CUDA GPU")])
def test_bad_device(cli, tmp_path, monkeypatch, name, fragment):
    """--device gpu2 / tpu / cuda (without a CUDA GPU): exit 2, one line.

    CUDA is reported unavailable by monkeypatching, so the test means the same on a GPU
    machine as on the GPU-less development machines.
    """
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "out.png"
    with unchanged(out):
        result = cli("transfer", *FAST, "--device", name, "-o", out)
    assert_cli_error(result, fragment)


def test_bad_device_from_environment(cli, tmp_path, monkeypatch):
    """NSTYLE_DEVICE=tpu without --device: exit 2, one line."""
    monkeypatch.setenv("NSTYLE_DEVICE", "tpu")
    result = cli("transfer", *FAST, "-o", tmp_path / "out.png")
    assert_cli_error(result, "'tpu'")



def test_info_says_what_the_setup_runs_with(cli, monkeypatch, tmp_path):
    """nstyle info: versions, the session, caches and their state, NSTYLE_* variables."""
    monkeypatch.setenv("NSTYLE_QUICK", "1")
    monkeypatch.setenv("NSTYLE_IMAGE_DIR", str(tmp_path / "images"))
    result = cli("info")
    assert result.code == 0, result.err
    out = result.out
    assert out.startswith("nstyle_helpers ") and "torch " in out and "torchvision " in out
    assert "device: cpu" in out and "QUICK MODE" in out and "CPU threads: " in out
    assert "torchvision's VGG19 weights: " in out
    assert f"example images: {tmp_path / 'images'} (" in out and "chicago missing" in out
    assert "NSTYLE_DEVICE=cpu" in out and "NSTYLE_QUICK=1" in out
