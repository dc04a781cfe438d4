"""widgets.py: render functions are pure; controls switch the pictures (observers run in pytest)."""

import io

import ipywidgets
import numpy as np
import pytest
import torch
from PIL import Image

import nstyle_helpers as nh
from nstyle_helpers import widgets
from nstyle_helpers.core.images import to_pil
from nstyle_helpers.core.optimize import OptimizationResult

LAYERS = ("relu1_2", "relu2_2", "relu3_2")


@pytest.fixture
def result():
    """A fake batched run: three images, one per layer, with different loss curves."""
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(3, 3, 8, 12, generator=generator)
    curves = torch.linspace(1.0, 0.1, 11)[:, None] ** torch.tensor([1.0, 2.0, 3.0])
    return OptimizationResult(image=image, history={"content": curves, "total": curves},
                              steps=10)


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_image_png_round_trips_pixels():
    image = torch.rand(1, 3, 5, 7)
    png = widgets.image_png(image)
    assert png.startswith(b"\x89PNG")
    np.testing.assert_array_equal(_decode(png), np.asarray(to_pil(image)))
    assert widgets.image_png(image) == png  # deterministic
    assert widgets.image_png(image[0]) == png  # (3, H, W) works too


def test_render_layer_view_is_pure(result):
    image_before = result.image.clone()
    history_before = {k: v.clone() for k, v in result.history.items()}
    first = widgets.render_layer_view(result, LAYERS, "relu2_2")
    second = widgets.render_layer_view(result, LAYERS, "relu2_2")
    assert first == second
    assert torch.equal(result.image, image_before)
    assert all(torch.equal(result.history[k], v) for k, v in history_before.items())
    picture, plot = first
    np.testing.assert_array_equal(_decode(picture), np.asarray(to_pil(result.image[1])))
    assert plot.startswith(b"\x89PNG")


def test_render_layer_view_differs_between_layers(result):
    a = widgets.render_layer_view(result, LAYERS, "relu1_2")
    b = widgets.render_layer_view(result, LAYERS, "relu3_2")
    assert a[0] != b[0] and a[1] != b[1]


def test_render_layer_view_checks_its_arguments(result):
    with pytest.raises(ValueError, match="relu4_2"):
        widgets.render_layer_view(result, LAYERS, "relu4_2")
    with pytest.raises(ValueError, match="layer names"):
        widgets.render_layer_view(result, LAYERS[:2], "relu1_2")


def test_layer_browser_is_a_widget_showing_the_deepest_layer(result):
    browser = widgets.layer_browser(result, LAYERS)
    assert isinstance(browser, ipywidgets.VBox)
    assert browser.control.value == "relu3_2"
    assert list(browser.control.options) == list(LAYERS)
    assert (browser.image.value, browser.loss_plot.value) == widgets.render_layer_view(
        result, LAYERS, "relu3_2")
    assert browser.target is None


def test_changing_the_control_switches_image_and_loss_plot(result):
    browser = widgets.layer_browser(result, LAYERS)
    image_before, plot_before = browser.image.value, browser.loss_plot.value
    browser.control.value = "relu1_2"  # runs the observer, as a click would
    assert browser.image.value != image_before
    assert browser.loss_plot.value != plot_before
    assert browser.image.value == widgets.image_png(result.image[0])
    assert browser.loss_plot.value == widgets.render_layer_view(result, LAYERS, "relu1_2")[1]
    browser.control.value = "relu3_2"  # and back again: the same pictures as before
    assert (browser.image.value, browser.loss_plot.value) == (image_before, plot_before)


def test_layer_browser_shows_the_target(result):
    target = torch.rand(1, 3, 8, 12)
    browser = widgets.layer_browser(result, LAYERS, target=target)
    assert browser.target.value == widgets.image_png(target)
    assert browser.target in _descendants(browser)


def _descendants(widget):
    for child in getattr(widget, "children", ()):
        yield child
        yield from _descendants(child)


def test_layer_browser_on_a_real_reconstruction():
    # A tiny run with random weights: the wiring with the real result type and history.
    image = torch.rand(1, 3, 16, 16)
    layers = ["relu1_1", "relu1_2"]
    result = nh.reconstruct_content(image, layers, nh.RunConfig(weights="random", steps=2),
                                    progress=False)
    browser = widgets.layer_browser(result, layers, target=image)
    first = browser.image.value
    browser.control.value = "relu1_1"
    assert browser.image.value != first
    assert browser.image.value == widgets.image_png(result.image[0])
