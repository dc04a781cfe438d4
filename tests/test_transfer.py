"""The experiments: style transfer and the two reconstructions, as batched runs.

Tiny random images and random VGG19 weights; a shallow extractor (to relu2_2) wherever the
test is about batching or weights rather than the default layers, to keep the suite fast.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch.testing import assert_close

from nstyle_helpers.core.defaults import tutorial_equivalent_weights
from nstyle_helpers.base.errors import ImageTooSmallError
from nstyle_helpers.core.features import STYLE_LAYERS, VGG19Features, feature_shape
from nstyle_helpers.core.images import white_noise
from nstyle_helpers.core.losses import content_loss, gram_matrix, style_layer_loss
from nstyle_helpers.transfer import (RunConfig, TransferConfig, reconstruct_content,
                                     reconstruct_style, style_transfer)

F64 = torch.float64
SHALLOW = ("relu1_1", "relu1_2", "relu2_1", "relu2_2")


def rand(*shape, seed, dtype=torch.float32):
    return torch.rand(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def vgg():
    return VGG19Features(SHALLOW, weights="random")


@pytest.fixture(scope="module")
def images():
    """Content 32×48, style 40×40: for the run through the full default network."""
    return rand(1, 3, 32, 48, seed=1), rand(1, 3, 40, 40, seed=2)


@pytest.fixture(scope="module")
def small(images):
    """Content 16×24, style 20×20 (crops of the above): for the shallow-extractor tests."""
    return images[0][..., :16, :24], images[1][..., :20, :20]


def shallow_config(**changes):
    # The tutorial balance: these tests check its formulas (the relative balance has its own).
    base = TransferConfig(content_layer="relu2_2", style_layers=("relu1_1", "relu2_1"),
                          steps=2, weights="random", balance="tutorial")
    return base.replace(**changes)


def test_style_transfer_default_layers(images):
    # The full default setting (relu4_2 content, relu1_1 ... relu5_1 style, L-BFGS), building
    # its own extractor; content 32×48 and style 40×40 differ in size.
    content, style = images
    result = style_transfer(content, style, TransferConfig(steps=2, weights="random"),
                            progress=False)
    assert result.image.shape == (1, 3, 32, 48)
    assert 0.0 <= result.image.min() and result.image.max() <= 1.0
    assert (result.steps, result.stop_reason) == (2, "finished")
    assert set(result.history) == {"content", "style", "total"}
    assert result.history["total"].shape == (3, 1)
    # Started from the content image: no content loss at step 0, and the run moved away.
    assert result.history["content"][0, 0] == pytest.approx(0.0, abs=1e-6)
    assert not torch.equal(result.image, content)


def test_configs_differing_in_weights_run_as_one_batch(vgg, small):
    # Three α/β settings, one (3, 3, H, W) run. At step 0 all three images are the content
    # image, so the style terms differ exactly by their β, and the content terms are 0.
    content, style = small
    betas = [1.0, 10.0, 1000.0]
    configs = [shallow_config(content_weight=a, style_weight=b)
               for a, b in zip([1.0, 2.0, 3.0], betas)]
    result = style_transfer(content, style, configs, extractor=vgg, progress=False)
    assert result.image.shape == (3, 3, 16, 24)
    assert 0.0 <= result.image.min() and result.image.max() <= 1.0
    style0 = result.history["style"][0]
    assert_close(style0 / style0[0], torch.tensor(betas), rtol=1e-5, atol=0)
    # ... and E_l is the paper's, with the tutorial-converted w_l (β given explicitly).
    f_c, f_s = vgg(content), vgg(style)
    w = tutorial_equivalent_weights(1, 1, {"relu1_1": 64, "relu2_1": 128}).layer_weights
    expected = sum(style_layer_loss(gram_matrix(f_c[l]),
                                    gram_matrix(f_s[l]) * f_c[l][0, 0].numel() / f_s[l][0, 0].numel(),
                                    f_c[l][0, 0].numel(), w[l])
                   for l in ("relu1_1", "relu2_1"))
    assert_close(style0[0:1], expected, rtol=1e-4, atol=0)
    assert_close(result.history["content"][0], torch.zeros(3), rtol=0, atol=1e-6)


def test_configs_differing_in_layers_run_as_one_batch(vgg, small):
    # A grid over the content layer and the style layer set (the paper's Fig. 3): image n
    # must see only config n's layers. Checked on the step-0 losses from the seeded noise.
    content, style = small
    configs = [shallow_config(init="noise", steps=1, content_layer="relu1_2",
                              style_layers=("relu1_1",), content_weight=1.0, style_weight=1.0),
               shallow_config(init="noise", steps=1, content_layer="relu2_2",
                              style_layers=("relu1_1", "relu2_1"), content_weight=1.0,
                              style_weight=1.0)]
    result = style_transfer(content, style, configs, extractor=vgg, progress=False)
    f_x = vgg(white_noise(16, 24, batch=2, seed=0))
    f_p, f_a = vgg(content), vgg(style)

    def style_loss(n, layers):
        w = tutorial_equivalent_weights(1, 1, {l: f_x[l].shape[1] for l in layers}).layer_weights
        return sum(style_layer_loss(gram_matrix(f_x[l][n:n + 1]),
                                    gram_matrix(f_a[l]) * f_x[l][0, 0].numel() / f_a[l][0, 0].numel(),
                                    f_x[l][0, 0].numel(), w[l])[0] for l in layers)

    expected_content = torch.stack([content_loss(f_x["relu1_2"][0:1], f_p["relu1_2"])[0],
                                    content_loss(f_x["relu2_2"][1:2], f_p["relu2_2"])[0]])
    expected_style = torch.stack([style_loss(0, ["relu1_1"]), style_loss(1, ["relu1_1", "relu2_1"])])
    assert_close(result.history["content"][0], expected_content, rtol=1e-5, atol=0)
    assert_close(result.history["style"][0], expected_style, rtol=1e-5, atol=0)


def test_default_weights_come_from_tutorial_conversion(vgg, small):
    # content_weight/style_weight None: α = 2/(N_c M_c), β = 4·10⁶ Σ N_l⁻², from the content
    # image's size: the losses scale with them exactly (same seeded noise start).
    content, style = small
    seen = []
    default = style_transfer(content, style, shallow_config(init="noise", steps=1),
                             extractor=vgg, progress=False, callback=seen.append)
    unit = style_transfer(content, style,
                          shallow_config(init="noise", steps=1, content_weight=1.0,
                                         style_weight=1.0),
                          extractor=vgg, progress=False)
    maps, h, w = feature_shape("relu2_2", 16, 24)
    assert (maps, h, w) == (128, 8, 12)
    weights = tutorial_equivalent_weights(maps, h * w, {"relu1_1": 64, "relu2_1": 128})
    assert_close(default.history["content"][0],
                 weights.content_weight * unit.history["content"][0], rtol=1e-5, atol=0)
    assert_close(default.history["style"][0],
                 weights.style_weight * unit.history["style"][0], rtol=1e-5, atol=0)
    assert seen[0].step == 1


def test_batched_configs_equal_separate_runs_with_adam(vgg, small):
    # Adam treats every pixel on its own, so image n of a batch over α/β equals the run of
    # config n alone. float64 (a double copy of the extractor) so that rounding differences
    # between batch sizes stay far below anything Adam's sign-like first steps could amplify.
    vgg64 = copy.deepcopy(vgg).double()
    content, style = (x.double() for x in small)
    configs = [shallow_config(optimizer="adam", steps=3, content_weight=a, style_weight=b)
               for a, b in [(None, None), (1e-3, 1e3)]]
    batched = style_transfer(content, style, configs, extractor=vgg64, progress=False)
    # Both losses fell, so the best images are not just the (shared) content image.
    assert (batched.history["total"][-1] < batched.history["total"][0]).all()
    for n, config in enumerate(configs):
        alone = style_transfer(content, style, config, extractor=vgg64, progress=False)
        assert_close(batched.image[n:n + 1], alone.image, rtol=1e-9, atol=1e-9)
    assert not torch.allclose(batched.image[0], batched.image[1])


@pytest.mark.parametrize("change", [
    {"optimizer": "adam"}, {"steps": 3}, {"init": "noise"}, {"lr": 0.5}, {"seed": 1},
    {"pooling": "avg"}, {"weights": "imagenet"},
])
def test_configs_differing_in_run_settings_raise(small, change):
    content, style = small
    configs = [shallow_config(), shallow_config(**change)]
    field = next(iter(change))
    with pytest.raises(ValueError, match=f"share '{field}'"):
        style_transfer(content, style, configs, progress=False)


def test_bad_init_and_empty_configs_raise(vgg, small):
    content, style = small
    with pytest.raises(ValueError, match="init must be one of"):
        style_transfer(content, style, shallow_config(init="zeros"), extractor=vgg,
                       progress=False)
    with pytest.raises(ValueError, match="at least one"):
        style_transfer(content, style, [], extractor=vgg, progress=False)


def test_noise_init_is_seeded(vgg, small):
    content, style = small

    def go(seed):
        return style_transfer(content, style, shallow_config(init="noise", seed=seed, steps=1),
                              extractor=vgg, progress=False, snapshot_every=1)

    first, again, other = go(3), go(3), go(4)
    # The starting image is the seeded white noise, not the content image.
    assert torch.equal(first.snapshots[0][1], white_noise(16, 24, batch=1, seed=3))
    assert torch.equal(first.image, again.image)
    assert not torch.allclose(first.image, other.image)


def test_explicit_init_overrides_config(vgg, small):
    content, style = small
    init = torch.full((2, 3, 16, 24), 0.25)
    result = style_transfer(content, style, [shallow_config(style_weight=1.0),
                                             shallow_config(style_weight=2.0)],
                            init=init, extractor=vgg, progress=False, snapshot_every=1)
    assert torch.equal(result.snapshots[0][1], init)
    assert torch.equal(init, torch.full((2, 3, 16, 24), 0.25))


def test_reconstruct_content_item_depends_only_on_its_layer(vgg, small):
    # Image i minimises α_i L_content at layers[i] only. A batch [l0, l1] must give, for
    # item 0, what the single-layer run [l0, l0] gives, and for item 1 what [l1, l1] gives
    # (single-layer runs of the same batch size, so that the seeded noise is the same).
    content = small[0]
    config = RunConfig(optimizer="adam", steps=2, weights="random")
    both = reconstruct_content(content, ["relu1_2", "relu2_2"], config, extractor=vgg,
                               progress=False)
    only0 = reconstruct_content(content, ["relu1_2", "relu1_2"], config, extractor=vgg,
                                progress=False)
    only1 = reconstruct_content(content, ["relu2_2", "relu2_2"], config, extractor=vgg,
                                progress=False)
    assert both.image.shape == (2, 3, 16, 24)
    # Both losses fell, so the best images are not the shared starting noise.
    assert (both.history["total"][-1] < both.history["total"][0]).all()
    assert_close(both.image[0], only0.image[0], rtol=1e-6, atol=1e-6)
    assert_close(both.image[1], only1.image[1], rtol=1e-6, atol=1e-6)
    assert not torch.allclose(only0.image[1], only1.image[1])
    # Step-0 losses by hand: the relative error ‖F − P‖² / ‖P‖² at that layer, from noise.
    noise = white_noise(16, 24, batch=2, seed=0)
    f_x, f_p = vgg(noise), vgg(content)
    expected = torch.stack([
        (f_x[l][i] - f_p[l][0]).pow(2).sum() / f_p[l].pow(2).sum()
        for i, l in enumerate(["relu1_2", "relu2_2"])])
    assert_close(both.history["content"][0], expected, rtol=1e-5, atol=0)


def test_reconstruct_style_growing_layer_sets(vgg, small):
    style = small[1]
    sets = [("relu1_1",), ("relu1_1", "relu2_1")]
    result = reconstruct_style(style, sets, RunConfig(optimizer="adam", steps=2), extractor=vgg,
                               progress=False)
    assert result.image.shape == (2, 3, 20, 20)
    assert (result.history["total"][-1] < result.history["total"][0]).all()
    assert 0.0 <= result.image.min() and result.image.max() <= 1.0
    # Step 0 by hand: image n from seeded noise, Σ_{l ∈ set n} (1/|set|) ‖G − A‖² / ‖A‖².
    noise = white_noise(20, 20, batch=2, seed=0)
    f_x, f_a = vgg(noise), vgg(style)
    expected = []
    for n, layer_set in enumerate(sets):
        expected.append(sum(
            (gram_matrix(f_x[l][n:n + 1]) - gram_matrix(f_a[l])).pow(2).sum()
            / gram_matrix(f_a[l]).pow(2).sum() / len(layer_set)
            for l in layer_set))
    assert_close(result.history["style"][0], torch.stack(expected), rtol=1e-5, atol=0)
    # The first set's image never sees relu2_1: it matches the run of set 0 twice over.
    alone = reconstruct_style(style, [sets[0], sets[0]], RunConfig(optimizer="adam", steps=2),
                              extractor=vgg, progress=False)
    assert_close(result.image[0], alone.image[0], rtol=1e-6, atol=1e-6)


def test_reconstruct_style_size_and_layer_weights(vgg, small):
    style = small[1]
    result = reconstruct_style(style, [("relu1_1", "relu2_1")], RunConfig(optimizer="adam", steps=1),
                               size=(16, 20), layer_weights=[{"relu1_1": 1.0, "relu2_1": 0.0}],
                               extractor=vgg, progress=False)
    assert result.image.shape == (1, 3, 16, 20)
    # With relu2_1 weighted 0 the loss is relu1_1's alone, relative: ‖G − A‖² / ‖A‖², its
    # target rescaled from the style image's 20·20 = 400 positions to the result's 16·20 = 320.
    noise = white_noise(16, 20, batch=1, seed=0)
    f_x, f_a = vgg(noise)["relu1_1"], vgg(style)["relu1_1"]
    target = gram_matrix(f_a) * 320 / 400
    expected = ((gram_matrix(f_x) - target).pow(2).sum() / target.pow(2).sum()).view(1)
    assert_close(result.history["style"][0], expected, rtol=1e-5, atol=0)


def test_too_small_images_raise(small):
    content, style = small  # 16×24 and 20×20: just large enough for relu5_1
    deep = VGG19Features(["relu1_1", "relu5_1"], weights="random")
    assert deep.min_side == 16
    tiny = rand(1, 3, 12, 40, seed=3)
    with pytest.raises(ImageTooSmallError, match="relu5_1"):
        style_transfer(tiny, style, TransferConfig(style_layers=STYLE_LAYERS,
                                                   content_layer="relu1_1", steps=1),
                       extractor=deep, progress=False)
    with pytest.raises(ImageTooSmallError):  # a too-small style image
        style_transfer(content, tiny, TransferConfig(style_layers=("relu1_1", "relu5_1"),
                                                     content_layer="relu1_1", steps=1),
                       extractor=deep, progress=False)
    with pytest.raises(ImageTooSmallError):
        reconstruct_content(tiny, ["relu5_1"], RunConfig(steps=1), extractor=deep,
                            progress=False)
    with pytest.raises(ImageTooSmallError):
        reconstruct_style(style, [("relu5_1",)], RunConfig(steps=1), size=(8, 8),
                          extractor=deep, progress=False)
    # Without an extractor, the default layers need 16 px too.
    with pytest.raises(ImageTooSmallError):
        style_transfer(tiny, style, TransferConfig(steps=1, weights="random"), progress=False)
