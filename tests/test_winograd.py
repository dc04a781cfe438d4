"""winograd.py: Winograd convolutions through NNPACK, against PyTorch's own convolution.

The stated tolerance: outputs and input gradients agree with ``torch.nn.functional.conv2d``
to 1e-4 relative to their largest value (measured: about 1e-5; float32's own rounding is
1e-7). The gradient formula itself (the flipped, transposed kernel) is checked exactly, in
float64, with PyTorch's convolution. These tests expect NNPACK, which PyTorch's x86-64 and
ARM wheels include; on the development and CI machines it is used (asserted, not assumed).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from nstyle_helpers.accel import winograd
from nstyle_helpers.accel.acceleration import AcceleratedFeatures, accelerate
from nstyle_helpers.core.features import CONTENT_LAYER, STYLE_LAYERS, VGG19Features
from nstyle_helpers.base.environment import WINOGRAD_ENV
from nstyle_helpers.accel.winograd import (MIN_POSITIONS, WinogradConv2d, input_gradient_kernel,
                                           winograd_layers, winograd_wanted, with_winograd)

from helpers import terms_and_grad

TOLERANCE = 1e-4  # relative to the largest value of the compared tensor


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    actual, expected = actual.detach(), expected.detach()
    return float((actual - expected).abs().max() / expected.abs().max())


def frozen_conv(c_in: int, c_out: int, seed: int) -> nn.Conv2d:
    torch.manual_seed(seed)
    conv = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1)
    return conv.requires_grad_(False)


@pytest.fixture
def nnpack_calls(monkeypatch):
    """Counts the calls of NNPACK's convolution."""
    calls = []
    original = torch._nnpack_spatial_convolution

    def counting(*args, **kwargs):
        calls.append(tuple(args[0].shape))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "_nnpack_spatial_convolution", counting)
    return calls


def test_nnpack_is_available_here():
    # The speed-up the benchmark reports depends on it; PyTorch's PyPI wheels include it.
    assert winograd.nnpack_available()


def test_input_gradient_kernel_gives_the_input_gradient_exactly():
    # ∂L/∂x of y = w ⋆ x (stride 1, padding 1) is w̃ ⋆ ∂L/∂y: in float64 with PyTorch's own
    # convolution, to rounding.
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 7, 9, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(4, 5, 3, 3, dtype=torch.float64, generator=gen)
    upstream = torch.randn(2, 4, 7, 9, dtype=torch.float64, generator=gen)
    (expected,) = torch.autograd.grad((F.conv2d(x, w, padding=1) * upstream).sum(), x)
    kernel = input_gradient_kernel(w)
    assert kernel.shape == (5, 4, 3, 3) and kernel.is_contiguous()
    assert_close(F.conv2d(upstream, kernel, padding=1), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(1, 3, 24, 32), (3, 16, 23, 29), (2, 64, 40, 40)])
def test_forward_and_input_gradient_agree_with_pytorch(shape, nnpack_calls):
    conv = frozen_conv(shape[1], 8, seed=1)
    fast = WinogradConv2d(conv)
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(shape, generator=gen)
    upstream = torch.randn(shape[0], 8, *shape[2:], generator=gen)
    assert fast.uses_nnpack(x)  # verified on its first input shape (two NNPACK calls)
    nnpack_calls.clear()
    x_fast, x_ref = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    y_fast, y_ref = fast(x_fast), conv(x_ref)
    assert len(nnpack_calls) == shape[0]  # one image at a time
    assert y_fast.shape == y_ref.shape
    assert relative_error(y_fast, y_ref) < TOLERANCE
    (y_fast * upstream).sum().backward()
    (y_ref * upstream).sum().backward()
    assert len(nnpack_calls) == 2 * shape[0]  # the backward pass ran on NNPACK too
    assert relative_error(x_fast.grad, x_ref.grad) < TOLERANCE


def test_batch_items_do_not_change_each_other(nnpack_calls):
    # Image by image: a batch gives exactly what each image gives alone.
    fast = WinogradConv2d(frozen_conv(4, 6, seed=3))
    x = torch.rand(3, 4, 24, 24, generator=torch.Generator().manual_seed(4))
    together = fast(x)
    assert torch.equal(together[1:2], fast(x[1:2]))


@pytest.mark.parametrize("case", ["small map", "weights need gradients", "float64",
                                  "channels_last", "bfloat16 autocast"])
def test_everything_else_runs_pytorchs_convolution_unchanged(case, nnpack_calls):
    conv = frozen_conv(4, 6, seed=5)
    side = 16 if case == "small map" else 32  # 16 × 16 < MIN_POSITIONS ≤ 32 × 32
    assert side * side < MIN_POSITIONS if case == "small map" else side * side >= MIN_POSITIONS
    x = torch.rand(2, 4, side, side, generator=torch.Generator().manual_seed(6))
    if case == "weights need gradients":
        conv.requires_grad_(True)
    if case == "float64":
        conv, x = conv.double(), x.double()
    if case == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    fast = WinogradConv2d(conv)
    if case == "bfloat16 autocast":
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out, expected = fast(x), conv(x)
    else:
        out, expected = fast(x), conv(x)
    assert torch.equal(out, expected)
    assert nnpack_calls == []
    if case == "weights need gradients":
        out.sum().backward()
        assert conv.weight.grad is not None


def test_an_nnpack_failure_falls_back_for_good(monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("NNPACK SpatialConvolution_updateOutput failed")

    monkeypatch.setattr(torch, "_nnpack_spatial_convolution", refuse)
    conv = frozen_conv(4, 6, seed=7)
    fast = WinogradConv2d(conv)
    x = torch.rand(1, 4, 32, 32)
    assert torch.equal(fast(x), conv(x))
    assert fast.failed


def test_only_3x3_stride_1_padding_1_convolutions():
    with pytest.raises(ValueError, match="3×3, stride-1, padding-1"):
        WinogradConv2d(nn.Conv2d(3, 4, kernel_size=3, stride=2, padding=1))


def test_the_gradient_kernel_follows_changed_weights(nnpack_calls):
    conv = frozen_conv(4, 4, seed=8)
    fast = WinogradConv2d(conv)
    x = torch.rand(1, 4, 32, 32, requires_grad=True)
    fast(x).sum().backward()
    with torch.no_grad():
        conv.weight.mul_(2.0)
    x.grad = None
    fast(x).sum().backward()
    reference = x.detach().clone().requires_grad_(True)
    conv(reference).sum().backward()
    assert relative_error(x.grad, reference.grad) < TOLERANCE


def test_with_winograd_shares_the_parameters_and_leaves_the_original_alone():
    vgg = VGG19Features(["relu2_1"], weights="random")
    fast = with_winograd(vgg)
    convs = [m for m in vgg.body if isinstance(m, nn.Conv2d)]
    wrapped = [m for m in fast.body if isinstance(m, WinogradConv2d)]
    assert len(wrapped) == len(convs) == 3
    assert all(w.conv is c for w, c in zip(wrapped, convs))
    assert not any(isinstance(m, WinogradConv2d) for m in vgg.body)
    assert fast.mean is vgg.mean and fast.layers == vgg.layers


def test_environment_switch_is_opt_in(monkeypatch):
    monkeypatch.delenv(WINOGRAD_ENV, raising=False)
    assert not winograd_wanted()
    for off in ("0", "false", "No", " off "):
        monkeypatch.setenv(WINOGRAD_ENV, off)
        assert not winograd_wanted()
    for on in ("1", "yes", " on "):
        monkeypatch.setenv(WINOGRAD_ENV, on)
        assert winograd_wanted()


def test_a_shape_is_verified_once_and_rejected_if_nnpack_disagrees(monkeypatch):
    # An NNPACK that is 1 % off (as a broken build might be): the shape is rejected, the
    # layer gives exactly PyTorch's convolution, and the verification is not repeated.
    original = torch._nnpack_spatial_convolution
    calls = []

    def one_percent_off(*args, **kwargs):
        calls.append(tuple(args[0].shape))
        return original(*args, **kwargs) * 1.01

    monkeypatch.setattr(torch, "_nnpack_spatial_convolution", one_percent_off)
    conv = frozen_conv(4, 6, seed=10)
    fast = WinogradConv2d(conv)
    x = torch.rand(1, 4, 32, 32)
    assert not fast.uses_nnpack(x)
    assert set(fast.rejected) == {(4, 32, 32)}
    assert fast.rejected[(4, 32, 32)] == pytest.approx(0.01, rel=0.05)
    verification_calls = len(calls)
    assert verification_calls == 2  # forward and input gradient, once
    assert torch.equal(fast(x), conv(x))
    assert len(calls) == verification_calls


def test_the_choice_is_deterministic_no_timing(nnpack_calls):
    # Equal inputs give bit-identical outputs and gradients, run after run.
    conv = frozen_conv(8, 8, seed=11)
    x = torch.rand(1, 8, 32, 32, generator=torch.Generator().manual_seed(12))
    outputs = []
    for _ in range(2):
        fast = WinogradConv2d(conv)
        image = x.clone().requires_grad_(True)
        fast(image).square().sum().backward()
        outputs.append((fast(x), image.grad))
    assert torch.equal(outputs[0][0], outputs[1][0]) and torch.equal(outputs[0][1], outputs[1][1])
    assert nnpack_calls  # NNPACK really ran


def test_style_transfer_objective_agrees_with_direct_convolutions(nnpack_calls):
    # The Winograd path against the plain extractor: every feature, the loss terms and the
    # gradient to the image, at the stated tolerance. Layer shapes that failed their
    # verification run PyTorch's convolution, so this holds on any torch build.
    vgg = VGG19Features([CONTENT_LAYER, *STYLE_LAYERS], weights="random")
    fast = accelerate(vgg, "cpu", winograd=True)
    assert isinstance(fast, AcceleratedFeatures) and fast.winograd
    gen = torch.Generator().manual_seed(9)
    content, style = torch.rand(1, 3, 64, 96, generator=gen), torch.rand(1, 3, 64, 96,
                                                                           generator=gen)
    features, reference = fast(content), vgg(content)
    assert nnpack_calls  # Winograd really ran
    again = fast(content)
    assert all(torch.equal(again[layer], features[layer]) for layer in features)
    for layer in reference:
        assert relative_error(features[layer], reference[layer]) < TOLERANCE, layer
    images = {"content": content, "style": style, "x": torch.rand(1, 3, 64, 96, generator=gen)}
    (terms, grad), (ref_terms, ref_grad) = terms_and_grad(fast, images), terms_and_grad(vgg,
                                                                                        images)
    for name in ("content", "style", "total"):
        assert relative_error(terms[name], ref_terms[name]) < TOLERANCE, name
    # The gradient: not elementwise at 1e-4. VGG19's ReLUs and max pooling make it
    # discontinuous: a unit whose input lies within the convolutions' 1e-5 difference of 0
    # (ReLU) or of its pooling neighbour (max) routes its gradient differently. PyTorch's
    # own float32 gradient differs from float64 by as much (2.5 % at the largest element
    # with max pooling, measured). As a whole it points the same way.
    difference = float((grad - ref_grad).norm() / ref_grad.norm())
    cosine = float(torch.nn.functional.cosine_similarity(grad.flatten(), ref_grad.flatten(),
                                                          dim=0))
    assert difference < 5e-2 and cosine > 0.999, (difference, cosine)
