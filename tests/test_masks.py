"""Spatial control: mask checks, guided Gram matrices, the masked style loss, label images.

Shallow random VGG19 and tiny images; the formulas are checked against the module's
docstring, the all-ones mask against the unmasked objective bit for bit.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image
from torch.autograd import gradcheck
from torch.testing import assert_close

from nstyle_helpers.base.errors import ImageError, MaskError, NstyleError
from nstyle_helpers.core.features import VGG19Features
from nstyle_helpers.core.losses import gram_matrix
from nstyle_helpers.controls.multistyle import (MultiStyleObjective, validate_masks,
                                                downsample_masks, guided_gram_matrix,
                                                guided_style_layer_loss, load_label_masks,
                                                masks_from_labels, resize_masks)
from nstyle_helpers.core.objective import Objective

F64 = torch.float64


def rand(*shape, seed, dtype=torch.float32):
    return torch.rand(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def vgg():
    return VGG19Features(("relu1_1", "relu2_1", "relu2_2"), weights="random")


def halves(height=16, width=24):
    masks = torch.zeros(2, height, width)
    masks[0, :, : width // 2] = 1
    masks[1, :, width // 2:] = 1
    return masks


def kwargs(content):
    return dict(content_image=content, content_layers=["relu2_2"],
                style_layers={"relu1_1": 0.4, "relu2_1": 0.6}, style_weight=3.0)


def test_all_ones_mask_equals_no_mask_exactly(vgg):
    content, style, x = rand(1, 3, 16, 24, seed=1), rand(1, 3, 20, 20, seed=2), \
        rand(2, 3, 16, 24, seed=3)
    plain = Objective(vgg, style_image=style, **kwargs(content))(x)
    for ones in (torch.ones(1, 16, 24), torch.ones(16, 24), torch.ones(1, 1, 16, 24)):
        masked = MultiStyleObjective(vgg, style_images=style, masks=ones, **kwargs(content))(x)
        for name in plain:
            assert torch.equal(masked[name], plain[name]), name


def test_guided_gram_matrix_by_hand():
    features = rand(2, 3, 4, 5, seed=4, dtype=F64)
    masks = rand(2, 4, 5, seed=5, dtype=F64)
    grams = guided_gram_matrix(features, masks)
    assert grams.shape == (2, 2, 3, 3)
    for r in range(2):
        assert_close(grams[:, r], gram_matrix(features * masks[r]), rtol=0, atol=1e-14)
    assert torch.equal(guided_gram_matrix(features, torch.ones(1, 4, 5))[:, 0],
                       gram_matrix(features))


def test_guided_style_loss_matches_the_docstring_formula():
    # E = Σ_r (S_r/M) · w/(4N²) · Σ_ij (G_r/S_r − Â_r)², S_r = Σ m_r², for soft masks.
    features = rand(2, 3, 4, 5, seed=6, dtype=F64)
    masks = rand(2, 4, 5, seed=7, dtype=F64)
    targets = rand(2, 3, 3, seed=8, dtype=F64)
    targets = targets @ targets.transpose(1, 2)
    got = guided_style_layer_loss(features, masks, targets, weight=0.7)
    m, n = 20, 3
    expected = 0
    for r in range(2):
        s = (masks[r] ** 2).sum()
        g = gram_matrix(features * masks[r])
        expected = expected + (s / m) * 0.7 / (4 * n**2) * ((g / s - targets[r]) ** 2).sum(
            dim=(1, 2))
    assert_close(got, expected, rtol=1e-12, atol=0)


def test_each_region_is_compared_with_its_own_style(vgg):
    # A hard two-region mask: region r's term only sees the features inside region r, and
    # the loss is the two terms computed by hand from guided Grams.
    content, x = rand(1, 3, 16, 24, seed=9), rand(1, 3, 16, 24, seed=10)
    a, b = rand(1, 3, 16, 16, seed=11), rand(1, 3, 20, 20, seed=12)
    masks = halves()
    obj = MultiStyleObjective(vgg, style_images=[a, b], masks=masks, content_image=content,
                              content_layers=["relu2_2"], style_layers={"relu2_1": 1.0})
    fx = vgg(x)["relu2_1"]  # (1, 128, 8, 12)
    small = downsample_masks(masks, (8, 12))
    expected = 0
    for r, style in enumerate((a, b)):
        fs = vgg(style)["relu2_1"]
        target = gram_matrix(fs) / fs[0, 0].numel()
        expected = expected + guided_style_layer_loss(fx, small[r:r + 1], target)
    assert_close(obj(x)["style"], expected, rtol=1e-5, atol=0)
    # Swapping the styles changes the loss (the regions really get different styles).
    swapped = MultiStyleObjective(vgg, style_images=[b, a], masks=masks, content_image=content,
                                  content_layers=["relu2_2"], style_layers={"relu2_1": 1.0})
    assert not torch.allclose(swapped(x)["style"], obj(x)["style"])


def test_a_blend_table_per_region(vgg):
    # With masks, style_blend may be an (R, S) table; the identity table is the default.
    content, x = rand(1, 3, 16, 24, seed=13), rand(1, 3, 16, 24, seed=14)
    a, b = rand(1, 3, 16, 16, seed=15), rand(1, 3, 20, 20, seed=16)
    base = dict(style_images=[a, b], masks=halves(), **kwargs(content))
    default = MultiStyleObjective(vgg, **base)(x)["style"]
    identity = MultiStyleObjective(vgg, style_blend=[[1, 0], [0, 1]], **base)(x)["style"]
    assert torch.equal(default, identity)
    mixed = MultiStyleObjective(vgg, style_blend=[[0.5, 0.5], [0, 1]], **base)(x)["style"]
    assert not torch.allclose(mixed, default)


def test_masks_are_downsampled_by_averaging():
    masks = halves(16, 24)
    small = downsample_masks(masks, (8, 12))
    assert torch.equal(small, halves(8, 12))
    assert torch.equal(downsample_masks(torch.ones(1, 15, 23), (7, 11)), torch.ones(1, 7, 11))
    # An odd-width region keeps a share in the cell it half covers: nothing vanishes.
    tiny = torch.zeros(1, 16, 24)
    tiny[0, 5, 7] = 1
    assert downsample_masks(tiny, (2, 3)).sum() > 0
    big = resize_masks(masks, (32, 48))
    assert big.shape == (2, 32, 48) and big.min() >= 0 and big.max() <= 1


@pytest.mark.parametrize("masks, fragment", [
    (torch.ones(2, 10, 24), "24×10 pixels but the content image is 24×16"),
    (torch.ones(2, 16, 20), "content's size"),
    (torch.stack([torch.ones(16, 24), torch.zeros(16, 24)]), "Region 2 of 2 is empty"),
    (torch.full((2, 16, 24), 1.5), "in [0, 1]"),
    (torch.full((2, 16, 24), -0.1), "in [0, 1]"),
    (torch.full((2, 16, 24), float("nan")), "in [0, 1]"),
    (torch.ones(3, 16, 24), "3 mask regions for 2 style images"),
    (torch.ones(2, 2, 16, 24), "shape (R, H, W)"),
    (np.ones((2, 16, 24)), "must be a tensor"),
])
def test_bad_masks_get_a_clear_error(masks, fragment):
    with pytest.raises(MaskError, match=re.escape(fragment)) as info:
        validate_masks(masks, 16, 24, regions=2)
    assert isinstance(info.value, NstyleError)


def test_bad_masks_are_refused_by_the_objective(vgg):
    content, a, b = rand(1, 3, 16, 24, seed=17), rand(1, 3, 16, 16, seed=18), \
        rand(1, 3, 16, 16, seed=19)
    with pytest.raises(MaskError, match="1 mask region for 2 style images"):
        MultiStyleObjective(vgg, style_images=[a, b], masks=torch.ones(1, 16, 24),
                            **kwargs(content))
    with pytest.raises(MaskError, match="give one"):
        MultiStyleObjective(vgg, style_images=[a, b], masks=halves(), style_layers=["relu1_1"])
    for blend in (0.5, [0.5, 0.5]):  # with masks the blend is a table, one row per region
        with pytest.raises(MaskError, match="With masks, style_blend is a table"):
            MultiStyleObjective(vgg, style_images=[a, b], masks=halves(), style_blend=blend,
                                **kwargs(content))


def test_masks_from_labels_and_label_files(tmp_path):
    labels = torch.tensor([[0, 0, 128], [255, 128, 0]])
    masks = masks_from_labels(labels, 3)
    assert masks.shape == (3, 2, 3)
    assert torch.equal(masks.sum(0), torch.ones(2, 3))  # each pixel in exactly one region
    assert torch.equal(masks[2], (labels == 255).float())  # darkest first, brightest last
    with pytest.raises(MaskError, match="3 grey levels but there are 2 style images"):
        masks_from_labels(labels, 2)
    # A label PNG of 60×40 (the content's aspect), read at 24×16 with nearest neighbours.
    grey = np.zeros((40, 60), np.uint8)
    grey[:, 30:] = 200
    Image.fromarray(grey, mode="L").save(tmp_path / "mask.png")
    read = load_label_masks(tmp_path / "mask.png", (16, 24), 2)
    assert torch.equal(read, halves(16, 24))
    with pytest.raises(MaskError, match="another shape than the content"):
        load_label_masks(tmp_path / "mask.png", (24, 24), 2)
    with pytest.raises(MaskError, match="2 grey levels but there are 3"):
        load_label_masks(tmp_path / "mask.png", (16, 24), 3)
    with pytest.raises(ImageError, match="No such file"):
        load_label_masks(tmp_path / "missing.png", (16, 24), 2)
    # A one-pixel region vanishes at a small size: an empty-region error, not a crash.
    speck = np.zeros((40, 60), np.uint8)
    speck[2, 2] = 255  # rows and columns 1, 3, 6, ... are sampled, not 2
    Image.fromarray(speck, mode="L").save(tmp_path / "speck.png")
    with pytest.raises(MaskError, match="empty"):
        load_label_masks(tmp_path / "speck.png", (16, 24), 2)


def test_gradcheck_guided_gram_and_loss():
    features = rand(1, 2, 3, 3, seed=20, dtype=F64).requires_grad_(True)
    masks = rand(2, 3, 3, seed=21, dtype=F64)
    targets = rand(2, 2, 2, seed=22, dtype=F64)
    assert gradcheck(lambda f: guided_gram_matrix(f, masks), (features,))
    assert gradcheck(lambda f: guided_style_layer_loss(f, masks, targets, 0.5), (features,))
