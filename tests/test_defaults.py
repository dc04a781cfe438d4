"""Defaults: the exact conversion of the PyTorch tutorial's loss, quick mode, sizes and steps."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from nstyle_helpers.core import defaults
from nstyle_helpers.core.defaults import (QUICK_ENV, default_size, default_steps, quick_mode,
                                          quick_or, tutorial_equivalent_weights)
from nstyle_helpers.core.losses import content_loss, gram_matrix, style_layer_loss

F64 = torch.float64


def rand(*shape, seed):
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed)).abs()


# The PyTorch tutorial ("Neural Transfer Using PyTorch"), as it writes its losses.

def tutorial_gram_matrix(input):
    a, b, c, d = input.size()  # a=batch size(=1), b=number of feature maps, (c,d)=dimensions
    features = input.view(a * b, c * d)
    G = torch.mm(features, features.t())
    return G.div(a * b * c * d)


def tutorial_loss(content_features, content_target, style_features, style_targets):
    content_score = F.mse_loss(content_features, content_target)
    style_score = 0
    for f, a in zip(style_features, style_targets):
        style_score += F.mse_loss(tutorial_gram_matrix(f), tutorial_gram_matrix(a))
    return 1 * content_score + 1000000 * style_score  # content_weight=1, style_weight=1e6


# Layer shapes (N_l, H_l, W_l) shrunk from VGG19's (64 ... 512 maps) to keep this fast, but
# with the same pattern: maps double while positions shrink, so the weights really differ.
STYLE_SHAPES = {"relu1_1": (4, 12, 10), "relu2_1": (8, 6, 5), "relu3_1": (16, 3, 2),
                "relu4_1": (32, 2, 1)}
CONTENT_SHAPE = (32, 2, 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_conversion_of_tutorial_loss_is_exact(seed):
    # Random features for the generated image x, the content image p and the style image a.
    c_maps, c_h, c_w = CONTENT_SHAPE
    fx = rand(1, *CONTENT_SHAPE, seed=seed)
    fp = rand(1, *CONTENT_SHAPE, seed=seed + 100)
    sx = {l: rand(1, *shape, seed=seed + 200 + i) for i, (l, shape) in enumerate(STYLE_SHAPES.items())}
    sa = {l: rand(1, *shape, seed=seed + 300 + i) for i, (l, shape) in enumerate(STYLE_SHAPES.items())}
    expected = tutorial_loss(fx, fp, list(sx.values()), list(sa.values()))

    w = tutorial_equivalent_weights(c_maps, c_h * c_w, {l: s[0] for l, s in STYLE_SHAPES.items()})
    style = sum(style_layer_loss(gram_matrix(sx[l]), gram_matrix(sa[l]), h * wd,
                                 w.layer_weights[l])
                for l, (_, h, wd) in STYLE_SHAPES.items())
    ours = w.content_weight * content_loss(fx, fp) + w.style_weight * style
    assert ours.shape == (1,)
    assert_close(ours[0], expected, rtol=1e-10, atol=0)
    # Both halves separately, so that an error in one cannot hide in the other.
    assert_close(w.content_weight * content_loss(fx, fp)[0], F.mse_loss(fx, fp), rtol=1e-10, atol=0)


def test_weights_by_hand():
    # N_c = 2, M_c = 3: α = 2/(2·3) = 1/3.  Style maps 1 and 2: N⁻² = 1 and 1/4, sum 5/4,
    # so w = (4/5, 1/5) and β = 4·10⁶ · 5/4 = 5·10⁶; β·w_l = 4·10⁶/N_l².
    w = tutorial_equivalent_weights(2, 3, {"a": 1, "b": 2})
    assert w.content_weight == pytest.approx(1 / 3, rel=1e-15)
    assert w.style_weight == pytest.approx(5e6, rel=1e-15)
    assert w.layer_weights == pytest.approx({"a": 0.8, "b": 0.2}, rel=1e-15)
    assert w.ratio == pytest.approx((1 / 3) / 5e6, rel=1e-15)


def test_layer_weights_sum_to_one_and_follow_inverse_square_maps():
    maps = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, "relu4_1": 512, "relu5_1": 512}
    w = tutorial_equivalent_weights(512, 48 * 32, maps)
    assert list(w.layer_weights) == list(maps)
    assert sum(w.layer_weights.values()) == pytest.approx(1.0, rel=1e-14)
    # relu1_1 (64 maps) weighs 64 times relu5_1 (512 maps); equal maps, equal weights.
    assert w.layer_weights["relu1_1"] / w.layer_weights["relu5_1"] == pytest.approx(64)
    assert w.layer_weights["relu4_1"] == w.layer_weights["relu5_1"]
    # The numbers quoted in the module docstring for a 384 × 256 image.
    assert w.content_weight == pytest.approx(2.5e-6, rel=0.02)
    assert w.style_weight == pytest.approx(1.3e3, rel=0.05)
    assert w.ratio == pytest.approx(2e-9, rel=0.05)


def test_single_style_layer_gets_weight_one():
    w = tutorial_equivalent_weights(1, 1, {"relu3_1": 256})
    assert w.layer_weights == {"relu3_1": 1.0}
    assert w.style_weight == pytest.approx(4e6 / 256**2)


@pytest.mark.parametrize("value", ["1", "yes", "true", "TRUE", " 1 ", "on"])
def test_quick_mode_on(monkeypatch, value):
    monkeypatch.setenv(QUICK_ENV, value)
    assert quick_mode() is True
    assert quick_or(512, 64) == 64


@pytest.mark.parametrize("value", ["0", "false", "False", "", "no", " 0 "])
def test_quick_mode_off(monkeypatch, value):
    monkeypatch.setenv(QUICK_ENV, value)
    assert quick_mode() is False
    assert quick_or(512, 64) == 512


def test_quick_mode_unset(monkeypatch):
    monkeypatch.delenv(QUICK_ENV, raising=False)
    assert quick_mode() is False
    assert quick_or("full", "quick") == "full"


def test_quick_env_name():
    assert QUICK_ENV == "NSTYLE_QUICK"


@pytest.mark.parametrize("device,size,steps", [
    (torch.device("cpu"), 384, 300),
    (torch.device("cuda"), 512, 500),  # the object can be built without a GPU
    (torch.device("mps"), 512, 500),
])
def test_default_size_and_steps(monkeypatch, device, size, steps):
    monkeypatch.delenv(QUICK_ENV, raising=False)
    assert default_size(device) == size
    assert default_steps(device) == steps
    monkeypatch.setenv(QUICK_ENV, "1")
    assert default_size(device) == defaults.QUICK_SIZE == 64
    assert default_steps(device) == defaults.QUICK_STEPS == 5
