"""examples.py: example images by name, downloaded from a loopback server, checked, cached.

No test reaches the internet: downloads come from an http.server on 127.0.0.1 that the
``loopback_server`` fixture starts and always stops.
"""

from __future__ import annotations

import hashlib
import json
import socket
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from helpers import REPO, SHARED_IMAGES, Route, loopback_server  # noqa: F401 (fixture)
from nstyle_helpers.core import examples
from nstyle_helpers.base.errors import ImageError
from nstyle_helpers.core.examples import example_image_path, example_names, image_path

MANIFEST = REPO / "nstyle_helpers" / "core" / "example_images.json"

CHICAGO = (SHARED_IMAGES / "chicago.jpg").read_bytes()
CHICAGO_SHA = hashlib.sha256(CHICAGO).hexdigest()


def _write_manifest(path: Path, entries: dict[str, dict]) -> Path:
    path.write_text(json.dumps({
        name: {"file": e["file"], "url": e["url"], "sha256": e["sha256"], "credit": "test"}
        for name, e in entries.items()}))
    return path


@pytest.fixture
def temp_examples(tmp_path, monkeypatch, loopback_server):
    """A temporary manifest pointing at the loopback server, and an empty cache folder.

    ``chicago`` is served correctly; ``damaged`` declares a sha256 the bytes do not have;
    ``cut`` promises more bytes than it sends, then closes the connection.
    """
    cache = tmp_path / "cache"
    monkeypatch.setenv(examples.IMAGE_DIR_ENV, str(cache))
    server = loopback_server
    server.routes.update({
        "/chicago.jpg": Route(CHICAGO),
        "/damaged.jpg": Route(CHICAGO),
        "/cut.jpg": Route(CHICAGO[:5000], content_length=len(CHICAGO)),
    })
    manifest = _write_manifest(tmp_path / "manifest.json", {
        "chicago": {"file": "chicago.jpg", "url": server.url("/chicago.jpg"),
                    "sha256": CHICAGO_SHA},
        "damaged": {"file": "damaged.jpg", "url": server.url("/damaged.jpg"),
                    "sha256": "0" * 64},
        "cut": {"file": "cut.jpg", "url": server.url("/cut.jpg"), "sha256": CHICAGO_SHA},
    })
    monkeypatch.setattr(examples, "_MANIFEST", manifest)
    return server, cache


def test_first_use_downloads_and_caches(temp_examples):
    """The first call downloads into the cache folder; the file has the manifest's sha256."""
    server, cache = temp_examples
    path = example_image_path("chicago", progress=False)
    assert path == cache / "chicago.jpg"
    assert path.read_bytes() == CHICAGO
    assert server.requests == ["/chicago.jpg"]
    assert sorted(p.name for p in cache.iterdir()) == ["chicago.jpg"]  # no .part left


def test_second_use_does_not_touch_the_network(temp_examples):
    """Once cached, the image is returned with the server stopped and no new request."""
    server, cache = temp_examples
    first = example_image_path("chicago", progress=False)
    server.stop()
    assert example_image_path("chicago", progress=False) == first
    assert server.requests == ["/chicago.jpg"]


def test_cached_file_with_wrong_sha256_is_fetched_again(temp_examples):
    """A cached file whose sha256 does not match is replaced by a fresh download."""
    server, cache = temp_examples
    cache.mkdir()
    (cache / "chicago.jpg").write_bytes(b"an old, damaged copy")
    path = example_image_path("chicago", progress=False)
    assert path.read_bytes() == CHICAGO
    assert server.requests == ["/chicago.jpg"]


def test_sha256_mismatch_deletes_download(temp_examples):
    """A download that does not match its sha256 is deleted and raises a clear ImageError."""
    server, cache = temp_examples
    with pytest.raises(ImageError, match="does not match its sha256") as info:
        example_image_path("damaged", progress=False)
    assert "damaged" in str(info.value)
    assert server.requests == ["/damaged.jpg"]
    assert list(cache.iterdir()) == []  # neither damaged.jpg nor damaged.jpg.part


def test_truncated_download_deletes_partial_file(temp_examples):
    """A connection that closes before Content-Length bytes raises ImageError; nothing stays."""
    server, cache = temp_examples
    with pytest.raises(ImageError) as info:
        example_image_path("cut", progress=False)
    message = str(info.value)
    assert "cut" in message and server.url("/cut.jpg") in message
    assert f"stopped after 5000 of {len(CHICAGO)} bytes" in message
    assert "by hand" in message  # says how to get the file another way
    assert list(cache.iterdir()) == []


def test_http_error_raises_image_error(temp_examples, tmp_path, monkeypatch):
    """A 404 from the server raises ImageError that says how to work offline."""
    server, cache = temp_examples
    manifest = _write_manifest(tmp_path / "m404.json", {
        "gone": {"file": "gone.jpg", "url": server.url("/gone.jpg"), "sha256": CHICAGO_SHA}})
    monkeypatch.setattr(examples, "_MANIFEST", manifest)
    with pytest.raises(ImageError, match="offline"):
        example_image_path("gone", progress=False)
    assert not (cache / "gone.jpg").exists()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_says_how_to_work_offline(tmp_path, monkeypatch, loopback_server):
    """Connection refused raises ImageError naming the file, the cache folder and
    NSTYLE_IMAGE_DIR, so the user knows where to copy the image by hand."""
    cache = tmp_path / "cache"
    monkeypatch.setenv(examples.IMAGE_DIR_ENV, str(cache))
    url = f"http://127.0.0.1:{_closed_port()}/chicago.jpg"
    manifest = _write_manifest(tmp_path / "manifest.json", {
        "chicago": {"file": "chicago.jpg", "url": url, "sha256": CHICAGO_SHA}})
    monkeypatch.setattr(examples, "_MANIFEST", manifest)
    with pytest.raises(ImageError) as info:
        example_image_path("chicago", progress=False)
    message = str(info.value)
    assert "offline" in message and "chicago.jpg" in message
    assert str(cache) in message and "NSTYLE_IMAGE_DIR" in message
    assert not (cache / "chicago.jpg").exists() and not (cache / "chicago.jpg.part").exists()


def test_a_cached_file_with_the_wrong_checksum_is_named_and_kept_offline(tmp_path, monkeypatch):
    """Offline, with a damaged cached copy: the message says the file is there and its sha256
    is wrong (not only "could not download"), and the file is left as it was."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "chicago.jpg").write_bytes(b"an old, damaged copy")
    monkeypatch.setenv(examples.IMAGE_DIR_ENV, str(cache))
    url = f"http://127.0.0.1:{_closed_port()}/chicago.jpg"
    monkeypatch.setattr(examples, "_MANIFEST", _write_manifest(tmp_path / "manifest.json", {
        "chicago": {"file": "chicago.jpg", "url": url, "sha256": CHICAGO_SHA}}))
    with pytest.raises(ImageError) as info:
        example_image_path("chicago", progress=False)
    message = str(info.value)
    assert message.startswith(f"{cache / 'chicago.jpg'} is there but its sha256 does not match")
    assert "Could not download" in message and message.endswith("or delete it.")
    assert (cache / "chicago.jpg").read_bytes() == b"an old, damaged copy"


def test_cache_folder_that_cannot_be_created(temp_examples, tmp_path, monkeypatch):
    """NSTYLE_IMAGE_DIR naming a file raises ImageError naming the folder and the variable."""
    server, _ = temp_examples
    (tmp_path / "a_file").write_text("x")
    monkeypatch.setenv(examples.IMAGE_DIR_ENV, str(tmp_path / "a_file"))
    with pytest.raises(ImageError, match="Cannot create the image cache folder") as info:
        example_image_path("chicago", progress=False)
    assert str(tmp_path / "a_file") in str(info.value)
    assert "NSTYLE_IMAGE_DIR" in str(info.value)
    assert server.requests == []


def test_unknown_example_lists_the_valid_names(temp_examples):
    """An unknown name raises ImageError listing every example name."""
    server, _ = temp_examples
    with pytest.raises(ImageError, match="Unknown example image 'chicgo'") as info:
        example_image_path("chicgo", progress=False)
    for name in ("chicago", "damaged", "cut"):
        assert name in str(info.value)
    assert server.requests == []


def test_example_names_follow_the_manifest(temp_examples):
    """example_names() returns the manifest's names, in order."""
    assert example_names() == ["chicago", "damaged", "cut"]


def test_image_path_resolves_names_and_paths(temp_examples, tmp_path, monkeypatch):
    """image_path: an existing file wins, a word with an extension or a folder part is a
    path (even if missing), and a bare word is an example name."""
    server, cache = temp_examples
    monkeypatch.chdir(tmp_path)
    (tmp_path / "chicago").write_bytes(b"a local file called chicago")
    assert image_path("chicago", progress=False) == Path("chicago")  # the existing file
    assert image_path("missing.jpg", progress=False) == Path("missing.jpg")
    assert image_path("sub/missing", progress=False) == Path("sub/missing")
    assert image_path(tmp_path / "x.png", progress=False) == tmp_path / "x.png"
    assert server.requests == []
    (tmp_path / "chicago").unlink()
    assert image_path("chicago", progress=False) == cache / "chicago.jpg"  # downloaded
    assert server.requests == ["/chicago.jpg"]
    with pytest.raises(ImageError, match="Unknown example image"):
        image_path("nosuchexample", progress=False)


# ------------------------------------------------------------------------------------------
# The real manifest and the shared files


def _sources_table() -> dict[str, dict[str, str]]:
    rows = {}
    for line in (SHARED_IMAGES / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[3] and len(cells[3]) == 64:
            name, file, url, sha, size, _credit = cells
            rows[name] = {"file": file, "url": url, "sha256": sha, "size": size}
    return rows


def test_real_manifest_agrees_with_sources_md():
    """The manifest (nstyle_helpers/core/example_images.json) names the same images, files,
    pinned URLs, sha256 and sizes as
    ../shared/images/SOURCES.md."""
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    sources = _sources_table()
    assert set(sources) == {"great_wave", "starry_night", "chicago", "tubingen"}
    assert set(manifest) == set(sources)
    for name, row in sources.items():
        entry = manifest[name]
        assert entry["file"] == row["file"]
        assert entry["url"] == row["url"]
        assert entry["sha256"] == row["sha256"]
        assert "x".join(map(str, entry["size"])) == row["size"]
        assert entry["credit"].strip()
        assert "/raw.githubusercontent.com/" in entry["url"]
        # Pinned to a commit, not a branch that can move.
        assert any(len(part) == 40 and all(c in "0123456789abcdef" for c in part)
                   for part in entry["url"].split("/"))


@pytest.mark.parametrize("name", ["great_wave", "starry_night", "chicago", "tubingen"])
def test_shared_files_match_their_sha256_and_size(name):
    """Each shared example file has the manifest's sha256 and pixel size."""
    entry = json.loads(MANIFEST.read_text())[name]
    path = SHARED_IMAGES / entry["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    with Image.open(path) as image:
        assert list(image.size) == entry["size"]


def test_offline_cache_folder_is_used_without_network(monkeypatch):
    """With NSTYLE_IMAGE_DIR naming a folder of correct files (here the read-only shared
    one), every example resolves there and no download is attempted."""
    def no_network(*args, **kwargs):
        raise AssertionError("tried to download")
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setenv(examples.IMAGE_DIR_ENV, str(SHARED_IMAGES))
    for name in example_names():
        assert example_image_path(name, progress=False).parent == SHARED_IMAGES
