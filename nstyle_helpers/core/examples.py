"""The example images, by name: manifest, download, sha256 check, cache.

The images are not part of the repository (their licences differ, see ``images/CREDITS.md``).
The manifest, ``example_images.json`` beside this module (package data, so an installed wheel
has it too), names each one with a pinned URL and its sha256; the first use downloads it with a
progress bar into the cache folder, checks the hash, and keeps it.

The cache folder is ``$NSTYLE_IMAGE_DIR``; else, in a checkout of the repository, its
``images/`` (git-ignored); else, for an installed package, the user's cache folder
(:func:`~nstyle_helpers.base.environment.user_cache_dir`). To work offline, copy the files there
by hand: a file whose sha256 matches is used as is.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path


from ..base.errors import ImageError
from ..base.environment import IMAGE_DIR_ENV, image_dir_setting, progress_bar, user_cache_dir
from .images import refuse_url

__all__ = ["IMAGE_DIR_ENV", "ExampleImage", "example_names", "example_image_path", "image_path",
           "cached_examples"]


_MANIFEST = Path(__file__).resolve().parent / "example_images.json"
#: The checkout's images/ folder (it holds CREDITS.md); an installed package has none.
_CHECKOUT_IMAGES = Path(__file__).resolve().parents[2] / "images"


@dataclass(frozen=True)
class ExampleImage:
    """One entry of the manifest, ``example_images.json``."""

    name: str
    file: str
    url: str
    sha256: str
    credit: str


def _manifest() -> dict[str, ExampleImage]:
    entries = json.loads(_MANIFEST.read_text(encoding="utf-8"))
    return {name: ExampleImage(name=name, file=e["file"], url=e["url"], sha256=e["sha256"],
                               credit=e["credit"]) for name, e in entries.items()}


def example_names() -> list[str]:
    """The names of the example images, e.g. ``['great_wave', 'starry_night', ...]``."""
    return list(_manifest())


def cache_dir() -> Path:
    """The folder example images are cached in: ``$NSTYLE_IMAGE_DIR``, else the checkout's
    ``images/``, else the user's cache folder (an installed package)."""
    if image_dir_setting():
        return Path(image_dir_setting())
    if (_CHECKOUT_IMAGES / "CREDITS.md").is_file():
        return _CHECKOUT_IMAGES
    return user_cache_dir() / "images"


def cached_examples() -> dict[str, str]:
    """Each example's state in the cache, downloading nothing: ``"ok"``, ``"missing"`` or
    ``"checksum differs"`` (it will be fetched again on first use)."""
    folder = cache_dir()
    states = {}
    for name, entry in _manifest().items():
        path = folder / entry.file
        states[name] = ("missing" if not path.is_file() else
                        "ok" if _sha256(path) == entry.sha256 else "checksum differs")
    return states


def example_image_path(name: str, *, progress: bool = True) -> Path:
    """Return the local path of example image ``name``, downloading it on first use.

    A cached file is used only if its sha256 matches the manifest; otherwise it is fetched
    again. A download that is truncated or whose sha256 does not match is deleted and
    raises, so a damaged file never stays in the cache.

    Raises:
        ImageError: unknown name, or the download failed or did not match.
    """
    manifest = _manifest()
    if name not in manifest:
        raise ImageError(f"Unknown example image {name!r}; the examples are: "
                         f"{', '.join(manifest)} (or give the path of an image file).")
    entry = manifest[name]
    folder = cache_dir()
    target = folder / entry.file
    cached = target.is_file()
    if cached and _sha256(target) == entry.sha256:
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # e.g. $NSTYLE_IMAGE_DIR names a file or a read-only place
        raise ImageError(f"Cannot create the image cache folder {folder} "
                         f"({error.strerror or error}); set {IMAGE_DIR_ENV} to a writable "
                         "folder.") from None
    try:
        _download(entry, target, progress=progress)
    except ImageError as error:
        if not cached:
            raise
        # The file is there, only wrong: say so first, then why no fresh copy came.
        raise ImageError(f"{target} is there but its sha256 does not match the package's "
                         "example_images.json (a damaged or different file), and a fresh copy "
                         f"could not be fetched: {error} Replace the file with the right one, "
                         "or delete it.") from None
    return target


def image_path(name_or_path: str | os.PathLike, *, progress: bool = True) -> Path:
    """Resolve a command-line style image argument: an example name or a file path.

    An existing file wins; a bare word without an extension is taken as an example name.
    """
    refuse_url(name_or_path)
    if not str(name_or_path).strip():
        raise ImageError("The image name is empty; give an example "
                         f"({', '.join(example_names())}) or a file path.")
    path = Path(name_or_path)
    if path.exists() or path.suffix or len(path.parts) > 1:
        return path
    return example_image_path(str(name_or_path), progress=progress)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(entry: ExampleImage, target: Path, *, progress: bool) -> None:
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(entry.url, timeout=60) as response, \
                open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with progress_bar(enabled=progress, total=total, unit="B", unit_scale=True,
                      desc=f"downloading {entry.file}") as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    bar.update(len(block))
        if total is not None and partial.stat().st_size != total:
            raise ImageError(
                f"The download of {entry.name} from {entry.url} stopped after "
                f"{partial.stat().st_size} of {total} bytes; try again later, or copy "
                f"{entry.file} into {target.parent} by hand.")
        if _sha256(partial) != entry.sha256:
            raise ImageError(
                f"The download of {entry.name} from {entry.url} does not match its sha256 "
                "in the package's example_images.json, so it was deleted; try again later, or "
                f"copy the right {entry.file} into {target.parent} by hand.")
        os.replace(partial, target)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        raise ImageError(
            f"Could not download example image {entry.name} from {entry.url} "
            f"({getattr(error, 'reason', error)}); check your internet connection, or work "
            f"offline by copying {entry.file} into {target.parent} (or $NSTYLE_IMAGE_DIR)."
        ) from None
    finally:
        partial.unlink(missing_ok=True)
