"""Shared test helpers: image files of every kind, VGG19 state dicts, a loopback HTTP
server, a command-line runner and the style-transfer loss of an extractor.

Imported by the test modules as ``from helpers import ...`` (pytest puts ``tests/`` on
``sys.path``). Nothing here touches the network: the HTTP server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import http.server
import os
import shutil
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

REPO = Path(__file__).resolve().parent.parent
#: The read-only example images of the development machines (see SOURCES.md there).
SHARED_IMAGES = REPO.parent / "shared" / "images"
#: The repository's (git-ignored) example-image cache.
REPO_IMAGES = REPO / "images"

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


# --------------------------------------------------------------------------------------------
# Image files


def write_rgb_png(path: Path, height: int = 24, width: int = 32, seed: int = 0) -> np.ndarray:
    """Write a random 8-bit RGB PNG; return its (H, W, 3) uint8 pixels."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels, mode="RGB").save(path)
    return pixels


@dataclass
class ModeImage:
    """An image file of one Pillow mode and the RGB values load_image should give."""

    path: Path
    expected: np.ndarray  # (H, W, 3) float in [0, 1]
    atol: float


def write_mode_images(folder: Path) -> dict[str, ModeImage]:
    """Write a small image of every kind load_image must convert to RGB.

    Each is 3 × 4 pixels with known values, saved losslessly (PNG or TIFF), so the
    expected RGB values are exact up to 8-bit rounding.
    """
    images: dict[str, ModeImage] = {}
    white = np.ones(3)

    # L: 8-bit grey.
    grey = np.array([[0, 50, 100, 255], [10, 20, 30, 40], [200, 210, 220, 230]], np.uint8)
    Image.fromarray(grey, mode="L").save(folder / "grey.png")
    images["L"] = ModeImage(folder / "grey.png",
                            np.repeat(grey[:, :, None] / 255.0, 3, axis=2), 1e-6)

    # 1: 1-bit black and white.
    bits = np.array([[0, 1, 0, 1], [1, 1, 0, 0], [0, 0, 0, 1]], bool)
    bilevel = Image.new("1", (4, 3))
    for y in range(3):
        for x in range(4):
            bilevel.putpixel((x, y), int(bits[y, x]))
    bilevel.save(folder / "bilevel.png")
    images["1"] = ModeImage(folder / "bilevel.png",
                            np.repeat(bits[:, :, None].astype(float), 3, axis=2), 1e-6)

    # P: palette.
    palette = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    index = np.array([[0, 1, 2, 3], [3, 2, 1, 0], [0, 0, 2, 2]], np.uint8)
    pal_image = Image.fromarray(index, mode="P")
    pal_image.putpalette([c for rgb in palette for c in rgb] + [0] * (768 - 12))
    pal_image.save(folder / "palette.png")
    rgb = np.array(palette, float)[index] / 255.0
    images["P"] = ModeImage(folder / "palette.png", rgb, 1e-6)

    # P with transparency: palette index 1 (green) is transparent -> white.
    pal_image.save(folder / "palette_transparent.png", transparency=1)
    expected = rgb.copy()
    expected[index == 1] = white
    images["P+transparency"] = ModeImage(folder / "palette_transparent.png", expected, 1e-6)

    # RGBA: transparent red -> white, opaque blue stays blue, half-transparent black -> grey.
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[...] = (0, 0, 255, 255)  # opaque blue
    rgba[0, 0] = (255, 0, 0, 0)  # fully transparent red
    rgba[1, 1] = (0, 0, 0, 128)  # half-transparent black
    Image.fromarray(rgba, mode="RGBA").save(folder / "rgba.png")
    expected = np.zeros((3, 4, 3))
    expected[...] = (0, 0, 1)
    expected[0, 0] = white
    expected[1, 1] = (255 - 128) / 255.0  # black at alpha 128/255 over white
    images["RGBA"] = ModeImage(folder / "rgba.png", expected, 1.5 / 255)

    # LA: grey with alpha.
    la = np.zeros((3, 4, 2), np.uint8)
    la[...] = (50, 255)  # opaque dark grey
    la[2, 3] = (0, 0)  # fully transparent black -> white
    Image.fromarray(la, mode="LA").save(folder / "la.png")
    expected = np.full((3, 4, 3), 50 / 255.0)
    expected[2, 3] = white
    images["LA"] = ModeImage(folder / "la.png", expected, 1e-6)

    # CMYK (TIFF, lossless): pure cyan-free magenta+yellow = red, K = black, nothing = white.
    cmyk = np.zeros((3, 4, 4), np.uint8)
    cmyk[0, :] = (0, 255, 255, 0)  # red
    cmyk[1, :] = (0, 0, 0, 255)  # black
    cmyk[2, :] = (0, 0, 0, 0)  # white
    Image.fromarray(cmyk, mode="CMYK").save(folder / "cmyk.tif")
    expected = np.zeros((3, 4, 3))
    expected[0] = (1, 0, 0)
    expected[1] = (0, 0, 0)
    expected[2] = (1, 1, 1)
    images["CMYK"] = ModeImage(folder / "cmyk.tif", expected, 1e-6)

    # I;16: 16-bit grey PNG. 32768 and 32896 fall into the same 8-bit level (128), so
    # telling them apart proves the 16-bit precision is kept.
    values = np.array([[0, 32768, 32896, 65535], [1, 257, 1000, 60000],
                       [65534, 12345, 54321, 30000]], np.uint16)
    Image.fromarray(values).save(folder / "grey16.png")
    images["I;16"] = ModeImage(folder / "grey16.png",
                               np.repeat(values[:, :, None] / 65535.0, 3, axis=2), 1e-6)
    return images


def write_big_bilevel_png(path: Path, width: int = 9000, height: int = 8000) -> Path:
    """A 1-bit PNG of 72 megapixels: tiny on disk, over MAX_IMAGE_PIXELS (64 Mpx)."""
    Image.new("1", (width, height)).save(path)
    return path


def cut_in_half(source: Path, target: Path) -> Path:
    """Write the first half of ``source``'s bytes to ``target`` (a truncated image)."""
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


# --------------------------------------------------------------------------------------------
# VGG19 state dicts


@functools.lru_cache(maxsize=None)
def meta_model(name: str) -> nn.Module:
    """torchvision's ``vgg19()`` / ``vgg16()`` built on the meta device (no memory, instant)."""
    import torchvision

    with torch.device("meta"):
        return getattr(torchvision.models, name)(weights=None)


def torchvision_vgg19_features(seed: int = 1) -> nn.Sequential:
    """torchvision's own ``vgg19(weights=None).features`` with seeded random weights.

    Built on the meta device and materialised on the CPU, so the 120 M-parameter classifier
    is never allocated. Biases are random too (not zero), so a test sees if they are loaded.
    """
    features = copy.deepcopy(meta_model("vgg19").features).to_empty(device="cpu")
    generator = torch.Generator().manual_seed(seed)
    for module in features:
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu",
                                    generator=generator)
            nn.init.normal_(module.bias, std=0.1, generator=generator)
    return features.eval().requires_grad_(False)


def classifier_placeholders() -> dict[str, torch.Tensor]:
    """The classifier keys of a full torchvision VGG19 state dict, with the real shapes.

    The values are zero-stride views of one zero (``expand``), so a test file holding "the
    whole network" is a few kB instead of 480 MB; the extractor never reads these keys.
    """
    return {f"classifier.{key}": torch.zeros(()).expand(value.shape)
            for key, value in meta_model("vgg19").classifier.state_dict().items()}


def full_state_dict(features: nn.Sequential) -> dict[str, torch.Tensor]:
    """A full-network torchvision state dict (``features.0.weight``, ..., ``classifier...``)."""
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    state.update(classifier_placeholders())
    return state


def shaped_zeros_state_dict(module: nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    """``module``'s keys and shapes, every value a zero-stride view of one zero (tiny file)."""
    return {prefix + k: torch.zeros(()).expand(v.shape) for k, v in module.state_dict().items()}


@dataclass
class VGG19Files:
    """Reference torchvision features and the same weights saved in both file layouts."""

    features: nn.Sequential
    full: Path
    features_only: Path


@pytest.fixture(scope="session")
def vgg19_files(tmp_path_factory) -> VGG19Files:
    """torchvision VGG19 features (seeded) saved as a full and as a features-only state dict."""
    folder = tmp_path_factory.mktemp("vgg19")
    features = torchvision_vgg19_features()
    full, features_only = folder / "vgg19_full.pth", folder / "vgg19_features.pth"
    torch.save(full_state_dict(features), full)
    torch.save(features.state_dict(), features_only)
    return VGG19Files(features, full, features_only)


def link_or_copy(source: Path, target: Path) -> Path:
    """Hard-link ``source`` to ``target`` (copy if linking fails); make parent folders."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return target


@pytest.fixture
def clean_weight_caches():
    """Empty weights.py's caches before and after, so no test sees another's weights."""
    from nstyle_helpers.core import weights

    weights.clear_cache()
    yield
    weights.clear_cache()


class NotAStateDict:
    """Pickled by reference; unpickling it with weights_only=True must be refused."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        # Unpickling would call open(marker, "w"): creating the marker file proves it ran.
        return (open, (self.marker, "w"))


def write_bad_weight_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """Weights files that are not VGG19 state dicts, with a fragment the error must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, tuple[Path, str]] = {}

    text = folder / "notes.pth"
    text.write_text("these are not weights\n")
    files["text"] = (text, "not a PyTorch state dict")

    random_dict = folder / "random.pth"
    torch.save({"foo": torch.randn(3), "bar.weight": torch.randn(2, 2)}, random_dict)
    files["random tensors"] = (random_dict, "'0.weight'")

    wrong = shaped_zeros_state_dict(meta_model("vgg19").features)
    wrong["0.weight"] = torch.zeros(()).expand(64, 3, 5, 5)  # a 5x5 first convolution
    wrong_shape = folder / "wrong_shape.pth"
    torch.save(wrong, wrong_shape)
    files["wrong shape"] = (wrong_shape, "(64, 3, 5, 5)")

    # VGG16 has 13 convolutions at other indices: features.16 is a pool there, not a conv.
    vgg16 = folder / "vgg16.pth"
    torch.save(shaped_zeros_state_dict(meta_model("vgg16"), prefix=""), vgg16)
    files["vgg16"] = (vgg16, "'features.16.weight'")

    marker = folder / "unpickled-marker"
    evil = folder / "object.pth"
    torch.save(NotAStateDict(str(marker)), evil)
    files["pickled object"] = (evil, "loaded safely")
    return files


# --------------------------------------------------------------------------------------------
# Loopback HTTP server


@dataclass
class Route:
    """What the server answers for one path."""

    body: bytes
    status: int = 200
    content_length: int | None = None  # None: the true length; larger: a truncated download


class LoopbackServer:
    """An http.server on 127.0.0.1 in a thread, serving ``routes``; records every request."""

    def __init__(self, routes: dict[str, Route] | None = None):
        self.routes: dict[str, Route] = dict(routes or {})
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                self.send_response(route.status)
                self.send_header("Content-Type", "application/octet-stream")
                length = len(route.body) if route.content_length is None else route.content_length
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(route.body)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):  # keep the test output quiet
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.running = False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> LoopbackServer:
        self.thread.start()
        self.running = True
        return self

    def stop(self) -> None:
        if self.running:
            self.httpd.shutdown()
            self.thread.join(timeout=10)
            self.running = False
        self.httpd.server_close()


@pytest.fixture
def loopback_server(monkeypatch):
    """A started LoopbackServer, always stopped afterwards; proxies are switched off."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    server = LoopbackServer().start()
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------------------------
# Command line


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    @property
    def out_lines(self) -> list[str]:
        return [line for line in self.out.splitlines() if line.strip()]


@pytest.fixture
def cli(monkeypatch, tmp_path, capsys):
    """Run ``nstyle_helpers.cli.main(argv)`` in ``tmp_path``; returns a CliResult.

    The current folder is ``tmp_path`` (so outputs/ lands there), the example images come
    from the repository's cache, the device is the CPU, and the warning formatter that
    ``main`` installs globally is restored afterwards.
    """
    from nstyle_helpers import cli as cli_module

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)
    monkeypatch.delenv("NSTYLE_IMAGE_DIR", raising=False)
    monkeypatch.setenv("NSTYLE_DEVICE", "cpu")

    def run(*argv: str) -> CliResult:
        capsys.readouterr()
        try:
            code = cli_module.main([str(a) for a in argv])
        except SystemExit as exit_:  # argparse's usage errors and --help
            code = exit_.code
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


#: Fast settings for a command-line run that should get as far as the optimisation.
FAST = ("--size", "32", "--steps", "1", "--weights", "random", "-q")


def assert_cli_error(result: CliResult, *fragments: str) -> str:
    """Exit status 2, exactly one non-empty stderr line, no traceback, naming ``fragments``."""
    assert result.code == 2, (result.code, result.out, result.err)
    assert "Traceback" not in result.err
    assert len(result.err_lines) == 1, result.err
    line = result.err_lines[0]
    assert line.startswith("nstyle"), line
    for fragment in fragments:
        assert fragment.lower() in line.lower(), (fragment, line)
    return line


@contextlib.contextmanager
def unchanged(path: Path):
    """Assert that ``path`` (absent or present) is the same before and after the block."""
    before = path.read_bytes() if path.exists() else None
    yield
    after = path.read_bytes() if path.exists() else None
    assert after == before, f"{path} was {'created' if before is None else 'changed'}"


# --------------------------------------------------------------------------------------------
# The style-transfer loss of an extractor (to compare accelerated extractors with the plain one)


def terms_and_grad(extractor, images: dict[str, torch.Tensor]):
    """Loss terms and gradient of ``images["x"]`` under the full style-transfer objective
    (content at relu4_2, style at relu1_1…relu5_1, α = 1, β = 1e3) with ``extractor``,
    against ``images["content"]`` and ``images["style"]``. Returns ({name: (N,)}, grad)."""
    from nstyle_helpers.core.features import CONTENT_LAYER, STYLE_LAYERS
    from nstyle_helpers.core.objective import Objective

    objective = Objective(extractor, content_image=images["content"],
                          content_layers=[CONTENT_LAYER], style_image=images["style"],
                          style_layers=STYLE_LAYERS, content_weight=1.0, style_weight=1e3)
    x = images["x"].clone().requires_grad_(True)
    terms = objective(x)
    terms["total"].sum().backward()
    return {k: v.detach() for k, v in terms.items()}, x.grad


# --------------------------------------------------------------------------------------------
# Real ImageNet features

#: ImageNet VGG16 in VGG19's layout (../shared/weights/SOURCES.md): the ground truth for
#: every picture and every quality test. Never committed.
SHARED_WEIGHTS = REPO.parent / "shared" / "weights" / "vgg19_layout_imagenet_vgg16.pth"


def real_weights() -> Path:
    """The shared real-feature weights file; a test that needs it fails under ``CI=true``
    when it is missing (CI has ../shared beside the clone) and is skipped elsewhere."""
    if SHARED_WEIGHTS.is_file():
        return SHARED_WEIGHTS
    message = f"{SHARED_WEIGHTS} is missing: real-feature tests need ../shared/weights/."
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def in_ci() -> bool:
    """True under ``CI=true`` (as ``.ci/run`` sets it), where a missing resource fails."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
