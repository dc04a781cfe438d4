"""cli.py, the "beyond the paper" flags: --preserve-color, several --style with
--style-blend, --style-scale, --mask, --scales and --scale-steps.

Like test_cli.py: tiny images, one or two steps, random weights, a shallow network; every bad
value gives exit status 2 and one line on stderr, and no output file.
"""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from helpers import FAST, assert_cli_error, cli, unchanged, write_rgb_png  # noqa: F401
from nstyle_helpers.controls.color import rgb_to_yiq
from nstyle_helpers.core.images import load_image

SHALLOW = ("--content-layer", "relu1_1", "--style-layers", "relu1_1")
#: FAST without --size, for --scales (which sets the size).
NO_SIZE = ("--steps", "1", "--weights", "random", "-q")


def _size(path):
    with Image.open(path) as image:
        return image.size


@pytest.fixture
def files(tmp_path):
    """A 24×36 content PNG, two style PNGs and a two-level label mask of the content's shape."""
    write_rgb_png(tmp_path / "c.png", height=24, width=36, seed=1)
    write_rgb_png(tmp_path / "s1.png", height=30, width=30, seed=2)
    write_rgb_png(tmp_path / "s2.png", height=20, width=28, seed=3)
    labels = np.zeros((48, 72), np.uint8)  # drawn at twice the size: only the shape matters
    labels[:, 36:] = 255
    Image.fromarray(labels, mode="L").save(tmp_path / "mask.png")
    return tmp_path


def test_help_lists_the_new_flags(cli):
    result = cli("transfer", "--help")
    assert result.code == 0
    for flag in ("--preserve-color", "--style-blend", "--style-scale", "--mask", "--scales",
                 "--scale-steps", "luminance", "histogram"):
        assert flag in result.out, flag


def test_several_styles_blended(cli, tmp_path):
    """--style a --style b --style-blend 0.7,0.3 runs; the default name joins the styles."""
    result = cli("transfer", "--style", "starry_night", "--style", "great_wave",
                 "--style-blend", "0.7,0.3", *FAST, *SHALLOW)
    assert result.code == 0, result.err
    written = tmp_path / "outputs" / "chicago_starry_night+great_wave.png"
    assert max(_size(written)) == 32
    # A comma list is the same as repeating --style.
    out = tmp_path / "comma.png"
    result = cli("transfer", "--style", "starry_night,great_wave", "--style-blend", "0.7,0.3",
                 *FAST, *SHALLOW, "-o", out)
    assert result.code == 0, result.err
    assert out.read_bytes() == written.read_bytes()


def test_luminance_only_keeps_the_content_colours(cli, files):
    out = files / "lum.png"
    result = cli("transfer", "--content", files / "c.png", "--style", files / "s1.png",
                 "--preserve-color", "luminance", *FAST, *SHALLOW, "-o", out)
    assert result.code == 0, result.err
    content, written = load_image(files / "c.png", size=32), load_image(out)
    assert written.shape == content.shape
    # Equal up to the 8-bit rounding of the PNG (≤ 0.5/255 per channel → < 0.004 in I, Q).
    difference = (rgb_to_yiq(written)[:, 1:] - rgb_to_yiq(content)[:, 1:]).abs().max()
    assert difference < 0.004


def test_histogram_matching_and_style_scale_run(cli, files):
    out = files / "hist.png"
    result = cli("transfer", "--content", files / "c.png", "--style", files / "s1.png",
                 "--preserve-color", "histogram", "--style-scale", "0.5", *FAST, *SHALLOW,
                 "-o", out)
    assert result.code == 0, result.err
    assert max(_size(out)) == 32


def test_mask_gives_each_region_a_style(cli, files):
    out = files / "masked.png"
    result = cli("transfer", "--content", files / "c.png", "--style", files / "s1.png",
                 "--style", files / "s2.png", "--mask", files / "mask.png", *FAST, *SHALLOW,
                 "-o", out)
    assert result.code == 0, result.err
    assert _size(out) == (32, 21)


def test_scales_coarse_to_fine(cli, files):
    """--scales 16,32 --scale-steps 2,1: the result has the last size; 3 steps in all."""
    out = files / "scales.png"
    result = cli("transfer", "--content", files / "c.png", "--style", files / "s1.png",
                 "--scales", "16,32", "--scale-steps", "2,1", *NO_SIZE, *SHALLOW, "-o", out)
    assert result.code == 0, result.err
    assert _size(out) == (32, 21)
    assert "3 steps" in result.out_lines[-1]


@pytest.mark.parametrize("argv, fragments", [
    (("--style-blend", "0.7,0.2"), ("--style-blend", "sum to 1")),
    (("--style-blend", "0.7,x"), ("--style-blend", "'x'", "not a number")),
    (("--style-blend", "1.5,-0.5"), ("--style-blend", ">= 0")),
    (("--style-blend", "0.5,0.5"), ("Got 2 blend weights for 1 style image",)),
    (("--style-scale", "0"), ("--style-scale", "a number in (0, 4], not 0.0")),
    (("--style-scale", "9"), ("--style-scale", "a number in (0, 4], not 9.0")),
    (("--style-scale", "big"), ("--style-scale", "not a number")),
    (("--preserve-color", "grey"), ("--preserve-color", "invalid choice")),
    (("--scales", "32,16"), ("--scales", "increase")),
    (("--scales", "16,x"), ("--scales", "'x'")),
    (("--scales", "0,32"), ("--scales", "whole number 1 or more")),
    (("--scale-steps", "2,1"), ("--scale-steps needs --scales",)),
    (("--style", ","), ("--style", "image name")),
])
def test_bad_values(cli, tmp_path, argv, fragments):
    out = tmp_path / "never.png"
    with unchanged(out):
        assert_cli_error(cli("transfer", *argv, *FAST, *SHALLOW, "-o", out), *fragments)


@pytest.mark.parametrize("argv, fragments", [
    (("--scales", "16,32", "--size", "32"), ("--size or --scales",)),
    (("--scales", "16,32", "--scale-steps", "1,2,3"), ("Got 3 step counts for 2 scales",)),
])
def test_bad_scale_combinations(cli, tmp_path, argv, fragments):
    out = tmp_path / "never.png"
    assert_cli_error(cli("transfer", *argv, *NO_SIZE, *SHALLOW, "-o", out), *fragments)
    assert not out.exists()


def test_bad_masks(cli, files):
    out = files / "never.png"
    styles = ("--content", files / "c.png", "--style", files / "s1.png", "--style",
              files / "s2.png")
    # Another shape than the content.
    Image.fromarray(np.zeros((30, 30), np.uint8), mode="L").save(files / "square.png")
    # Three grey levels for two styles.
    three = np.zeros((24, 36), np.uint8)
    three[:, 12:] = 100
    three[:, 24:] = 200
    Image.fromarray(three, mode="L").save(files / "three.png")
    # Region 2 is one pixel, lost when the mask is shrunk to the content's 32×21.
    speck = np.zeros((48, 72), np.uint8)
    speck[2, 2] = 255
    Image.fromarray(speck, mode="L").save(files / "speck.png")
    cases = [
        ((*styles, "--mask", files / "missing.png"), ("No such file",)),
        ((*styles, "--mask", files / "square.png"), ("another shape than the content",)),
        ((*styles, "--mask", files / "three.png"), ("3 grey levels", "2 style images")),
        ((*styles, "--mask", files / "speck.png"), ("Region 2 of 2 is empty",)),
        ((*styles, "--mask", files / "mask.png", "--style-blend", "0.5,0.5"),
         ("--style-blend or --mask",)),
        (("--content", files / "c.png", "--style", files / "s1.png", "--mask",
          files / "mask.png"), ("2 grey levels", "1 style image")),
    ]
    for argv, fragments in cases:
        assert_cli_error(cli("transfer", *argv, *FAST, *SHALLOW, "-o", out), *fragments)
        assert not out.exists()


def test_style_scale_too_small_for_the_layers(cli, files):
    """A style scaled below what the deepest layer needs fails before VGG19 runs."""
    out = files / "never.png"
    result = cli("transfer", "--content", files / "c.png", "--style", files / "s1.png",
                 "--style-scale", "0.1", *FAST, "--content-layer", "relu1_1",
                 "--style-layers", "relu1_1,relu3_1", "-o", out)
    assert_cli_error(result, "too small", "relu3_1")
    assert not out.exists()
