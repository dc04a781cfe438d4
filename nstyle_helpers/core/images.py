"""Images as tensors: load, convert, resize, save, and white noise.

Convention for the whole package: an image batch is a float tensor of shape (N, 3, H, W)
holding RGB values in [0, 1]. A grey image is a 2-D map x_ij of intensities; a colour image
is three such maps x_ijk, one each for red, green and blue (docs/DESIGN.md §1). The blog post
counts intensities 0..255; we divide by 255 because that is what torchvision's VGG19 expects.
"""

from __future__ import annotations

import io
import math
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from ..base.errors import ImageError, OutputError, OutputExistsError, SettingsError
from ..base.validation import validate_size

__all__ = [
    "MAX_IMAGE_PIXELS",
    "load_image",
    "load_image_bytes",
    "pil_to_tensor",
    "refuse_url",
    "resize",
    "to_pil",
    "save_image",
    "write_first_free",
    "save_new_image",
    "validate_image",
    "validate_output_path",
    "validate_writable_path",
    "write_atomically",
    "white_noise",
]

#: Largest image (width × height) that :func:`load_image` opens: 64 megapixels, e.g.
#: 8000 × 8000. Anything larger is refused before it is decoded, which protects against
#: "decompression bombs" (a tiny file that unpacks into gigabytes) and against photos far
#: larger than style transfer can use (we resize to at most a few thousand pixels anyway).
MAX_IMAGE_PIXELS = 64_000_000

# Image formats we write, by file extension.
_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF",
                 ".tiff": "TIFF", ".webp": "WEBP"}


def load_image(path: str | os.PathLike, *, size: int | None = None,
               max_pixels: int = MAX_IMAGE_PIXELS) -> torch.Tensor:
    """Read an image file into a (1, 3, H, W) float tensor with values in [0, 1].

    Args:
        path: an image file Pillow can read (JPEG, PNG, TIFF, WebP, ...).
        size: if given, resize so that the *longer* side is ``size`` pixels, keeping the
            aspect ratio (the convention of Johnson's neural-style ``-image_size``).
        max_pixels: refuse images with more pixels than this (see :data:`MAX_IMAGE_PIXELS`).

    The EXIF orientation tag is applied (phone photos are often stored sideways), and every
    mode becomes RGB: grey and palette images are expanded, transparent images (RGBA, LA,
    palette with transparency) are composited onto white, CMYK is converted, and 16-bit
    *grey* images keep their 16-bit precision. 16-bit *colour* PNGs (48-bit RGB) arrive at
    8 bits per channel: Pillow, which reads them, has no 16-bit RGB mode.

    The result is contiguous in memory (``Image`` → NumPy gives (H, W, 3); it is copied into
    (1, 3, H, W) order, which L-BFGS needs for its flat views of the pixels).

    Raises:
        ImageError: the path is missing, a URL, a folder, empty, not an image, truncated,
            or larger than ``max_pixels``.
        SettingsError: ``size`` is not a whole number from 1 to
            :data:`~nstyle_helpers.base.validation.MAX_SIDE`.

    Example:
        >>> from nstyle_helpers.core.examples import example_image_path
        >>> x = load_image(example_image_path("chicago", progress=False), size=256)
        >>> x.shape
        torch.Size([1, 3, 170, 256])
    """
    if size is not None:
        size = validate_size(size)
    refuse_url(path)
    path = Path(path)
    _check_readable_file(path)
    return _decode(path, path, size, max_pixels)


def load_image_bytes(data: bytes | memoryview, name: str = "the uploaded file", *,
                     size: int | None = None,
                     max_pixels: int = MAX_IMAGE_PIXELS) -> torch.Tensor:
    """Decode an image file's *bytes* (an upload, say) exactly as :func:`load_image` reads a file.

    Args:
        data: the whole file, e.g. an ``ipywidgets.FileUpload`` value's ``content``.
        name: what to call it in error messages, e.g. the uploaded file's name.
        size, max_pixels: as for :func:`load_image`.

    Returns:
        A (1, 3, H, W) float32 tensor in [0, 1], converted and checked as :func:`load_image`
        says (EXIF orientation, every mode, the pixel limit, decompression bombs).

    Raises:
        ImageError: the bytes are empty, not an image, truncated, or too large.

    Example:
        >>> import io
        >>> buffer = io.BytesIO()
        >>> Image.new("L", (4, 2)).save(buffer, format="PNG")
        >>> load_image_bytes(buffer.getvalue(), "grey.png").shape
        torch.Size([1, 3, 2, 4])
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageError(f"{name} is a {type(data).__name__}, not a file's bytes; pass the "
                         "bytes (open(path, 'rb').read()), or use load_image(path) for a path.")
    if size is not None:
        size = validate_size(size)
    if len(data) == 0:
        raise ImageError(f"{name} is empty (0 bytes); download or export the image again.")
    return _decode(io.BytesIO(data), name, size, max_pixels)


def _decode(source: Path | io.BytesIO, name, size: int | None, max_pixels: int) -> torch.Tensor:
    """Open ``source`` (a file or bytes) with Pillow under the pixel limit: (1, 3, H, W).

    ``name`` (the path, or an upload's name) is what the error messages call it.
    """
    try:
        with warnings.catch_warnings():
            # We apply our own, lower limit below; Pillow's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageError(_too_large(name, width * height, max_pixels,
                                                f"{width}×{height} pixels"))
                image.load()
                image_tensor = pil_to_tensor(image)
    except Image.DecompressionBombError as error:
        # Pillow refused before we saw the size: its message holds the pixel count.
        count = re.search(r"\((\d+) pixels\)", str(error))
        pixels = int(count.group(1)) if count else max_pixels + 1
        raise ImageError(_too_large(name, pixels, max_pixels, f"{pixels:,} pixels")) \
            from None
    except UnidentifiedImageError:
        raise ImageError(
            f"{name} is not an image that Pillow can read; check that it really is a "
            "JPEG, PNG or other image file and not, say, an HTML page saved under an image name."
        ) from None
    except PermissionError:
        raise ImageError(f"{name} cannot be read: permission denied.") from None
    except OSError as error:
        # Pillow raises OSError("image file is truncated ...") and similar for damaged files.
        raise ImageError(
            f"{name} is truncated or damaged ({error}); download or export it again."
        ) from None
    if size is not None:
        image_tensor = resize(image_tensor, size)
    return image_tensor


def refuse_url(path: str | os.PathLike) -> None:
    """Raise :class:`ImageError` if ``path`` is a URL (``https://...``): only files are read.

    Called on the text as given: ``Path("https://a/b.jpg")`` would already read ``https:/a``.
    """
    text = os.fspath(path)
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text):
        raise ImageError(f"{text} is a URL; URLs are not supported: download the image first "
                         "(in a browser, or with curl -O URL) and give the file's path.")


def _check_readable_file(path: Path) -> None:
    if not path.exists():
        raise ImageError(f"No such file: {path}; check the path and the current folder.")
    if path.is_dir():
        raise ImageError(f"{path} is a folder, not an image file; give the path of an image.")
    if path.stat().st_size == 0:
        raise ImageError(f"{path} is empty (0 bytes); download or export the image again.")


def _too_large(path, pixels: int, max_pixels: int, what: str) -> str:
    return (f"{path} is too large: {what} ({pixels / 1e6:.3g} megapixels) is over the limit "
            f"of {max_pixels / 1e6:g} megapixels; shrink it with an image editor first (style "
            "transfer works at a few hundred to a few thousand pixels anyway).")


def validate_image(image, name: str = "image", *, batch: int | None = 1,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """An image batch as the package computes with it: (N, 3, H, W) ``dtype`` in [0, 1].

    Accepted and converted: a Pillow image (any mode, as :func:`load_image` converts it), a
    (3, H, W) tensor (a batch of one), a uint8 tensor (0..255 ÷ 255), a float32 or float64
    tensor (to ``dtype``, the extractor's: float32 unless you built a float64 one), and a
    non-contiguous tensor (made contiguous: L-BFGS needs flat views of its parameters).
    Refused with one sentence: anything else (a NumPy array, a list), another dtype, another
    shape, not ``batch`` images (``None``: any number), NaN or values outside [0, 1].
    """
    if isinstance(image, Image.Image):
        image = pil_to_tensor(image)
    if isinstance(image, np.ndarray):
        raise ImageError(f"{name} is a NumPy array {image.shape}; pass a tensor, e.g. "
                         "torch.from_numpy(array).permute(2, 0, 1)[None] / 255 for an (H, W, 3) "
                         "uint8 array, or load the file with load_image.")
    if not isinstance(image, torch.Tensor):
        raise ImageError(f"{name} is a {type(image).__name__}; pass an (N, 3, H, W) tensor "
                         "in [0, 1], e.g. from load_image.")
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4 or image.shape[1] != 3:
        raise ImageError(f"{name} has shape {tuple(image.shape)}; pass an (N, 3, H, W) RGB "
                         "batch, e.g. load_image(path) (1, 3, H, W).")
    if batch is not None and image.shape[0] != batch:
        raise ImageError(f"{name} holds {image.shape[0]} images; pass {batch}, e.g. "
                         f"{name}[:1].")
    if image.numel() == 0:
        raise ImageError(f"{name} has shape {tuple(image.shape)}, no pixels; pass an image at "
                         "least 1 pixel high and wide.")
    if image.dtype == torch.uint8:
        image = image.float() / 255.0
    if image.dtype not in (torch.float32, torch.float64):
        raise ImageError(f"{name} is {str(image.dtype).replace('torch.', '')}; pass float32 "
                         "values in [0, 1], e.g. image.float().")
    low, high = float(image.detach().min()), float(image.detach().max())
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ImageError(f"{name} contains NaN or infinite values; pass pixel values in [0, 1].")
    if low < 0.0 or high > 1.0:
        hint = " (it looks like 0..255: divide by 255)" if high > 1.5 else ""
        raise ImageError(f"{name} has values from {low:.4g} to {high:.4g}, outside [0, 1]"
                         f"{hint}; pass pixel values in [0, 1], e.g. image.clamp(0, 1).")
    return image.to(dtype).contiguous()


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """A Pillow image (any mode, EXIF orientation applied) as a contiguous (1, 3, H, W)
    float32 tensor in [0, 1]; modes are converted as :func:`load_image` says."""
    pixels = _to_rgb_array(ImageOps.exif_transpose(image))  # (H, W, 3)
    return torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0).contiguous()


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to an (H, W, 3) float32 array in [0, 1]."""
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        # 16-bit grey (PNG and TIFF open as "I;16" or "I"): keep the 16-bit precision.
        grey = np.asarray(image, dtype=np.float32) / 65535.0
        return np.repeat(np.clip(grey, 0.0, 1.0)[:, :, None], 3, axis=2)
    if mode == "F":
        grey = np.asarray(image, dtype=np.float32)
        if grey.max(initial=0.0) > 1.0:  # 32-bit float images come in either range
            grey = grey / 255.0
        return np.repeat(np.clip(grey, 0.0, 1.0)[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        # Transparent pixels have no colour of their own; composite onto white, as a
        # browser would show them on a white page.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    rgb = image.convert("RGB")  # grey, palette, CMYK, YCbCr, LAB, HSV, 1-bit ...
    return np.asarray(rgb, dtype=np.float32) / 255.0


def resize(image: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize an (N, 3, H, W) batch: to a longer side of ``size`` pixels, or to (H, W).

    An int keeps the aspect ratio (the shorter side is rounded, at least 1 pixel); a pair
    gives the exact height and width. Uses antialiased bicubic interpolation, clamped back
    to [0, 1].
    """
    height, width = image.shape[-2:]
    if isinstance(size, tuple):
        new_hw = size
    elif isinstance(size, int) and not isinstance(size, bool) and size > 0:
        scale = size / max(height, width)
        new_hw = (max(1, round(height * scale)), max(1, round(width * scale)))
    else:
        raise SettingsError(f"size must be a positive whole number of pixels, not {size!r}.")
    if new_hw[0] * new_hw[1] > MAX_IMAGE_PIXELS:
        raise SettingsError(f"Resizing to {new_hw[1]}×{new_hw[0]} pixels would give "
                            f"{new_hw[0] * new_hw[1] / 1e6:.0f} megapixels, over the limit of "
                            f"{MAX_IMAGE_PIXELS / 1e6:g}; use a smaller size.")
    if tuple(new_hw) == (height, width):
        return image
    resized = F.interpolate(image, size=tuple(new_hw), mode="bicubic", antialias=True,
                            align_corners=False)
    return resized.clamp_(0.0, 1.0)


def to_pil(image: torch.Tensor) -> Image.Image:
    """Convert a (3, H, W) or (1, 3, H, W) tensor in [0, 1] to an 8-bit RGB Pillow image."""
    if image.dim() == 4:
        if image.shape[0] != 1:
            raise ImageError(f"to_pil and save_image take one image, got a batch of "
                             f"{image.shape[0]}; index it first, e.g. images[0].")
        image = image[0]
    if image.dim() != 3 or image.shape[0] != 3:
        raise ImageError(f"expected an image of shape (3, H, W), got {tuple(image.shape)}.")
    pixels = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    return Image.fromarray(pixels.permute(1, 2, 0).cpu().numpy(), mode="RGB")


def validate_output_path(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Check, before any long computation, that ``path`` can be written.

    Raises:
        OutputError: the folder is missing or read-only, the path is a folder, the file
            exists and ``overwrite`` is false, or the extension is not an image format.
    """
    path = Path(path)
    if path.suffix.lower() not in _SAVE_FORMATS:
        raise OutputError(f"Cannot write {path}: unknown image extension "
                          f"{path.suffix or '(none)'}; use .png or .jpg.")
    return validate_writable_path(path, overwrite=overwrite)


def validate_writable_path(path: Path, *, overwrite: bool = False) -> Path:
    """The checks of :func:`validate_output_path` other than the extension's, for any file.

    Raises:
        OutputError: the folder is missing or read-only, the path is a folder, or the file
            exists and ``overwrite`` is false (:class:`OutputExistsError`).
    """
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"Cannot write {path}: the folder {parent} does not exist; "
                          "create it first or choose another output path.")
    if path.is_dir():
        raise OutputError(f"Cannot write {path}: it is a folder; give a file name such as "
                          f"{path / ('result' + (path.suffix or '.png'))}.")
    if os.path.lexists(path) and not overwrite:  # a dangling link too: linking onto it fails
        raise OutputExistsError(path)
    if not os.access(parent, os.W_OK):
        raise OutputError(f"Cannot write {path}: the folder {parent} is read-only.")
    return path


def save_image(image: torch.Tensor, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write a (3, H, W) or (1, 3, H, W) image to ``path`` atomically.

    The image is written to a temporary file in the same folder and then renamed into
    place, so ``path`` never holds a half-written file, even if the process is killed.
    An existing file is never replaced unless ``overwrite`` is true (and even then only by
    a complete new file). Returns the path written.

    Raises:
        OutputError: as :func:`validate_output_path`, or the write itself failed.
    """
    path = validate_output_path(path, overwrite=overwrite)
    pil_image = to_pil(image)
    fmt = _SAVE_FORMATS[path.suffix.lower()]
    return write_atomically(path, lambda file: pil_image.save(file, format=fmt),
                            overwrite=overwrite)


def write_atomically(path: Path, write: Callable[[BinaryIO], None], *,
                     overwrite: bool = False) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then move it into place.

    ``path`` never holds a half-written file, and an existing one is only replaced when
    ``overwrite`` is true: without it the file is put in place with ``os.link``, which fails
    if ``path`` appeared meanwhile (an atomic "create, never clobber"). The temporary file
    is removed whatever happens. Returns ``path``.

    Raises:
        OutputError: the folder is read-only, or the write failed;
            :class:`OutputExistsError` if ``path`` exists and ``overwrite`` is false.
    """
    try:
        handle, temp_name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".part",
                                             dir=path.parent)
    except PermissionError:
        raise OutputError(f"Cannot write {path}: the folder {path.parent} is read-only.") from None
    try:
        with os.fdopen(handle, "wb") as temp_file:
            write(temp_file)
        # mkstemp creates the file readable by its owner only; give it the usual mode.
        os.chmod(temp_name, 0o666 & ~_current_umask())
        if overwrite:
            os.replace(temp_name, path)
        else:
            os.link(temp_name, path)
    except FileExistsError:
        raise OutputExistsError(path) from None
    except OSError as error:
        raise OutputError(f"Cannot write {path}: {error.strerror or error}.") from None
    finally:
        if os.path.exists(temp_name):
            os.unlink(temp_name)
    return path


def save_new_image(image: torch.Tensor, folder: str | os.PathLike, stem: str,
                   suffix: str = ".png") -> Path:
    """Save ``image`` under the first free name ``STEM.png``, ``STEM-2.png``, ... in ``folder``.

    The name is claimed atomically when the file is written (see :func:`save_image`): if
    another run takes a name meanwhile, the next free one is used, so two runs started
    together never lose a result. Returns the path written.
    """
    return write_first_free(folder, stem, suffix, lambda path: save_image(image, path))


def write_first_free(folder: str | os.PathLike, stem: str, suffix: str,
                     write: Callable[[Path], Path]) -> Path:
    """``write(path)`` for the first free name ``STEM+suffix``, ``STEM-2+suffix``, ... in
    ``folder``; ``write`` must refuse a taken name with :class:`OutputExistsError` (as
    :func:`save_image` and :func:`write_atomically` do), and the next name is tried."""
    folder = Path(folder)
    n = 1
    while True:
        candidate = folder / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
        if not os.path.lexists(candidate):  # a dangling link takes a name too
            try:
                return write(candidate)
            except OutputExistsError:
                pass  # taken between the check and the write: try the next name
        n += 1


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def white_noise(height: int, width: int, *, batch: int = 1, seed: int | None = None,
                std: float = 0.25, device: torch.device | str | None = None) -> torch.Tensor:
    """White noise as the blog post defines it: an (N, 3, H, W) tensor in [0, 1].

    Every pixel is drawn independently from a normal distribution centred at 0.5 (the
    blog post's 255/2) and *truncated* to [0, 1]: values outside are redrawn, not clipped, so
    there is no pile-up of pure black and white pixels. The blog post gives no spread; we use
    ``std=0.25`` (64 in 0..255 units), wide enough to look like noise, narrow enough that
    few draws are rejected.

    The noise is drawn on the CPU from its own generator and then moved to ``device``, so
    the same seed gives the same picture on every device.

    Example:
        >>> x = white_noise(4, 5, seed=0)
        >>> x.shape, bool(x.min() >= 0), bool(x.max() <= 1)
        (torch.Size([1, 3, 4, 5]), True, True)
    """
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    noise = torch.empty(batch, 3, height, width)
    torch.nn.init.trunc_normal_(noise, mean=0.5, std=std, a=0.0, b=1.0, generator=generator)
    return noise.to(device) if device is not None else noise
