"""images.py: loading every kind of image file, saving atomically, white noise, bad input."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import (REPO_IMAGES, cut_in_half, write_big_bilevel_png, write_mode_images,
                     write_rgb_png)
from nstyle_helpers.core import images
from nstyle_helpers.base.errors import ImageError, NstyleError, OutputError
from nstyle_helpers.core.images import (MAX_IMAGE_PIXELS, validate_output_path, load_image,
                                        save_image, white_noise)

# ------------------------------------------------------------------------------------------
# load_image


def test_load_image_shape_dtype_range(tmp_path):
    """A PNG loads as a (1, 3, H, W) float32 tensor in [0, 1] holding the file's pixels/255."""
    pixels = write_rgb_png(tmp_path / "a.png", height=20, width=30)
    x = load_image(tmp_path / "a.png")
    assert x.shape == (1, 3, 20, 30)
    assert x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1
    expected = torch.from_numpy(pixels).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(x[0], expected)


@pytest.mark.parametrize("height, width, size, expected", [
    (20, 40, 16, (8, 16)),    # landscape: the width becomes 16
    (40, 20, 16, (16, 8)),    # portrait: the height becomes 16
    (30, 30, 12, (12, 12)),   # square
    (22, 64, 32, (11, 32)),   # aspect kept: 22 × 32/64 = 11
])
def test_load_image_size_is_longer_side(tmp_path, height, width, size, expected):
    """``size`` sets the longer side and keeps the aspect ratio; values stay in [0, 1]."""
    write_rgb_png(tmp_path / "a.png", height=height, width=width)
    x = load_image(tmp_path / "a.png", size=size)
    assert tuple(x.shape) == (1, 3, *expected)
    assert x.min() >= 0 and x.max() <= 1


@pytest.mark.parametrize("size", [0, -3, "abc", 2.5, True])
def test_load_image_rejects_bad_size(tmp_path, size):
    """A size that is not a positive whole number raises ValueError saying so."""
    write_rgb_png(tmp_path / "a.png", height=8, width=8)
    with pytest.raises(ValueError, match="size must be a whole number of pixels from 1 to 16000"):
        load_image(tmp_path / "a.png", size=size)


def test_load_image_size_on_a_real_example():
    """The cached chicago.jpg (712×474) loads at size 64 as 64 wide, 43 high."""
    x = load_image(REPO_IMAGES / "chicago.jpg", size=64)
    assert x.shape == (1, 3, 43, 64)


def _quadrant_jpeg(path, orientation):
    """A 32×16 (W×H) JPEG with red / green / blue / white quadrants and an EXIF orientation."""
    pixels = np.zeros((16, 32, 3), np.uint8)
    pixels[:8, :16] = (255, 0, 0)      # top-left red
    pixels[:8, 16:] = (0, 255, 0)      # top-right green
    pixels[8:, :16] = (0, 0, 255)      # bottom-left blue
    pixels[8:, 16:] = (255, 255, 255)  # bottom-right white
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    Image.fromarray(pixels).save(path, quality=95, exif=exif)


def _mean_colour(x, rows, cols):
    return x[0, :, rows, cols].mean(dim=(1, 2))


def test_load_image_applies_exif_orientation_6(tmp_path):
    """Orientation 6 (rotate 90° clockwise): H and W swap and every quadrant moves round."""
    _quadrant_jpeg(tmp_path / "phone.jpg", orientation=6)
    with Image.open(tmp_path / "phone.jpg") as raw:
        assert raw.size == (32, 16)  # stored sideways: 32 wide, 16 high
    x = load_image(tmp_path / "phone.jpg")
    assert x.shape == (1, 3, 32, 16)  # shown upright: 16 wide, 32 high
    top, bottom = slice(2, 14), slice(18, 30)
    left, right = slice(2, 6), slice(10, 14)
    red, green, blue, white = (torch.tensor(c, dtype=torch.float32) for c in
                               ((1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1)))
    # Rotating clockwise: stored top-left -> top-right, top-right -> bottom-right,
    # bottom-right -> bottom-left, bottom-left -> top-left.
    torch.testing.assert_close(_mean_colour(x, top, right), red, atol=0.08, rtol=0)
    torch.testing.assert_close(_mean_colour(x, bottom, right), green, atol=0.08, rtol=0)
    torch.testing.assert_close(_mean_colour(x, bottom, left), white, atol=0.08, rtol=0)
    torch.testing.assert_close(_mean_colour(x, top, left), blue, atol=0.08, rtol=0)


def test_load_image_without_exif_rotation_keeps_layout(tmp_path):
    """Orientation 1 (upright) leaves the picture as stored: red stays top-left."""
    _quadrant_jpeg(tmp_path / "upright.jpg", orientation=1)
    x = load_image(tmp_path / "upright.jpg")
    assert x.shape == (1, 3, 16, 32)
    torch.testing.assert_close(_mean_colour(x, slice(1, 7), slice(2, 14)),
                               torch.tensor([1.0, 0.0, 0.0]), atol=0.08, rtol=0)


_MODE_OF_FILE = {"L": "L", "1": "1", "P": "P", "P+transparency": "P", "RGBA": "RGBA",
                 "LA": "LA", "CMYK": "CMYK", "I;16": "I;16"}


@pytest.fixture(scope="module")
def mode_images(tmp_path_factory):
    return write_mode_images(tmp_path_factory.mktemp("modes"))


@pytest.mark.parametrize("kind", list(_MODE_OF_FILE))
def test_load_image_converts_every_mode_to_rgb(mode_images, kind):
    """Grey, 1-bit, palette, transparent (composited onto white), CMYK and 16-bit grey
    files all load as RGB with the expected values."""
    item = mode_images[kind]
    with Image.open(item.path) as raw:  # the file really is of that kind
        assert raw.mode == _MODE_OF_FILE[kind]
        if kind == "P+transparency":
            assert "transparency" in raw.info
    x = load_image(item.path)
    assert x.shape == (1, 3, *item.expected.shape[:2])
    assert x.dtype == torch.float32
    got = x[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(got, item.expected, atol=item.atol, rtol=0)


def test_transparent_pixels_become_white_opaque_keep_colour(mode_images):
    """RGBA: the fully transparent red pixel is pure white, an opaque blue one stays blue."""
    x = load_image(mode_images["RGBA"].path)[0]
    assert x[:, 0, 0].tolist() == [1.0, 1.0, 1.0]  # was (255, 0, 0) with alpha 0
    assert x[:, 0, 1].tolist() == [0.0, 0.0, 1.0]  # opaque blue


def test_16_bit_grey_keeps_precision(mode_images):
    """I;16: 32768 maps to ~0.5, and 32768 vs 32896 (one 8-bit level) stay distinct."""
    x = load_image(mode_images["I;16"].path)[0, 0]
    assert x[0, 1].item() == pytest.approx(32768 / 65535, abs=1e-6)
    assert abs(x[0, 1].item() - 0.5) < 1e-4
    assert x[0, 2] > x[0, 1]  # 8-bit conversion would make these equal
    assert (x[0, 2] - x[0, 1]).item() == pytest.approx(128 / 65535, abs=1e-6)
    assert x[0, 3].item() == 1.0 and x[0, 0].item() == 0.0


# ------------------------------------------------------------------------------------------
# load_image: bad input


def test_missing_file(tmp_path):
    """A missing path raises ImageError saying there is no such file."""
    with pytest.raises(ImageError, match="No such file"):
        load_image(tmp_path / "nope.jpg")


def test_folder_instead_of_file(tmp_path):
    """A directory raises ImageError saying it is a folder."""
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path)


def test_empty_file(tmp_path):
    """An empty file raises ImageError saying it is empty."""
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(tmp_path / "empty.png")


def test_not_an_image(tmp_path):
    """HTML bytes under a .jpg name raise ImageError saying it is not an image."""
    (tmp_path / "page.jpg").write_text("<html><body>404 Not Found</body></html>")
    with pytest.raises(ImageError, match="not an image"):
        load_image(tmp_path / "page.jpg")


@pytest.mark.parametrize("source", ["jpg", "png"])
def test_truncated_image(tmp_path, source):
    """A real JPEG or PNG cut in half raises ImageError saying it is truncated."""
    if source == "jpg":
        original = REPO_IMAGES / "chicago.jpg"
    else:
        write_rgb_png(tmp_path / "whole.png", height=64, width=64)
        original = tmp_path / "whole.png"
    half = cut_in_half(original, tmp_path / f"half.{source}")
    with pytest.raises(ImageError, match="truncated"):
        load_image(half)


def test_image_over_max_pixels(tmp_path):
    """A 9000×8000 1-bit PNG (72 Mpx > 64 Mpx) is refused before decoding, with its size."""
    big = write_big_bilevel_png(tmp_path / "big.png")
    assert big.stat().st_size < 1_000_000  # tiny on disk: a decompression bomb in miniature
    assert 9000 * 8000 > MAX_IMAGE_PIXELS
    with pytest.raises(ImageError, match="9000×8000 pixels") as info:
        load_image(big)
    assert "64 megapixels" in str(info.value)


def test_max_pixels_argument(tmp_path):
    """``max_pixels`` lowers the limit: a 30×24 image passes at 720 and fails at 719."""
    write_rgb_png(tmp_path / "a.png", height=24, width=30)
    assert load_image(tmp_path / "a.png", max_pixels=720).shape == (1, 3, 24, 30)
    with pytest.raises(ImageError, match="is too large: 30×24 pixels .* over the limit"):
        load_image(tmp_path / "a.png", max_pixels=719)


def test_image_errors_are_nstyle_errors_and_value_errors(tmp_path):
    """ImageError is an NstyleError and a ValueError, so callers can catch either."""
    with pytest.raises(NstyleError):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ValueError):
        load_image(tmp_path / "nope.png")


# ------------------------------------------------------------------------------------------
# save_image


def test_save_image_round_trip(tmp_path):
    """save_image writes a PNG of the right size whose pixels are the tensor's within 1/255."""
    x = torch.rand(1, 3, 20, 30, generator=torch.Generator().manual_seed(0))
    written = save_image(x, tmp_path / "out.png")
    assert written == tmp_path / "out.png"
    with Image.open(written) as png:
        assert png.format == "PNG" and png.mode == "RGB" and png.size == (30, 20)
        pixels = torch.from_numpy(np.array(png)).permute(2, 0, 1).float() / 255
    assert (pixels - x[0]).abs().max() <= 0.5 / 255 + 1e-6
    assert (load_image(written) - x).abs().max() <= 1 / 255


def test_save_image_accepts_3d_and_leaves_no_temp_file(tmp_path):
    """A (3, H, W) tensor is saved; only the target is in the folder afterwards (no .part)."""
    save_image(torch.zeros(3, 8, 9), tmp_path / "black.png")
    assert sorted(os.listdir(tmp_path)) == ["black.png"]


def test_save_image_does_not_overwrite(tmp_path):
    """An existing file is not replaced without overwrite=True; its bytes stay the same."""
    target = tmp_path / "out.png"
    save_image(torch.zeros(1, 3, 8, 8), target)
    before = target.read_bytes()
    with pytest.raises(OutputError, match="already exists"):
        save_image(torch.ones(1, 3, 8, 8), target)
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["out.png"]


def test_save_image_overwrite_replaces(tmp_path):
    """With overwrite=True the existing file is replaced by the new picture."""
    target = tmp_path / "out.png"
    save_image(torch.zeros(1, 3, 8, 8), target)
    save_image(torch.ones(1, 3, 8, 8), target, overwrite=True)
    assert load_image(target).min().item() == 1.0
    assert sorted(os.listdir(tmp_path)) == ["out.png"]


def _failing_save(self, fp, *args, **kwargs):
    fp.write(b"\x89PNG half a picture")
    raise OSError(28, "No space left on device")


def test_failure_while_writing_leaves_nothing(tmp_path, monkeypatch):
    """A write that fails half-way raises OutputError and leaves neither target nor temp file."""
    monkeypatch.setattr(Image.Image, "save", _failing_save)
    with pytest.raises(OutputError, match="No space left on device"):
        save_image(torch.zeros(1, 3, 8, 8), tmp_path / "out.png")
    assert os.listdir(tmp_path) == []


def test_failure_while_overwriting_keeps_old_file(tmp_path, monkeypatch):
    """With overwrite=True a failed write leaves the old file intact and no temp file."""
    target = tmp_path / "out.png"
    save_image(torch.zeros(1, 3, 8, 8), target)
    before = target.read_bytes()
    monkeypatch.setattr(Image.Image, "save", _failing_save)
    with pytest.raises(OutputError):
        save_image(torch.ones(1, 3, 8, 8), target, overwrite=True)
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["out.png"]


def test_interrupt_while_writing_removes_temp_file(tmp_path, monkeypatch):
    """Ctrl-C during the write propagates, and the temporary file is still removed."""
    def interrupted(self, fp, *args, **kwargs):
        fp.write(b"partial")
        raise KeyboardInterrupt
    monkeypatch.setattr(Image.Image, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_image(torch.zeros(1, 3, 8, 8), tmp_path / "out.png")
    assert os.listdir(tmp_path) == []


def test_output_in_missing_folder(tmp_path):
    """A path in a folder that does not exist raises OutputError naming the folder."""
    with pytest.raises(OutputError, match="does not exist"):
        save_image(torch.zeros(1, 3, 4, 4), tmp_path / "missing" / "out.png")
    assert not (tmp_path / "missing").exists()


def test_output_in_read_only_folder_checked_up_front(tmp_path, monkeypatch):
    """validate_output_path reports a read-only folder.

    Tests run as root, for whom chmod does not stop writes, so os.access is made to report
    the folder as not writable instead.
    """
    real_access = os.access
    monkeypatch.setattr(images.os, "access", lambda p, mode, *a, **k: (
        False if (mode & os.W_OK and os.fspath(p) == os.fspath(tmp_path))
        else real_access(p, mode, *a, **k)))
    with pytest.raises(OutputError, match="read-only"):
        validate_output_path(tmp_path / "out.png")
    with pytest.raises(OutputError, match="read-only"):
        save_image(torch.zeros(1, 3, 4, 4), tmp_path / "out.png")
    assert os.listdir(tmp_path) == []


def test_output_in_read_only_folder_at_write_time(tmp_path, monkeypatch):
    """If creating the temporary file is refused, save_image raises OutputError (read-only).

    Tests run as root, where a chmod-ed folder is still writable, so tempfile.mkstemp is
    made to raise the PermissionError a real read-only folder gives.
    """
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match="read-only"):
        save_image(torch.zeros(1, 3, 4, 4), tmp_path / "out.png")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name, message", [("out.txt", "unknown image extension"),
                                           ("out", "unknown image extension")])
def test_output_with_unknown_extension(tmp_path, name, message):
    """A non-image extension is refused before anything is written."""
    with pytest.raises(OutputError, match=message):
        save_image(torch.zeros(1, 3, 4, 4), tmp_path / name)
    assert os.listdir(tmp_path) == []


def test_output_path_is_a_folder(tmp_path):
    """A folder whose name ends in .png is refused as output."""
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        validate_output_path(tmp_path / "dir.png", overwrite=True)


def test_save_jpeg(tmp_path):
    """A .jpg path is written as a JPEG of the right size."""
    save_image(torch.full((1, 3, 10, 12), 0.5), tmp_path / "out.jpg")
    with Image.open(tmp_path / "out.jpg") as jpeg:
        assert jpeg.format == "JPEG" and jpeg.size == (12, 10)


# ------------------------------------------------------------------------------------------
# white_noise


def test_white_noise_shape_and_range():
    """white_noise gives an (N, 3, H, W) float tensor inside [0, 1]."""
    x = white_noise(7, 9, batch=2, seed=0)
    assert x.shape == (2, 3, 7, 9) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1


def test_white_noise_seeded():
    """The same seed gives the same noise, whatever the global RNG; other seeds differ."""
    a = white_noise(16, 16, seed=3)
    torch.manual_seed(12345)  # the global generator must not matter
    b = white_noise(16, 16, seed=3)
    c = white_noise(16, 16, seed=4)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(white_noise(16, 16), white_noise(16, 16))  # unseeded differ


def test_white_noise_centred_and_truncated_not_clipped():
    """Mean ≈ 0.5, and no pile-up of exact 0s or 1s (values are redrawn, not clipped)."""
    x = white_noise(64, 64, batch=2, seed=0)  # 24 576 values
    assert x.mean().item() == pytest.approx(0.5, abs=0.01)
    # A normal(0.5, 0.25) clipped to [0, 1] would put ~2.3 % of the values at each end.
    assert (x == 0).sum().item() == 0 and (x == 1).sum().item() == 0
    assert (x < 0.01).float().mean().item() < 0.005
    assert (x > 0.99).float().mean().item() < 0.005
    # The spread of a normal with std 0.25 truncated at ±2 std is 0.22.
    assert x.std().item() == pytest.approx(0.22, abs=0.01)


def test_white_noise_same_values_on_any_device_request():
    """Asking for the CPU by name or torch.device gives the seed's values, on the CPU."""
    reference = white_noise(8, 8, seed=5)
    for device in ("cpu", torch.device("cpu")):
        x = white_noise(8, 8, seed=5, device=device)
        assert x.device.type == "cpu"
        assert torch.equal(x, reference)
