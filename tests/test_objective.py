"""The objective: named loss terms built from the extractor's features and losses.py.

Every expected value is computed independently from the extractor's raw features and the
pure loss functions (themselves checked against the formulas in test_losses.py), in float64.
"""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from nstyle_helpers.base.errors import LayerError
from nstyle_helpers.core.features import VGG19Features
from nstyle_helpers.core.losses import (content_loss, gram_matrix, pixel_loss, style_layer_loss,
                                        total_variation)
from nstyle_helpers.core.objective import Objective, one_hot_layer_weights

F64 = torch.float64
EXACT = dict(rtol=1e-12, atol=1e-12)
LAYERS = ("relu1_1", "relu1_2", "relu2_1")


@pytest.fixture(scope="module")
def vgg():
    # A tiny truncated VGG19 in float64, so that comparisons hold to float64 precision.
    return VGG19Features(LAYERS, weights="random").double()


def image(n, h=12, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, h, w, dtype=F64, generator=g)


class CountingExtractor:
    """Wraps an extractor and counts its calls (it has the ``layers`` the objective reads)."""

    def __init__(self, inner):
        self.inner, self.layers, self.calls = inner, inner.layers, 0

    def __call__(self, images):
        self.calls += 1
        return self.inner(images)


class IdentityExtractor:
    """A fake extractor whose one "layer" is the image itself: Gram = colour co-occurrence."""

    layers = ("pixels",)

    def __call__(self, images):
        return {"pixels": images}


def test_terms_present_and_sum_to_total(vgg):
    x, p, a, z = image(2, seed=1), image(1, seed=2), image(1, seed=3), image(2, seed=4)
    obj = Objective(vgg, content_image=p, content_layers={"relu1_2": 0.7, "relu2_1": 0.3},
                    style_image=a, style_layers={"relu1_1": 0.6, "relu2_1": 0.4},
                    content_weight=2.0, style_weight=5.0, tv_weight=0.1, pixel_target=z)
    terms = obj(x)
    assert set(terms) == {"content", "style", "tv", "pixel", "total"}
    for value in terms.values():
        assert value.shape == (2,)
    assert_close(terms["total"], terms["content"] + terms["style"] + terms["tv"] + terms["pixel"],
                 **EXACT)
    # Each term against the paper's formulas, from the raw features.
    fx, fp, fa = vgg(x), vgg(p), vgg(a)
    content = 2.0 * (0.7 * content_loss(fx["relu1_2"], fp["relu1_2"])
                     + 0.3 * content_loss(fx["relu2_1"], fp["relu2_1"]))
    style = 5.0 * sum(w * style_layer_loss(gram_matrix(fx[l]), gram_matrix(fa[l]),
                                           fx[l].shape[2] * fx[l].shape[3])
                      for l, w in (("relu1_1", 0.6), ("relu2_1", 0.4)))
    assert_close(terms["content"], content, **EXACT)
    assert_close(terms["style"], style, **EXACT)
    assert_close(terms["tv"], 0.1 * total_variation(x), **EXACT)
    assert_close(terms["pixel"], pixel_loss(x, z), **EXACT)
    assert obj.layers == ("relu1_2", "relu2_1", "relu1_1")


def test_only_terms_in_use(vgg):
    # No style image → no "style"; tv_weight 0 → no "tv"; a plain list of layers gets equal
    # weights summing to 1 (the paper's w_l = 1/|λ|).
    x, p = image(1, seed=5), image(1, seed=6)
    obj = Objective(vgg, content_image=p, content_layers=["relu1_1", "relu2_1"])
    terms = obj(x)
    assert set(terms) == {"content", "total"}
    fx, fp = vgg(x), vgg(p)
    expected = 0.5 * content_loss(fx["relu1_1"], fp["relu1_1"]) + \
        0.5 * content_loss(fx["relu2_1"], fp["relu2_1"])
    assert_close(terms["content"], expected, **EXACT)
    assert_close(terms["total"], expected, **EXACT)


def test_one_hot_layer_weights():
    weights = one_hot_layer_weights(["relu1_2", "relu2_1", "relu1_2"])
    assert list(weights) == ["relu1_2", "relu2_1"]
    assert torch.equal(weights["relu1_2"], torch.tensor([1.0, 0.0, 1.0]))
    assert torch.equal(weights["relu2_1"], torch.tensor([0.0, 1.0, 0.0]))
    # Each image has exactly one layer on.
    assert torch.equal(sum(weights.values()), torch.ones(3))


def test_batched_one_hot_equals_separate_objectives(vgg):
    # The paper's Fig. 1 content row as one batch: image n sees only layers[n]. Its loss must
    # equal that of an objective built for layers[n] alone (a float32 one-hot weight tensor
    # must also be moved to the images' dtype).
    layers = ["relu1_1", "relu1_2", "relu2_1"]
    p, a = image(1, seed=7), image(1, h=16, w=16, seed=8)
    x = image(3, seed=9)
    batched = Objective(vgg, content_image=p, content_layers=one_hot_layer_weights(layers),
                        style_image=a, style_layers=one_hot_layer_weights(layers[::-1]),
                        style_weight=torch.tensor([1.0, 2.0, 3.0]))(x)
    for n, (cl, sl) in enumerate(zip(layers, layers[::-1])):
        alone = Objective(vgg, content_image=p, content_layers=[cl], style_image=a,
                          style_layers=[sl], style_weight=float(n + 1))(x[n:n + 1])
        for name in ("content", "style", "total"):
            assert_close(batched[name][n:n + 1], alone[name], **EXACT)


def test_per_image_weights(vgg):
    # α, β and the TV weight as (N,) tensors: each image gets its own.
    x, p, a = image(3, seed=10), image(1, seed=11), image(1, seed=12)
    alpha = torch.tensor([1.0, 0.0, 3.0])
    beta = torch.tensor([0.5, 2.0, 0.0])
    tv = torch.tensor([0.0, 1.0, 0.0])
    plain = Objective(vgg, content_image=p, content_layers=["relu1_2"], style_image=a,
                      style_layers=["relu1_1"], tv_weight=1.0)(x)
    weighted = Objective(vgg, content_image=p, content_layers=["relu1_2"], style_image=a,
                         style_layers=["relu1_1"], content_weight=alpha, style_weight=beta,
                         tv_weight=tv)(x)
    assert_close(weighted["content"], alpha.double() * plain["content"], **EXACT)
    assert_close(weighted["style"], beta.double() * plain["style"], **EXACT)
    assert_close(weighted["tv"], tv.double() * plain["tv"], **EXACT)
    assert weighted["total"].dtype == F64


def test_per_image_content_targets(vgg):
    # A content image batch of N gives image n its own target P^l.
    p, x = image(2, seed=13), image(2, seed=14)
    both = Objective(vgg, content_image=p, content_layers=["relu1_2"])(x)["content"]
    for n in range(2):
        alone = Objective(vgg, content_image=p[n:n + 1], content_layers=["relu1_2"])(x[n:n + 1])
        assert_close(both[n:n + 1], alone["content"], **EXACT)


def test_style_image_same_size_is_plain_formula(vgg):
    # Same size: the M(x)/M(a) rescaling is 1, E_l is the paper's formula with A = Gram(a).
    x, a = image(2, seed=15), image(1, seed=16)
    style = Objective(vgg, style_image=a, style_layers={"relu2_1": 1.0})(x)["style"]
    fx, fa = vgg(x)["relu2_1"], vgg(a)["relu2_1"]
    assert fx.shape[-2:] == (6, 8)  # 12×16 input, one pooling
    expected = style_layer_loss(gram_matrix(fx), gram_matrix(fa), 6 * 8)
    assert_close(style, expected, **EXACT)


def test_style_image_of_other_size_is_rescaled(vgg):
    # Style image 20×24 → relu2_1 maps of 10×12 = 120 positions; generated 12×16 → 6×8 = 48.
    # The target Gram is A · M(x)/M(a) = A · 48/120, worked out by hand here.
    x, a = image(2, seed=17), image(1, h=20, w=24, seed=18)
    style = Objective(vgg, style_image=a, style_layers=["relu2_1"])(x)["style"]
    fx, fa = vgg(x)["relu2_1"], vgg(a)["relu2_1"]
    assert fa.shape[-2:] == (10, 12)
    expected = style_layer_loss(gram_matrix(fx), gram_matrix(fa) * 48 / 120, 48)
    assert_close(style, expected, **EXACT)
    # Not the unscaled formula (the test would be vacuous if the two agreed).
    unscaled = style_layer_loss(gram_matrix(fx), gram_matrix(fa), 48)
    assert not torch.allclose(style, unscaled)


def test_rescaling_makes_size_irrelevant_for_uniform_texture():
    # Why the rescaling: a flat colour has the same "style" at any size. With the identity
    # as feature map, Gram(c at H×W) = H·W · c cᵀ, so only the per-position Gram matches.
    colour = torch.tensor([0.2, 0.5, 0.9], dtype=F64).view(1, 3, 1, 1)
    small, large = colour.expand(1, 3, 4, 5), colour.expand(2, 3, 8, 6)
    obj = Objective(IdentityExtractor(), style_image=small, style_layers=["pixels"])
    assert_close(obj(large)["style"], torch.zeros(2, dtype=F64), rtol=0, atol=1e-15)
    # ... whereas another colour at the same size is penalised.
    assert (obj(large.flip(1))["style"] > 1e-3).all()


def test_targets_computed_once_and_detached(vgg):
    counting = CountingExtractor(vgg)
    p = image(1, seed=19).requires_grad_(True)
    a = image(1, seed=20).requires_grad_(True)
    obj = Objective(counting, content_image=p, content_layers=["relu1_2"],
                    style_image=a, style_layers=["relu1_1", "relu2_1"])
    assert counting.calls == 2  # one pass for the content image, one for the style image
    for target in [*obj.content_targets.values(), *obj.style_targets.values()]:
        assert not target.requires_grad and target.grad_fn is None
    x = image(2, seed=21).requires_grad_(True)
    for _ in range(3):
        obj(x)["total"].sum().backward()
    assert counting.calls == 5  # one pass per call, the targets are not recomputed
    # Gradients reach the generated image only, never the content or style image.
    assert x.grad is not None and p.grad is None and a.grad is None
    # Changing the content image afterwards does not change the cached target.
    before = obj(x)["content"].detach().clone()
    with torch.no_grad():
        p.mul_(0.5)
    assert torch.equal(obj(x)["content"].detach(), before)


def test_missing_layer_raises_layer_error(vgg):
    with pytest.raises(LayerError, match="relu3_1"):
        Objective(vgg, content_image=image(1), content_layers=["relu3_1"])
    with pytest.raises(LayerError, match="relu4_1"):
        Objective(vgg, style_image=image(1), style_layers=["relu1_1", "relu4_1"])
    with pytest.raises(LayerError):
        Objective(None, content_image=image(1), content_layers=["relu1_1"])


def test_image_without_layers_raises_layer_error(vgg):
    with pytest.raises(LayerError, match="content layer"):
        Objective(vgg, content_image=image(1))
    with pytest.raises(LayerError, match="style layer"):
        Objective(vgg, style_image=image(1), style_layers={})


def test_pixel_only_objective():
    # The notebook's first experiment: no network at all, L = Σ (y − z)².
    x, z = image(3, seed=22), image(1, seed=23)
    terms = Objective(None, pixel_target=z)(x)
    assert set(terms) == {"pixel", "total"}
    assert_close(terms["pixel"], ((x - z) ** 2).sum(dim=(1, 2, 3)), **EXACT)
    assert torch.equal(terms["total"], terms["pixel"])
    # The target is detached: no gradient flows into it.
    zg = z.clone().requires_grad_(True)
    Objective(None, pixel_target=zg)(x.requires_grad_(True))["total"].sum().backward()
    assert zg.grad is None and x.grad is not None


def test_tv_only_objective_needs_no_extractor():
    x = image(2, seed=24)
    terms = Objective(None, tv_weight=0.5)(x)
    assert set(terms) == {"tv", "total"}
    assert_close(terms["tv"], 0.5 * total_variation(x), **EXACT)


def test_objective_without_terms_raises():
    with pytest.raises(ValueError, match="no terms"):
        Objective(None)(image(1))


# ---------------------------------------------------------------------------------------------
# The relative balance: no activation scale changes it.
# ---------------------------------------------------------------------------------------------

class _Scaled:
    """A stand-in network: two fixed random 'layers', every activation times ``scale``."""

    layers = ("a", "b")

    def __init__(self, scale):
        g = torch.Generator().manual_seed(7)
        self.scale = scale
        self.wa = torch.randn(4, 3, 3, 3, generator=g)
        self.wb = torch.randn(6, 4, 3, 3, generator=g)

    def __call__(self, images):
        a = torch.relu(torch.nn.functional.conv2d(images, self.wa))
        b = torch.relu(torch.nn.functional.conv2d(a, self.wb))
        return {"a": self.scale * a, "b": self.scale * b}


@pytest.mark.parametrize("relative", [True, False])
def test_relative_terms_do_not_depend_on_the_activation_scale(relative):
    g = torch.Generator().manual_seed(3)
    content, style, x = (torch.rand(1, 3, 12, 12, generator=g) for _ in range(3))
    terms = [Objective(_Scaled(scale), content_image=content, content_layers=["b"],
                       style_image=style, style_layers=["a", "b"], relative=relative)(x)
             for scale in (1.0, 200.0)]
    for name in ("content", "style"):
        ratio = float(terms[1][name] / terms[0][name])
        # Relative: unchanged; the paper's formulas: content × 200², style × 200⁴.
        expected = 1.0 if relative else 200.0 ** (2 if name == "content" else 4)
        assert ratio == pytest.approx(expected, rel=1e-4)


def test_relative_content_term_is_one_for_an_all_zero_feature_map():
    content = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(4))
    objective = Objective(_Scaled(1.0), content_image=content, content_layers=["a"],
                          relative=True)
    black = torch.zeros(1, 3, 12, 12)  # no bias: every feature map of black is 0
    assert float(objective(black)["content"]) == pytest.approx(1.0, rel=1e-6)
