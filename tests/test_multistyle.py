"""multistyle.py (blending, style scale) and the objective built on it.

A shallow random VGG19 (to relu2_2) and tiny random images: these tests are about how the
Gram targets are combined, not about pictures.
"""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from nstyle_helpers.base.errors import SettingsError
from nstyle_helpers.core.features import VGG19Features
from nstyle_helpers.core.losses import gram_matrix, style_layer_loss
from nstyle_helpers.controls.multistyle import MultiStyleObjective, validate_blend, scale_style
from nstyle_helpers.core.objective import Objective

LAYERS = ("relu1_1", "relu2_1", "relu2_2")


def rand(*shape, seed):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def vgg():
    return VGG19Features(LAYERS, weights="random")


@pytest.fixture(scope="module")
def images():
    """Content 16×24, three styles of other sizes, a batch of two generated images."""
    return {"content": rand(1, 3, 16, 24, seed=1), "a": rand(1, 3, 20, 20, seed=2),
            "b": rand(1, 3, 18, 26, seed=3), "c": rand(1, 3, 24, 16, seed=4),
            "x": rand(2, 3, 16, 24, seed=5)}


def common(images):
    return dict(content_image=images["content"], content_layers=["relu2_2"],
                style_layers={"relu1_1": 0.3, "relu2_1": 0.7}, content_weight=2.0,
                style_weight=5.0)


def test_blend_one_zero_equals_the_single_style_exactly(vgg, images):
    single = Objective(vgg, style_image=images["a"], **common(images))
    blended = MultiStyleObjective(vgg, style_images=[images["a"], images["b"]],
                                  style_blend=[1.0, 0.0], **common(images))
    for layer in single.style_targets:
        assert torch.equal(blended.style_targets[layer], single.style_targets[layer])
    got, want = blended(images["x"]), single(images["x"])
    assert set(got) == set(want)
    for name in want:
        assert torch.equal(got[name], want[name]), name
    # (0, 1) is the second style alone.
    second = Objective(vgg, style_image=images["b"], **common(images))(images["x"])
    other = MultiStyleObjective(vgg, style_images=[images["a"], images["b"]],
                                style_blend=[0.0, 1.0], **common(images))(images["x"])
    assert_close(other["style"], second["style"], rtol=1e-6, atol=0)


def test_one_style_without_options_is_the_plain_objective(vgg, images):
    single = Objective(vgg, style_image=images["a"], **common(images))(images["x"])
    multi = MultiStyleObjective(vgg, style_images=images["a"], **common(images))(images["x"])
    assert all(torch.equal(multi[k], single[k]) for k in single)


def test_blended_target_is_the_weighted_mean_of_per_position_grams(vgg, images):
    # A^l = Σ_s b_s A_s / M_l(a_s), then scaled by M_l(x): worked out from the features.
    styles, weights = [images["a"], images["b"], images["c"]], [0.5, 0.3, 0.2]
    obj = MultiStyleObjective(vgg, style_images=styles, style_blend=weights, **common(images))
    for layer in ("relu1_1", "relu2_1"):
        expected = sum(w * gram_matrix(vgg(s)[layer]) / vgg(s)[layer][0, 0].numel()
                       for w, s in zip(weights, styles))
        assert_close(obj.style_targets[layer], expected, rtol=1e-6, atol=0)
    fx = vgg(images["x"])["relu2_1"]
    m = fx[0, 0].numel()
    alone = MultiStyleObjective(vgg, style_images=styles, style_blend=weights,
                                content_image=None, style_layers={"relu2_1": 1.0})
    expected = style_layer_loss(gram_matrix(fx), alone.style_targets["relu2_1"] * m, m)
    assert_close(alone(images["x"])["style"], expected, rtol=1e-6, atol=0)


def test_default_blend_is_equal_weights(vgg, images):
    styles = [images["a"], images["b"]]
    default = MultiStyleObjective(vgg, style_images=styles, **common(images))
    halves = MultiStyleObjective(vgg, style_images=styles, style_blend=[0.5, 0.5],
                                 **common(images))
    assert torch.equal(default(images["x"])["style"], halves(images["x"])["style"])


@pytest.mark.parametrize("weights, fragment", [
    ([0.5], "1 blend weights for 2 style images"),
    ([0.7, 0.7], "sum to 1"),
    ([1.5, -0.5], ">= 0"),
    ([float("nan"), 1.0], ">= 0"),
    (["a", "b"], "must be numbers"),
])
def test_bad_blend_weights(weights, fragment):
    with pytest.raises(SettingsError, match=fragment):
        validate_blend(weights, 2)


def test_no_style_images_is_an_error(vgg, images):
    with pytest.raises(SettingsError, match="at least one style"):
        MultiStyleObjective(vgg, style_images=[], **common(images))


def test_style_scale_resizes_relative_to_the_content():
    style = rand(1, 3, 40, 30, seed=6)
    assert scale_style(style, 64, 0.5).shape[-2:] == (32, 24)  # longer side 0.5 × 64
    assert scale_style(style, (20, 48), 1.0).shape[-2:] == (48, 36)
    assert scale_style(style, (40, 10), 1.0) is style  # already that size: untouched
    for bad in (0, -1, float("inf"), 5.0, True, "0.5"):
        with pytest.raises(SettingsError, match="style scale"):
            scale_style(style, 64, bad)
