"""Uploaded images: bytes go through the same decoding and checks as a file.

:func:`nstyle_helpers.core.images.load_image_bytes` shares :func:`load_image`'s code path, so the
two must agree on every kind of file;
:func:`nstyle_helpers.teaching.widgets.uploaded_image` reads an
``ipywidgets.FileUpload`` value (ipywidgets 8: a tuple of dicts with ``name`` and
``content``). The explorer's upload buttons are tested in ``test_widgets_transfer.py``.
"""

from __future__ import annotations

import datetime
import io

import numpy as np
import pytest
import torch
from PIL import Image

import nstyle_helpers as nh
from helpers import cut_in_half, write_big_bilevel_png, write_mode_images, write_rgb_png
from nstyle_helpers.core.images import load_image, load_image_bytes
from nstyle_helpers.teaching.widgets import uploaded_image


def upload_value(name: str, data: bytes) -> tuple[dict, ...]:
    """What ``FileUpload.value`` holds after a browser uploaded one file (ipywidgets 8)."""
    return ({"name": name, "type": "", "size": len(data), "content": memoryview(data),
             "last_modified": datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc)},)


def jpeg_with_orientation(orientation: int) -> bytes:
    """A 20 × 10 JPEG whose left half is red, right half blue, with an EXIF orientation."""
    pixels = np.zeros((10, 20, 3), np.uint8)
    pixels[:, :10] = (255, 0, 0)
    pixels[:, 10:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95, exif=exif)
    return buffer.getvalue()


def test_bytes_and_file_give_the_same_tensor_for_every_mode(tmp_path):
    for mode, image in write_mode_images(tmp_path).items():
        from_file = load_image(image.path)
        from_bytes = load_image_bytes(image.path.read_bytes(), image.path.name)
        assert torch.equal(from_bytes, from_file), mode


def test_bytes_are_resized_like_a_file(tmp_path):
    write_rgb_png(tmp_path / "a.png", 24, 32)
    data = (tmp_path / "a.png").read_bytes()
    assert torch.equal(load_image_bytes(data, "a.png", size=16),
                       load_image(tmp_path / "a.png", size=16))
    assert load_image_bytes(memoryview(data), "a.png", size=16).shape == (1, 3, 12, 16)


def test_exif_rotation_is_applied_to_bytes():
    image = load_image_bytes(jpeg_with_orientation(6), "phone.jpg")  # 90° clockwise
    assert image.shape == (1, 3, 20, 10)  # H and W swapped
    top, bottom = image[0, :, 2, 5], image[0, :, -3, 5]
    assert top[0] > 0.8 and top[2] < 0.2  # red on top after turning
    assert bottom[2] > 0.8 and bottom[0] < 0.2


@pytest.mark.parametrize("data, message", [
    (b"", r"empty \(0 bytes\)"),
    (b"<html>not a photo</html>", "not an image that Pillow can read"),
])
def test_bad_bytes_are_one_sentence_naming_the_upload(data, message):
    with pytest.raises(nh.ImageError, match=message) as error:
        load_image_bytes(data, "holiday.jpg")
    assert str(error.value).startswith("holiday.jpg ")


@pytest.mark.parametrize("data, kind", [("holiday.jpg", "str"), (None, "NoneType")])
def test_what_is_not_bytes_gets_one_sentence(data, kind):
    # The package's own name for it: notebooks' uploads call nh.load_image_bytes.
    with pytest.raises(nh.ImageError, match=f"the uploaded file is a {kind}, not a file's bytes"):
        nh.load_image_bytes(data)


def test_saving_a_batch_says_to_index_it(tmp_path):
    with pytest.raises(nh.ImageError, match="take one image, got a batch of 2; index it"):
        nh.save_image(torch.rand(2, 3, 4, 4), tmp_path / "two.png")
    assert list(tmp_path.iterdir()) == []


def test_truncated_and_oversized_bytes_are_refused(tmp_path):
    write_rgb_png(tmp_path / "whole.png", 64, 64)
    half = cut_in_half(tmp_path / "whole.png", tmp_path / "half.png").read_bytes()
    with pytest.raises(nh.ImageError, match="half.png is truncated or damaged"):
        load_image_bytes(half, "half.png")
    big = write_big_bilevel_png(tmp_path / "big.png").read_bytes()
    with pytest.raises(nh.ImageError, match="big.png is too large: 9000×8000 pixels"):
        load_image_bytes(big, "big.png")


def test_uploaded_image_reads_a_file_upload_value(tmp_path):
    write_rgb_png(tmp_path / "mine.png", 24, 32)
    value = upload_value("mine.png", (tmp_path / "mine.png").read_bytes())
    image, name = uploaded_image(value, size=16)
    assert name == "mine.png" and image.shape == (1, 3, 12, 16)
    with pytest.raises(nh.ImageError, match="Nothing was uploaded"):
        uploaded_image(())
