"""transfer.style_transfer with the follow-up paper's controls, in one run.

Shallow random VGG19 (relu2_2 content, relu1_1 + relu2_1 style), tiny images, 2 Adam steps:
these tests check wiring and the promised properties, not pictures.
"""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from nstyle_helpers.controls.color import color_statistics, rgb_to_yiq
from nstyle_helpers.base.errors import ImageError, MaskError, SettingsError
from nstyle_helpers.core.features import VGG19Features
from nstyle_helpers.core.optimize import OptimizationResult
from nstyle_helpers.transfer import TransferConfig, style_transfer


def rand(*shape, seed):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def vgg():
    return VGG19Features(("relu1_1", "relu2_1", "relu2_2"), weights="random")


@pytest.fixture(scope="module")
def images():
    return rand(1, 3, 16, 24, seed=1), rand(1, 3, 20, 20, seed=2), rand(1, 3, 18, 22, seed=3)


def config(**changes):
    base = TransferConfig(content_layer="relu2_2", style_layers=("relu1_1", "relu2_1"),
                          steps=2, weights="random", optimizer="adam")
    return base.replace(**changes)


def run(vgg, content, styles, **kwargs):
    cfg = kwargs.pop("cfg", config())
    return style_transfer(content, styles, cfg, extractor=vgg, progress=False, **kwargs)


def test_controls_that_change_nothing_give_plain_style_transfer_bit_for_bit(vgg, images):
    content, a, b = images
    plain = style_transfer(content, a, config(tv_weight=0.5), extractor=vgg, progress=False)
    for kwargs in ({}, {"styles": [a, b], "style_blend": [1.0, 0.0]},
                   {"masks": torch.ones(1, 16, 24)}):
        styles = kwargs.pop("styles", a)
        result = run(vgg, content, styles, cfg=config(tv_weight=0.5), **kwargs)
        assert isinstance(result, OptimizationResult)
        assert torch.equal(result.image, plain.image), kwargs
        assert set(result.history) == {"content", "style", "tv", "total"}
        for name in plain.history:
            assert torch.equal(result.history[name], plain.history[name]), name


def test_total_variation_reaches_the_objective(vgg, images):
    # tv_weight: a "tv" term, equal to γ · TV(x) at the start (the content image).
    from nstyle_helpers.core.losses import total_variation

    content, a, _ = images
    result = style_transfer(content, a, config(tv_weight=2.0), extractor=vgg, progress=False)
    assert_close(result.history["tv"][0], 2.0 * total_variation(content), rtol=1e-6, atol=0)
    assert "tv" not in style_transfer(content, a, config(), extractor=vgg,
                                      progress=False).history


def test_luminance_only_keeps_the_content_colour_channels(vgg, images):
    content, a, b = images
    for styles in (a, [a, b]):
        result = run(vgg, content, styles, preserve_color="luminance")
        out = result.image
        assert out.shape == content.shape and out.min() >= 0 and out.max() <= 1
        # I and Q are the content's (float32 rounding; 1e-14 in float64, see test_color).
        assert_close(rgb_to_yiq(out)[:, 1:], rgb_to_yiq(content)[:, 1:], rtol=0, atol=1e-6)
        # ... while the luminance did change: the transfer happened.
        assert not torch.allclose(rgb_to_yiq(out)[:, 0], rgb_to_yiq(content)[:, 0], atol=1e-3)


def test_luminance_only_with_noise_start_and_scales(vgg, images):
    content, a, _ = images
    result = run(vgg, content, a, preserve_color="luminance", scales=(16, 24),
                 cfg=config(init="noise"))
    assert result.image.shape == content.shape
    assert_close(rgb_to_yiq(result.image)[:, 1:], rgb_to_yiq(content)[:, 1:], rtol=0,
                 atol=1e-6)


def test_histogram_matching_recolours_what_vgg_sees(vgg, images, monkeypatch):
    # The style images reaching the objective have the content's colour mean and covariance.
    from nstyle_helpers import transfer

    content, a, b = images
    seen = []
    original = transfer.style_term

    def spy(styles, *args):  # the style term each stage's objective is built with
        seen.extend(styles)
        return original(styles, *args)

    monkeypatch.setattr(transfer, "style_term", spy)
    run(vgg, content, [a, b], preserve_color="histogram")
    mu_c, cov_c = color_statistics(content)
    assert len(seen) == 2
    for style in seen:
        mu, cov = color_statistics(style)
        assert_close(mu, mu_c, rtol=0, atol=1e-5)
        assert_close(cov, cov_c, rtol=0, atol=1e-5)


def test_style_scale_and_masks_run(vgg, images):
    content, a, b = images
    masks = torch.zeros(2, 16, 24)
    masks[0, :8] = 1
    masks[1, 8:] = 1
    result = run(vgg, content, [a, b], masks=masks, style_scale=0.8)
    assert result.image.shape == content.shape and result.steps == 2


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"preserve_color": "grey"}, SettingsError, "none, luminance, histogram"),
    ({"style_blend": [0.5, 0.6]}, SettingsError, "sum to 1"),
    ({"style_scale": 0}, SettingsError, "style scale"),
    ({"scales": [24, 16]}, SettingsError, "increase"),
    ({"scales": [16, 24], "scale_steps": [1, 2, 3]}, SettingsError, "3 step counts"),
    ({"masks": torch.ones(2, 8, 8)}, MaskError, "8×8 pixels"),
    ({"masks": torch.zeros(2, 16, 24)}, MaskError, "empty"),
    ({"masks": torch.ones(2, 16, 24), "style_blend": [0.5, 0.5]}, MaskError, "table"),
])
def test_bad_options_fail_before_any_work(images, kwargs, error, fragment):
    # extractor=None: a failure after validation would build VGG19 (and not raise this).
    content, a, b = images
    with pytest.raises(error, match=fragment):
        style_transfer(content, [a, b], config(), progress=False, **kwargs)


def test_bad_images_are_refused(images):
    content, a, _ = images
    with pytest.raises(SettingsError, match="at least one style"):
        style_transfer(content, [], config())
    with pytest.raises(ImageError, match="content holds 2 images; pass 1"):
        style_transfer(content.expand(2, -1, -1, -1), a, config())
    with pytest.raises(ImageError, match=r"style 2 has shape \(1, 1, "):
        style_transfer(content, [a, a[:, :1]], config())
