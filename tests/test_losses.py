"""The loss functions against the paper's formulas.

Four kinds of check: small examples worked out by hand (in the comments); equality, to
float64 precision, with deliberately naive references written straight from the formulas
(explicit loops / einsum); ``gradcheck`` in float64; and the batch contract (one value per
image, each depending only on its own image, broadcasting targets, per-image weights).
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck
from torch.testing import assert_close

from nstyle_helpers.core.losses import (combined_loss, content_loss, gram_matrix, pixel_loss,
                                        style_layer_loss, total_variation)

F64 = torch.float64
EXACT = dict(rtol=1e-12, atol=1e-12)


def rand(*shape, seed=0):
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------------
# Naive references, written from the paper's formulas with explicit loops over the indices.
# ---------------------------------------------------------------------------------------------

def ref_pixel(y, z):
    """L = Σ_ijk (y_ijk − z_ijk)², per image, by explicit loops."""
    z = z.expand_as(y)
    n, c, h, w = y.shape
    out = []
    for b in range(n):
        total = 0.0
        for k, i, j in itertools.product(range(c), range(h), range(w)):
            total += (y[b, k, i, j].item() - z[b, k, i, j].item()) ** 2
        out.append(total)
    return torch.tensor(out, dtype=F64)


def ref_content(f, p):
    """L_content = ½ Σ_ij (F_ij − P_ij)², i = map, j = position in the flattened map."""
    p = p.expand_as(f)
    n, c = f.shape[:2]
    ff, pf = f.reshape(n, c, -1), p.reshape(n, c, -1)
    out = []
    for b in range(n):
        total = 0.0
        for i in range(c):
            for j in range(ff.shape[2]):
                total += (ff[b, i, j].item() - pf[b, i, j].item()) ** 2
        out.append(0.5 * total)
    return torch.tensor(out, dtype=F64)


def ref_gram(f):
    """G_ij = Σ_k F_ik F_jk, by explicit loops (unnormalised)."""
    n, c = f.shape[:2]
    ff = f.reshape(n, c, -1)
    g = torch.zeros(n, c, c, dtype=F64)
    for b, i, j in itertools.product(range(n), range(c), range(c)):
        g[b, i, j] = sum(ff[b, i, k].item() * ff[b, j, k].item() for k in range(ff.shape[2]))
    return g


def ref_style(g, a, m, w=1.0):
    """E_l = w_l / (4 N_l² M_l²) Σ_ij (G_ij − A_ij)², N_l = number of maps, M_l = H·W."""
    a = a.expand_as(g)
    n, c = g.shape[:2]
    w = torch.as_tensor(w, dtype=F64).expand(n)
    out = []
    for b in range(n):
        s = sum((g[b, i, j].item() - a[b, i, j].item()) ** 2
                for i, j in itertools.product(range(c), range(c)))
        out.append(w[b].item() * s / (4 * c**2 * m**2))
    return torch.tensor(out, dtype=F64)


def ref_tv(x):
    """TV = Σ (x[i+1,j] − x[i,j])² + (x[i,j+1] − x[i,j])², per image, over all channels."""
    n, c, h, w = x.shape
    out = []
    for b in range(n):
        total = 0.0
        for k, i, j in itertools.product(range(c), range(h), range(w)):
            if i + 1 < h:
                total += (x[b, k, i + 1, j].item() - x[b, k, i, j].item()) ** 2
            if j + 1 < w:
                total += (x[b, k, i, j + 1].item() - x[b, k, i, j].item()) ** 2
        out.append(total)
    return torch.tensor(out, dtype=F64)


# ---------------------------------------------------------------------------------------------
# (a) Small examples worked out by hand.
# ---------------------------------------------------------------------------------------------

def test_pixel_loss_by_hand():
    # y = [1, 2, 3, 4], z = [1, 0, 5, 4]: differences 0, 2, -2, 0 → 0 + 4 + 4 + 0 = 8.
    y = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    z = torch.tensor([[[[1.0, 0.0], [5.0, 4.0]]]])
    assert_close(pixel_loss(y, z), torch.tensor([8.0]))


def test_content_loss_by_hand():
    # Three 1×1 maps: F = (1, 2, 3), P = (0, 2, 5): differences 1, 0, -2 → ½(1 + 0 + 4) = 2.5.
    f = torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1)
    p = torch.tensor([0.0, 2.0, 5.0]).view(1, 3, 1, 1)
    assert_close(content_loss(f, p), torch.tensor([2.5]))


def test_gram_matrix_by_hand():
    # Two maps of 1×3, stretched: F_0 = (1, 2, 3), F_1 = (0, 1, -1).
    # G_00 = 1+4+9 = 14, G_01 = G_10 = 0+2-3 = -1, G_11 = 0+1+1 = 2. No division by N or M.
    f = torch.tensor([[[[1.0, 2.0, 3.0]], [[0.0, 1.0, -1.0]]]])
    assert_close(gram_matrix(f), torch.tensor([[[14.0, -1.0], [-1.0, 2.0]]]))


def test_style_layer_loss_by_hand():
    # G = [[14, -1], [-1, 2]], A = [[10, 1], [1, 2]]: G - A = [[4, -2], [-2, 0]], Σ² = 24.
    # N = 2 maps, M = 3 positions: 1/(4·2²·3²) = 1/144; w = 0.5 → 0.5 · 24 / 144 = 1/12.
    g = torch.tensor([[[14.0, -1.0], [-1.0, 2.0]]], dtype=F64)
    a = torch.tensor([[[10.0, 1.0], [1.0, 2.0]]], dtype=F64)
    assert_close(style_layer_loss(g, a, num_positions=3, weight=0.5),
                 torch.tensor([1 / 12], dtype=F64), **EXACT)


def test_combined_loss_by_hand():
    # α = 2, β = 3, L_content = 2.5, L_style = 1/12 → 5 + 0.25 = 5.25.
    out = combined_loss(torch.tensor([2.5]), torch.tensor([1 / 12]), alpha=2.0, beta=3.0)
    assert_close(out, torch.tensor([5.25]))


def test_total_variation_by_hand():
    # Channel 0 = [[1, 2], [4, 8]]: down 3², 6² = 45, right 1², 4² = 17 → 62.
    # Channel 1 = [[0, 0], [0, 1]]: down 0, 1 → 1, right 0, 1 → 1 → 2.  Sum over channels: 64.
    x = torch.tensor([[[[1.0, 2.0], [4.0, 8.0]], [[0.0, 0.0], [0.0, 1.0]]]])
    assert_close(total_variation(x), torch.tensor([64.0]))


def test_total_variation_by_hand_non_square():
    # One row [0, 1, 3]: no vertical neighbours; right differences 1, 2 → 1 + 4 = 5.
    # One column [0, 1, 3]: the same by symmetry. This catches swapped H/W axes.
    row = torch.tensor([0.0, 1.0, 3.0]).view(1, 1, 1, 3)
    assert_close(total_variation(row), torch.tensor([5.0]))
    assert_close(total_variation(row.transpose(2, 3)), torch.tensor([5.0]))


# ---------------------------------------------------------------------------------------------
# (b) Random float64 batches against the naive references.
# ---------------------------------------------------------------------------------------------

SHAPE = (3, 4, 3, 5)  # (N, C, H, W): non-square, C ≠ H ≠ W so that axis mix-ups show


@pytest.mark.parametrize("target_batch", [3, 1])
def test_pixel_loss_matches_formula(target_batch):
    y, z = rand(*SHAPE, seed=1), rand(target_batch, *SHAPE[1:], seed=2)
    assert_close(pixel_loss(y, z), ref_pixel(y, z), **EXACT)


@pytest.mark.parametrize("target_batch", [3, 1])
def test_content_loss_matches_formula(target_batch):
    f, p = rand(*SHAPE, seed=3), rand(target_batch, *SHAPE[1:], seed=4)
    assert_close(content_loss(f, p), ref_content(f, p), **EXACT)


def test_gram_matrix_matches_formula():
    f = rand(*SHAPE, seed=5)
    assert_close(gram_matrix(f), ref_gram(f), **EXACT)
    # And the einsum form of the same formula.
    assert_close(gram_matrix(f), torch.einsum("nik,njk->nij", f.flatten(2), f.flatten(2)),
                 **EXACT)


@pytest.mark.parametrize("weight", [1.0, 0.2, torch.tensor([0.5, 0.0, 3.0], dtype=F64)])
@pytest.mark.parametrize("target_batch", [3, 1])
def test_style_layer_loss_matches_formula(weight, target_batch):
    n, c, h, w = SHAPE
    g = gram_matrix(rand(*SHAPE, seed=6))
    a = gram_matrix(rand(target_batch, c, h, w, seed=7))
    out = style_layer_loss(g, a, num_positions=h * w, weight=weight)
    assert_close(out, ref_style(g, a, h * w, weight), **EXACT)


def test_total_variation_matches_formula():
    x = rand(*SHAPE, seed=8)
    assert_close(total_variation(x), ref_tv(x), **EXACT)


def test_combined_loss_matches_formula():
    c, s = rand(4, seed=9).abs(), rand(4, seed=10).abs()
    alpha, beta = rand(4, seed=11), 7.0
    expected = torch.tensor([alpha[i].item() * c[i].item() + 7.0 * s[i].item() for i in range(4)],
                            dtype=F64)
    assert_close(combined_loss(c, s, alpha, beta), expected, **EXACT)


def test_functions_keep_dtype_and_device_of_input():
    # Constants must be created on the input's dtype: float64 in, float64 out.
    x = rand(*SHAPE, seed=12)
    g = gram_matrix(x)
    for out in (pixel_loss(x, x), content_loss(x, x), g, total_variation(x),
                style_layer_loss(g, g, num_positions=15)):
        assert out.dtype == F64 and out.device == x.device


# ---------------------------------------------------------------------------------------------
# (c) gradcheck in float64: the autograd gradients agree with finite differences.
# ---------------------------------------------------------------------------------------------

def _leaf(*shape, seed):
    return rand(*shape, seed=seed).requires_grad_(True)


def test_gradcheck_pixel_loss():
    assert gradcheck(pixel_loss, (_leaf(2, 3, 3, 4, seed=1), _leaf(2, 3, 3, 4, seed=2)))


def test_gradcheck_content_loss():
    assert gradcheck(content_loss, (_leaf(2, 3, 3, 4, seed=3), _leaf(1, 3, 3, 4, seed=4)))


def test_gradcheck_gram_matrix():
    assert gradcheck(gram_matrix, (_leaf(2, 3, 3, 4, seed=5),))


def test_gram_matrix_gradient_equals_autograds_for_any_upstream_gradient():
    # gram_matrix has its own backward, (Ḡ + Ḡᵀ) F; it must equal autograd's Ḡ F + Ḡᵀ F,
    # also for a non-symmetric upstream gradient Ḡ (gradcheck below compares it with finite
    # differences; this compares it with autograd's own rule).
    f = _leaf(2, 3, 3, 4, seed=5)
    upstream = rand(2, 3, 3, seed=13)
    assert not torch.allclose(upstream, upstream.transpose(1, 2))
    (ours,) = torch.autograd.grad((gram_matrix(f) * upstream).sum(), f)
    flat = f.flatten(2)
    (plain,) = torch.autograd.grad((flat @ flat.transpose(1, 2) * upstream).sum(), f)
    assert_close(ours, plain, **EXACT)


def test_gradgradcheck_gram_matrix():
    # Its backward is made of differentiable operations, so second derivatives work too.
    assert gradgradcheck(gram_matrix, (_leaf(2, 3, 3, 4, seed=5),))


def test_gradcheck_style_layer_loss():
    g, a = _leaf(2, 3, 3, seed=6), _leaf(2, 3, 3, seed=7)
    assert gradcheck(lambda g, a: style_layer_loss(g, a, num_positions=5, weight=0.3), (g, a))
    # Through the Gram matrix, from the features themselves.
    f, t = _leaf(2, 3, 2, 3, seed=8), _leaf(1, 3, 3, seed=9)
    assert gradcheck(lambda f, t: style_layer_loss(gram_matrix(f), t, num_positions=6), (f, t))


def test_gradcheck_combined_loss():
    args = (_leaf(3, seed=10), _leaf(3, seed=11), _leaf(3, seed=12), _leaf(3, seed=13))
    assert gradcheck(combined_loss, args)


def test_gradcheck_total_variation():
    assert gradcheck(total_variation, (_leaf(2, 3, 4, 5, seed=14),))


# ---------------------------------------------------------------------------------------------
# (d) Batch semantics.
# ---------------------------------------------------------------------------------------------

def _per_image_functions():
    """Each loss as a function of one (N, C, H, W) batch, targets fixed, for batch checks."""
    target = rand(1, *SHAPE[1:], seed=20)
    target_gram = gram_matrix(rand(1, *SHAPE[1:], seed=21))
    m = SHAPE[2] * SHAPE[3]
    return {
        "pixel": lambda x: pixel_loss(x, target),
        "content": lambda x: content_loss(x, target),
        "style": lambda x: style_layer_loss(gram_matrix(x), target_gram, m),
        "tv": total_variation,
    }


@pytest.mark.parametrize("name", ["pixel", "content", "style", "tv"])
def test_item_n_depends_only_on_image_n(name):
    fn = _per_image_functions()[name]
    x = rand(*SHAPE, seed=22)
    out = fn(x)
    assert out.shape == (SHAPE[0],)
    # Each item equals the loss of that image computed alone.
    alone = torch.cat([fn(x[i:i + 1]) for i in range(SHAPE[0])])
    assert_close(out, alone, **EXACT)
    # Changing image 1 changes item 1 only.
    changed = x.clone()
    changed[1] += rand(*SHAPE[1:], seed=23)
    out2 = fn(changed)
    assert out2[1] != out[1]
    assert_close(out2[[0, 2]], out[[0, 2]], rtol=0, atol=0)
    # The Jacobian d out_n / d x_m vanishes for m ≠ n.
    jac = torch.autograd.functional.jacobian(fn, x)  # (N, N, C, H, W)
    for n, m in itertools.product(range(SHAPE[0]), repeat=2):
        assert bool(jac[n, m].abs().sum() == 0) == (n != m)


@pytest.mark.parametrize("fn", [pixel_loss, content_loss])
def test_single_target_broadcasts(fn):
    x, t = rand(*SHAPE, seed=24), rand(1, *SHAPE[1:], seed=25)
    assert_close(fn(x, t), fn(x, t.expand(SHAPE[0], -1, -1, -1)), rtol=0, atol=0)


def test_single_target_gram_broadcasts():
    g, a = gram_matrix(rand(*SHAPE, seed=26)), gram_matrix(rand(1, *SHAPE[1:], seed=27))
    assert_close(style_layer_loss(g, a, 15), style_layer_loss(g, a.expand(3, -1, -1), 15),
                 rtol=0, atol=0)


def test_per_image_weight_tensor():
    # An (N,) weight scales each image's E_l by its own w_l; w = 0 switches a layer off.
    g, a = gram_matrix(rand(*SHAPE, seed=28)), gram_matrix(rand(*SHAPE, seed=29))
    w = torch.tensor([2.0, 0.0, 0.25], dtype=F64)
    plain = style_layer_loss(g, a, 15)
    assert_close(style_layer_loss(g, a, 15, weight=w), w * plain, **EXACT)
    assert style_layer_loss(g, a, 15, weight=w)[1] == 0
    # Per-image α and β in the combined loss.
    c, s = rand(3, seed=30).abs(), rand(3, seed=31).abs()
    alpha, beta = torch.tensor([1.0, 0.0, 2.0], dtype=F64), torch.tensor([0.0, 1.0, 3.0], dtype=F64)
    assert_close(combined_loss(c, s, alpha, beta),
                 torch.stack([c[0], s[1], 2 * c[2] + 3 * s[2]]), **EXACT)


# ---------------------------------------------------------------------------------------------
# (e) Analytic gradients (the paper's equations).
# ---------------------------------------------------------------------------------------------

def test_pixel_loss_gradient_is_2_y_minus_z():
    y, z = _leaf(*SHAPE, seed=40), rand(*SHAPE, seed=41)
    pixel_loss(y, z).sum().backward()
    assert_close(y.grad, 2 * (y.detach() - z), **EXACT)


def test_content_loss_gradient_is_f_minus_p():
    # ∂L_content/∂F^l_ij = (F^l − P^l)_ij (the paper's eq. 2, before the ReLU mask).
    f, p = _leaf(*SHAPE, seed=42), rand(*SHAPE, seed=43)
    content_loss(f, p).sum().backward()
    assert_close(f.grad, f.detach() - p, **EXACT)


def test_style_loss_gradient_matches_paper():
    # The paper's eq. 6: ∂E_l/∂F^l_ij = 1/(N_l² M_l²) ((F^l)^T (G^l − A^l))_ji, i.e. for the
    # (N_l × M_l) matrix F: (G − A) F / (N² M²)  (A symmetric, w_l = 1, no ReLU mask).
    n, c, h, w = SHAPE
    f = _leaf(*SHAPE, seed=44)
    a = gram_matrix(rand(*SHAPE, seed=45))
    style_layer_loss(gram_matrix(f), a, h * w).sum().backward()
    ff = f.detach().flatten(2)
    expected = (gram_matrix(f.detach()) - a) @ ff / (c**2 * (h * w) ** 2)
    assert_close(f.grad.flatten(2), expected, **EXACT)


def test_total_variation_gradient_by_hand():
    # x = [0, 1, 3] in a row: TV = (1-0)² + (3-1)²; dTV/dx = (-2·1, 2·1 - 2·2, 2·2) = (-2, -2, 4).
    x = torch.tensor([0.0, 1.0, 3.0], dtype=F64).view(1, 1, 1, 3).requires_grad_(True)
    total_variation(x).sum().backward()
    assert_close(x.grad.flatten(), torch.tensor([-2.0, -2.0, 4.0], dtype=F64))


# ---------------------------------------------------------------------------------------------
# (f) Properties.
# ---------------------------------------------------------------------------------------------

def test_gram_is_symmetric_positive_semidefinite():
    # More maps than positions (6 > 2·2) makes G rank-deficient: zero eigenvalues must not
    # come out negative beyond rounding.
    for shape in (SHAPE, (2, 6, 2, 2)):
        g = gram_matrix(rand(*shape, seed=50))
        assert_close(g, g.transpose(1, 2), rtol=0, atol=0)
        eig = torch.linalg.eigvalsh(g)
        assert eig.min() >= -1e-10 * eig.abs().max()
        # vᵀ G v = ‖Fᵀ v‖² ≥ 0 for arbitrary v.
        v = rand(shape[0], shape[1], seed=51)
        quad = torch.einsum("ni,nij,nj->n", v, g, v)
        norm = (v.unsqueeze(1) @ rand(*shape, seed=50).flatten(2)).pow(2).sum(dim=(1, 2))
        assert_close(quad, norm, **EXACT)
        assert (quad >= 0).all()


def test_style_loss_zero_iff_equal_grams():
    g = gram_matrix(rand(*SHAPE, seed=52))
    assert torch.equal(style_layer_loss(g, g.clone(), 15), torch.zeros(3, dtype=F64))
    for seed in range(5):
        other = g + 1e-3 * rand(*g.shape, seed=60 + seed)
        assert (style_layer_loss(g, other, 15) > 0).all()


def test_style_loss_ignores_spatial_arrangement():
    # The Gram matrix sums over positions, so shuffling the positions of every map the same
    # way gives the same G and zero style loss, while the content loss sees the change.
    f = rand(*SHAPE, seed=53)
    perm = torch.randperm(15, generator=torch.Generator().manual_seed(0))
    shuffled = f.flatten(2)[..., perm].reshape(SHAPE)
    assert_close(style_layer_loss(gram_matrix(shuffled), gram_matrix(f), 15),
                 torch.zeros(3, dtype=F64), rtol=0, atol=1e-20)
    assert (content_loss(shuffled, f) > 0).all()


@pytest.mark.parametrize("value", [0.0, 0.5, -3.0])
def test_total_variation_zero_for_constant_images(value):
    x = torch.full(SHAPE, value, dtype=F64)
    # Different constants per channel are still constant images.
    x = x + torch.arange(SHAPE[1], dtype=F64).view(1, -1, 1, 1)
    assert torch.equal(total_variation(x), torch.zeros(SHAPE[0], dtype=F64))
    x[0, 0, 1, 2] += 1.0  # one bright pixel with 4 neighbours: 4 · 1² = 4
    assert_close(total_variation(x), torch.tensor([4.0, 0.0, 0.0], dtype=F64))


def test_docstring_examples_hold():
    # The examples printed in the docstrings, which the notebooks quote.
    assert_close(pixel_loss(torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)), torch.tensor([4.0]))
    assert_close(content_loss(torch.full((1, 2, 1, 1), 3.0), torch.ones(1, 2, 1, 1)),
                 torch.tensor([4.0]))
    assert_close(style_layer_loss(torch.ones(1, 1, 1) * 3, torch.ones(1, 1, 1), num_positions=1),
                 torch.tensor([1.0]))
    assert_close(total_variation(torch.tensor([[[[0.0, 1.0], [0.0, 3.0]]]])), torch.tensor([14.0]))
