"""features.py: the VGG19 layer table and the frozen, truncated feature extractor.

The extractor is checked against torchvision's own ``vgg19().features`` with the same
(seeded random) weights, loaded from a state dict file in both layouts torchvision uses.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import IMAGENET_MEAN, IMAGENET_STD, meta_model, vgg19_files  # noqa: F401
from nstyle_helpers.base.errors import ImageTooSmallError, LayerError
from nstyle_helpers.core.features import (CONTENT_LAYER, STYLE_LAYERS, VGG19_LAYERS, VGG19Features,
                                          validate_layer_names, feature_shape)

_KIND = {nn.Conv2d: "conv", nn.ReLU: "relu", nn.MaxPool2d: "pool"}


def test_layer_table_matches_torchvision_module_by_module():
    """VGG19_LAYERS has 37 names whose kind (conv/relu/pool) matches torchvision's
    vgg19(weights=None).features at every index, with blocks and counters in order."""
    features = meta_model("vgg19").features
    assert len(VGG19_LAYERS) == len(features) == 37
    block, conv = 1, 0
    for index, (name, module) in enumerate(zip(VGG19_LAYERS, features)):
        kind = _KIND[type(module)]
        assert name.startswith(kind), (index, name, module)
        if kind == "conv":
            conv += 1
            assert name == f"conv{block}_{conv}"
            assert module.out_channels == feature_shape(name, 64, 64)[0]
        elif kind == "relu":
            assert name == f"relu{block}_{conv}"
        else:
            assert name == f"pool{block}"
            block, conv = block + 1, 0
    # The anchors of docs/DESIGN.md §3.
    assert VGG19_LAYERS[21] == "conv4_2" and VGG19_LAYERS[22] == "relu4_2"
    assert VGG19_LAYERS[36] == "pool5" and VGG19_LAYERS[29] == "relu5_1"


def _torchvision_reference(features: nn.Sequential, images: torch.Tensor, names):
    """torchvision's features on ImageNet-normalised input, captured at ``names``.

    torchvision's ReLUs are in place: a conv output captured by reference would be
    overwritten by the next ReLU, so each forward hook stores a clone, taken before it runs.
    """
    captured, handles = {}, []
    for name in names:
        def hook(module, inputs, output, name=name):
            captured[name] = output.clone()
        handles.append(features[VGG19_LAYERS.index(name)].register_forward_hook(hook))
    try:
        deepest = max(VGG19_LAYERS.index(name) for name in names)
        features[: deepest + 1]((images - IMAGENET_MEAN) / IMAGENET_STD)
    finally:
        for handle in handles:
            handle.remove()
    return captured


_COMPARED = ("conv1_1", "relu1_2", "pool1", "conv2_2", "relu3_1", "conv4_2", "relu4_2")


@pytest.mark.parametrize("layout", ["full", "features_only"])
def test_extractor_equals_torchvision_with_the_same_weights(vgg19_files, layout):
    """Built from a full or a features-only state dict file, the extractor's outputs equal
    torchvision's vgg19 features with those weights, layer by layer."""
    path = getattr(vgg19_files, layout)
    vgg = VGG19Features(_COMPARED, weights=path, progress=False)
    images = torch.rand(1, 3, 33, 30, generator=torch.Generator().manual_seed(0))
    out = vgg(images)
    assert list(out) == list(_COMPARED)
    expected = _torchvision_reference(vgg19_files.features, images, _COMPARED)
    assert (expected["conv4_2"] < 0).any()  # the clone kept torchvision's pre-ReLU values
    for name in _COMPARED:
        torch.testing.assert_close(out[name], expected[name], rtol=1e-5, atol=1e-5)


def test_extractor_loads_exactly_the_file_weights(vgg19_files):
    """Every convolution's weight and bias equals the file's (biases are not zero)."""
    vgg = VGG19Features(["relu5_1"], weights=vgg19_files.features_only, progress=False)
    reference = vgg19_files.features
    convs = [i for i, m in enumerate(vgg.body) if isinstance(m, nn.Conv2d)]
    assert len(convs) == 13  # conv1_1 ... conv5_1
    for i in convs:
        assert torch.equal(vgg.body[i].weight, reference[i].weight)
        assert torch.equal(vgg.body[i].bias, reference[i].bias)
        assert reference[i].bias.abs().sum() > 0


_SHAPE_LAYERS = ("conv1_1", "relu1_1", "pool1", "relu2_2", "pool2", "conv3_1", "conv3_2",
                 "relu3_2", "pool3", "relu4_2", "pool4", "relu5_1")


@pytest.fixture(scope="module")
def random_vgg():
    """One random-weight extractor down to relu5_1, shared (it is frozen and stateless)."""
    return VGG19Features(_SHAPE_LAYERS, weights="random")


def test_captured_conv_output_is_not_rectified(random_vgg):
    """conv outputs keep their negative values; the relu output is exactly their clamp(min=0)."""
    vgg = random_vgg
    out = vgg(torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1)))
    for block in ("1_1", "3_2"):
        conv, relu = out[f"conv{block}"], out[f"relu{block}"]
        assert (conv < 0).any(), "a ReLU overwrote the captured conv output"
        assert torch.equal(relu, conv.clamp(min=0))
    assert not any(m.inplace for m in vgg.body if isinstance(m, nn.ReLU))


def test_network_stops_after_deepest_requested_layer():
    """Only the modules up to the deepest requested layer exist and run."""
    vgg = VGG19Features(["relu2_1", "conv1_1"], weights="random")
    assert len(vgg.body) == VGG19_LAYERS.index("relu2_1") + 1 == 7
    calls = []
    for module in vgg.body:
        module.register_forward_hook(lambda m, i, o: calls.append(m))
    out = vgg(torch.rand(1, 3, 16, 16))
    assert len(calls) == 7
    assert set(out) == {"relu2_1", "conv1_1"}
    assert out["relu2_1"].shape == (1, 128, 8, 8)


def test_frozen_eval_mode_but_gradients_reach_the_input():
    """Parameters need no gradient and the module is in eval mode, yet the input gets one."""
    vgg = VGG19Features(["relu2_1"], weights="random")
    assert not vgg.training and all(not m.training for m in vgg.modules())
    assert all(not p.requires_grad for p in vgg.parameters())
    vgg.train(False)
    images = torch.rand(1, 3, 16, 16, requires_grad=True)
    vgg(images)["relu2_1"].square().sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert all(p.grad is None for p in vgg.parameters())


def test_avg_pooling_replaces_max_pooling_and_changes_the_output():
    """pooling="avg" uses AvgPool2d everywhere (no MaxPool2d) and gives other activations."""
    layers = ["pool1", "relu2_1"]
    max_vgg = VGG19Features(layers, weights="random", pooling="max")
    avg_vgg = VGG19Features(layers, weights="random", pooling="avg")
    assert any(isinstance(m, nn.AvgPool2d) for m in avg_vgg.body)
    assert not any(isinstance(m, nn.MaxPool2d) for m in avg_vgg.body)
    assert not any(isinstance(m, nn.AvgPool2d) for m in max_vgg.body)
    images = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    a, m = avg_vgg(images), max_vgg(images)
    assert a["pool1"].shape == m["pool1"].shape == (1, 64, 8, 8)
    assert not torch.allclose(a["pool1"], m["pool1"])
    assert (a["pool1"] <= m["pool1"] + 1e-6).all()  # a mean never exceeds the maximum
    with pytest.raises(ValueError, match="pooling"):
        VGG19Features(layers, weights="random", pooling="min")


@pytest.mark.parametrize("height, width", [(37, 23), (16, 31), (33, 17)])
def test_feature_shape_matches_real_outputs_for_odd_sizes(random_vgg, height, width):
    """feature_shape(layer, H, W) equals the real (C, H_l, W_l), flooring at each pool."""
    out = random_vgg(torch.rand(1, 3, height, width))
    for name in _SHAPE_LAYERS:
        assert tuple(out[name].shape[1:]) == feature_shape(name, height, width), name


@pytest.mark.parametrize("deepest, expected", [("relu1_1", 1), ("pool1", 2), ("relu4_2", 8),
                                               ("relu5_1", 16), ("pool5", 32)])
def test_min_side_is_the_real_smallest_size(deepest, expected):
    """min_side works (non-empty output) and one pixel less is refused by validate_size and
    forward with ImageTooSmallError naming the layer and the size needed."""
    vgg = VGG19Features([deepest], weights="random")
    assert vgg.min_side == expected
    out = vgg(torch.rand(1, 3, expected, expected + 3))[deepest]
    assert out.numel() > 0 and min(out.shape[-2:]) >= 1
    assert feature_shape(deepest, expected, expected + 3) == tuple(out.shape[1:])
    if expected > 1:
        with pytest.raises(ImageTooSmallError, match=f"at least {expected} pixels") as info:
            vgg.validate_size(expected - 1, 100)
        assert deepest in str(info.value)
        with pytest.raises(ImageTooSmallError):
            vgg(torch.rand(1, 3, 100, expected - 1))


def test_check_size_names_the_deepest_layer():
    """With several layers the message names the deepest one and the image's size."""
    vgg = VGG19Features(["relu1_1", "relu4_1", "relu2_1"], weights="random")
    with pytest.raises(ImageTooSmallError, match=r"5×7 pixels, too small for layer relu4_1"):
        vgg.validate_size(7, 5)


@pytest.mark.parametrize("bad, suggestion", [("conv4_5", "conv4_4"), ("relu4-2", "relu4_2"),
                                             ("pool6", "pool5")])
def test_unknown_layer_suggests_the_nearest(bad, suggestion):
    """An unknown layer raises LayerError with "did you mean" and a valid nearest name."""
    with pytest.raises(LayerError, match=f"did you mean '{suggestion}'") as info:
        VGG19Features([STYLE_LAYERS[0], bad], weights="random")
    assert repr(bad) in str(info.value)
    with pytest.raises(LayerError, match="did you mean"):
        validate_layer_names([bad])
    with pytest.raises(LayerError, match="did you mean"):
        feature_shape(bad, 32, 32)


def test_nonsense_layer_has_no_suggestion_but_lists_the_scheme():
    """A name like nothing valid gets no suggestion, but the message says what names exist."""
    with pytest.raises(LayerError, match="valid names are conv1_1") as info:
        validate_layer_names(["xyz"])
    assert "did you mean" not in str(info.value)


def test_no_layers_is_an_error():
    """An empty layer list raises LayerError."""
    with pytest.raises(LayerError, match="No layers"):
        VGG19Features([], weights="random")


def test_defaults_are_relu_outputs():
    """The paper's layers are the rectified outputs: relu4_2 and relu1_1 ... relu5_1."""
    assert CONTENT_LAYER == "relu4_2"
    assert STYLE_LAYERS == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def test_forward_rejects_wrong_shapes():
    """A (3, H, W) tensor or a one-channel batch raises ValueError with the shape."""
    vgg = VGG19Features(["relu1_1"], weights="random")
    with pytest.raises(ValueError, match=r"\(3, 8, 8\)"):
        vgg(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match=r"\(1, 1, 8, 8\)"):
        vgg(torch.rand(1, 1, 8, 8))
