"""Acceleration: the wrapper's interface, and agreement of every fast option with float32.

Stated tolerances (random VGG19 weights, smooth 48×64 images):

- float32, channels-first through the wrapper: bit-for-bit the extractor's output;
- channels_last, float32: features and losses to 1e-5 (relative), gradients to 1e-4;
- bfloat16 autocast: features to 2 % (relative norm of the difference per layer; measured
  0.3-0.8 %), loss terms to 1 % (measured ≤ 0.2 %), and the gradient to the image points the
  same way (cosine similarity ≥ 0.95; measured 0.98: bfloat16's 8-bit mantissa in the
  backward pass costs ~20 % elementwise, which the optimiser tolerates, see below).

No timing assertions here: speed is measured by ``benchmarks/run.py``.
"""

import warnings

import pytest
import torch
from torch.nn.functional import cosine_similarity
from torch.testing import assert_close

import nstyle_helpers as ns
from nstyle_helpers.accel import acceleration
from nstyle_helpers.accel.acceleration import (PRECISION_ENV, AcceleratedFeatures, accelerate,
                                               configure_backends, resolve_precision)
from nstyle_helpers.base.errors import ImageTooSmallError, SettingsError
from nstyle_helpers.core.features import CONTENT_LAYER, STYLE_LAYERS, VGG19Features
from nstyle_helpers.core.images import resize
from nstyle_helpers.transfer import RunConfig, TransferConfig, build_extractor, style_transfer
from nstyle_helpers.base.environment import WINOGRAD_ENV

from helpers import terms_and_grad

LAYERS = [CONTENT_LAYER, *STYLE_LAYERS]


@pytest.fixture(scope="module")
def vgg():
    return VGG19Features(LAYERS, weights="random")


@pytest.fixture(scope="module")
def images():
    gen = torch.Generator().manual_seed(0)

    def smooth(n, h, w):  # photo-like: smooth random images
        return resize(torch.rand(n, 3, h, w, generator=gen), (48, 64))

    return {"content": smooth(1, 8, 8), "style": smooth(1, 6, 6), "x": smooth(2, 12, 16)}


@pytest.fixture(autouse=True)
def _no_precision_env(monkeypatch):
    monkeypatch.delenv(PRECISION_ENV, raising=False)


def relative(a, b):
    return float((a - b).norm() / b.norm())


# --------------------------------------------------------------------------------------------
# Agreement with the float32 path


def test_float32_wrapper_is_bit_for_bit(vgg, images):
    plain, wrapped = vgg(images["x"]), AcceleratedFeatures(vgg)(images["x"])
    assert plain.keys() == wrapped.keys()
    for name in plain:
        assert torch.equal(plain[name], wrapped[name])


def test_channels_last_agrees_with_float32(vgg, images):
    fast = AcceleratedFeatures(vgg, channels_last=True)
    plain, wrapped = vgg(images["x"]), fast(images["x"])
    for name in plain:
        assert wrapped[name].dtype == torch.float32
        assert wrapped[name].is_contiguous()  # back to the usual layout for the Gram matrix
        assert_close(wrapped[name], plain[name], rtol=1e-5, atol=1e-5)
    (t0, g0), (t1, g1) = terms_and_grad(vgg, images), terms_and_grad(fast, images)
    for name in t0:
        assert_close(t1[name], t0[name], rtol=1e-5, atol=0)
    assert relative(g1, g0) < 1e-4


def test_bfloat16_autocast_agrees_with_float32(vgg, images):
    fast = AcceleratedFeatures(vgg, precision="bfloat16")
    plain, wrapped = vgg(images["x"]), fast(images["x"])
    for name in plain:
        assert wrapped[name].dtype == torch.float32  # Gram matrices and losses in float32
        assert relative(wrapped[name], plain[name]) < 2e-2, name
    (t0, g0), (t1, g1) = terms_and_grad(vgg, images), terms_and_grad(fast, images)
    assert t1.keys() == t0.keys()
    for name in t0:
        assert t1[name].dtype == torch.float32
        assert_close(t1[name], t0[name], rtol=1e-2, atol=0)
    assert g1.dtype == torch.float32
    assert float(cosine_similarity(g1.flatten(), g0.flatten(), dim=0)) > 0.95


def test_bfloat16_with_channels_last_agrees_with_float32(vgg, images):
    fast = AcceleratedFeatures(vgg, precision="bfloat16", channels_last=True)
    plain, wrapped = vgg(images["x"]), fast(images["x"])
    for name in plain:
        assert relative(wrapped[name], plain[name]) < 2e-2, name


def test_bfloat16_optimisation_reaches_the_float32_loss(vgg, images):
    # The optimiser does not notice bfloat16's noisier gradient: after the same number of
    # L-BFGS steps the float32 loss of the result is within 10 % of the float32 run's
    # (measured 0.4 %; a smoke check: L-BFGS trajectories may drift apart over long runs, the
    # benchmark measures the time to a given loss).
    def objective(extractor):
        return ns.Objective(extractor, content_image=images["content"],
                            content_layers=[CONTENT_LAYER], style_image=images["style"],
                            style_layers=STYLE_LAYERS, content_weight=1.0, style_weight=1e7)

    reference = objective(vgg)
    losses = []
    for extractor in (vgg, AcceleratedFeatures(vgg, precision="bfloat16")):
        result = ns.optimize(objective(extractor), images["content"], steps=15, progress=False)
        with torch.no_grad():
            losses.append(float(reference(result.image)["total"]))
    with torch.no_grad():
        start = float(reference(images["content"])["total"])
    assert losses[0] < 0.5 * start  # the run did something
    assert losses[1] == pytest.approx(losses[0], rel=0.1)


# --------------------------------------------------------------------------------------------
# The wrapper behaves like the extractor


def test_wrapper_exposes_the_extractor_interface(vgg):
    fast = AcceleratedFeatures(vgg, precision="bfloat16")
    assert fast.layers == vgg.layers
    assert fast.pooling == vgg.pooling
    assert fast.uses_random_weights
    assert fast.weights_source == vgg.weights_source
    assert fast.min_side == vgg.min_side
    assert fast.extractor.body is vgg.body  # the wrapped network, shared
    assert not hasattr(fast, "body")  # only the FeatureExtractor interface, no forwarding
    with pytest.raises(ImageTooSmallError):
        fast.validate_size(8, 8)
    with pytest.raises(ImageTooSmallError):
        fast(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        fast(torch.rand(3, 32, 32))
    # Wrapping a wrapper wraps the extractor once.
    assert AcceleratedFeatures(fast, channels_last=True).extractor is vgg
    assert "precision='bfloat16'" in repr(fast)


def test_gradients_reach_the_input_not_the_weights(vgg, images):
    fast = AcceleratedFeatures(vgg, precision="bfloat16", channels_last=True)
    x = images["x"].clone().requires_grad_(True)
    sum(f.sum() for f in fast(x).values()).backward()
    assert x.grad is not None and bool(x.grad.abs().sum() > 0)
    assert all(p.grad is None for p in vgg.parameters())


def test_bad_precision_raises(vgg):
    with pytest.raises(SettingsError, match="precision"):
        AcceleratedFeatures(vgg, precision="int8")
    with pytest.raises(SettingsError, match="precision"):
        resolve_precision("half", "cpu")


# --------------------------------------------------------------------------------------------
# Defaults: what the project's path does on each device


def test_auto_precision_is_float32_on_cpu_and_bfloat16_on_recent_gpus(monkeypatch):
    assert resolve_precision("auto", "cpu") == "float32"
    assert resolve_precision("bfloat16", "cpu") == "bfloat16"
    monkeypatch.setattr(acceleration, "native_bfloat16", lambda device: True)
    assert resolve_precision("auto", "cuda") == "bfloat16"
    assert resolve_precision("auto", "cpu") == "float32"  # the CPU default never changes
    monkeypatch.setattr(acceleration, "native_bfloat16", lambda device: False)
    assert resolve_precision("auto", "cuda") == "float32"


def test_precision_from_environment(monkeypatch):
    assert resolve_precision(None, "cpu") == "float32"
    monkeypatch.setenv(PRECISION_ENV, "bfloat16")
    assert resolve_precision(None, "cpu") == "bfloat16"
    assert resolve_precision("float32", "cpu") == "float32"  # an argument wins
    monkeypatch.setenv(PRECISION_ENV, "fast")
    with pytest.raises(SettingsError, match="fast"):
        resolve_precision(None, "cpu")


@pytest.mark.filterwarnings("ignore:bfloat16 was asked for")
def test_accelerate_on_a_cpu_runs_direct_convolutions_unless_winograd_is_asked_for(
        vgg, monkeypatch):
    monkeypatch.delenv(WINOGRAD_ENV, raising=False)
    monkeypatch.delenv(PRECISION_ENV, raising=False)
    assert accelerate(vgg, "cpu") is vgg  # the default: the extractor unchanged
    assert acceleration.convolution_algorithm(vgg) == "PyTorch's (direct)"
    assert isinstance(build_extractor(["relu1_1"], RunConfig(weights="random"),
                                      torch.device("cpu")), VGG19Features)
    monkeypatch.setenv(WINOGRAD_ENV, "1")
    fast = accelerate(vgg, "cpu")
    assert isinstance(fast, AcceleratedFeatures) and fast.winograd
    assert fast.precision == "float32" and not fast.channels_last
    assert acceleration.convolution_algorithm(fast).startswith("Winograd (NNPACK)")
    built = build_extractor(["relu1_1"], RunConfig(weights="random"), torch.device("cpu"))
    assert isinstance(built, AcceleratedFeatures) and built.winograd
    # Without NNPACK the extractor runs unchanged.
    monkeypatch.setattr(acceleration, "nnpack_available", lambda: False)
    assert accelerate(vgg, "cpu") is vgg
    monkeypatch.undo()
    # bfloat16 autocast replaces Winograd (NNPACK computes in float32 only).
    monkeypatch.setenv(WINOGRAD_ENV, "1")
    monkeypatch.setenv(PRECISION_ENV, "bfloat16")
    fast = accelerate(vgg, "cpu")
    assert isinstance(fast, AcceleratedFeatures) and fast.precision == "bfloat16"
    assert not fast.channels_last and not fast.winograd


@pytest.mark.parametrize("native", [True, False])
def test_bfloat16_asked_for_on_a_cpu_without_it_warns_that_it_is_emulated(
        vgg, monkeypatch, native):
    monkeypatch.delenv(WINOGRAD_ENV, raising=False)
    monkeypatch.setattr(acceleration, "native_bfloat16", lambda device: native)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fast = accelerate(vgg, "cpu", precision="bfloat16")
    assert fast.precision == "bfloat16"  # a warning, not a refusal: the user asked for it
    messages = [str(w.message) for w in caught]
    assert messages == ([] if native else [acceleration.EMULATED_BFLOAT16])
    assert native or "Unset NSTYLE_PRECISION" in messages[0]


def test_two_identical_default_cpu_runs_are_bit_identical(monkeypatch):
    from nstyle_helpers.transfer import TransferConfig, style_transfer

    monkeypatch.delenv(WINOGRAD_ENV, raising=False)
    gen = torch.Generator().manual_seed(3)
    content, style = torch.rand(1, 3, 48, 64, generator=gen), torch.rand(1, 3, 48, 64,
                                                                          generator=gen)
    config = TransferConfig(steps=4, weights="random")
    first, second = (style_transfer(content, style, config, progress=False) for _ in range(2))
    assert torch.equal(first.image, second.image)
    assert torch.equal(first.history["total"], second.history["total"])


def test_accelerate_on_cuda_uses_channels_last_and_bfloat16(vgg, monkeypatch):
    # Only the choice is checked here (no GPU needed): the wrapper is not run.
    monkeypatch.setattr(acceleration, "configure_backends", lambda device: None)
    monkeypatch.setattr(acceleration, "native_bfloat16", lambda device: True)
    fast = accelerate(vgg, "cuda")
    assert isinstance(fast, AcceleratedFeatures)
    assert fast.channels_last and fast.precision == "bfloat16"


@pytest.mark.filterwarnings("ignore:bfloat16 was asked for")
def test_style_transfer_runs_with_bfloat16_from_the_environment(monkeypatch, images):
    monkeypatch.setenv(PRECISION_ENV, "bfloat16")
    result = style_transfer(images["content"], images["style"],
                            TransferConfig(steps=2, weights="random"), progress=False)
    assert result.image.dtype == torch.float32
    assert bool(torch.isfinite(result.history["total"]).all())


def test_configure_backends_only_touches_cuda_settings():
    saved = (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.allow_tf32)
    try:
        torch.backends.cudnn.benchmark = False
        configure_backends("cpu")
        assert torch.backends.cudnn.benchmark is False
        torch.backends.cuda.matmul.allow_tf32 = False
        configure_backends("cuda")  # only sets flags; needs no GPU
        assert torch.backends.cudnn.benchmark is True
        assert torch.backends.cudnn.allow_tf32 is True
        assert torch.backends.cuda.matmul.allow_tf32 is False  # Gram matrices stay float32
    finally:
        (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32,
         torch.backends.cudnn.allow_tf32) = saved
