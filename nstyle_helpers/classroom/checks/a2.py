"""Assignment 2's checks: the Gram matrix and the style loss of one layer."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ...core import losses
from ..marks import Marks
from .common import (Parts, as_tensor, check_autograd, check_per_image_loss, check_shape,
                     check_vectorised, compare, randn, run_student, shape_text, with_reference)

__all__ = ["check_gram_matrix", "check_style_loss"]


@with_reference(losses.gram_matrix)
def check_gram_matrix(fn: Callable[[torch.Tensor], torch.Tensor],
                      marks: Marks | None = None) -> None:
    r"""Check ``fn(features)`` against :math:`G^l_{ij} = \sum_k F^l_{ik} F^l_{jk}`.

    ``features`` is (N, C, H, W); the result must be (N, C, C), unnormalised.
    """
    name = "gram_matrix"
    part = Parts(marks)
    n, c, h, w = 2, 3, 4, 5
    f = randn(n, c, h, w, seed=11)
    m = h * w
    with part("values and shape", 2):
        out = as_tensor(name, run_student(name, fn, (f,), ("features",)))
        check_shape(name, out, (n, c, c), "one N_l × N_l matrix per image: N_l = C maps", {
            (n, m, m): (f"You computed Fᵀ F, an M_l × M_l matrix ({m}×{m}: one entry per pair "
                        f"of positions), instead of F Fᵀ, N_l × N_l ({c}×{c}: one entry per "
                        "pair of feature maps). With flat = features.flatten(2), shape "
                        "(N, C, H·W), compute flat @ flat.transpose(1, 2)."),
            (c, c): ("You dropped the batch dimension: return one Gram matrix per image, "
                    "(N, C, C). Use the batched flat @ flat.transpose(1, 2), not .t() or "
                    "torch.mm, which need 2-D tensors."),
            (n * c, n * c): ("You mixed the images of the batch into one matrix: keep the "
                             "batch dimension, flatten only H and W (features.flatten(2)) and "
                             "use flat @ flat.transpose(1, 2)."),
            (n, c, h, w): ("You returned a tensor shaped like the features: stretch each map "
                           "into a vector first (features.flatten(2) gives (N, C, H·W)), then "
                           "take the dot products of every pair of rows."),
            (n, c, m): ("Stretching the maps into vectors, (N, C, H·W), is the first half; the "
                        "Gram matrix is the dot product of every pair of those rows: "
                        "flat @ flat.transpose(1, 2)."),
        })
        expected = losses.gram_matrix(f)
        compare(name, out, expected, [
            (expected / (c * m), f"your Gram matrix looks divided by N_l·M_l = {c}·{m} (the "
                                 "PyTorch tutorial's normalisation); the paper's formula is "
                                 "the unnormalised dot product, and the normalisation "
                                 "1/(4 N_l² M_l²) belongs in the style loss."),
            (expected / m, f"your Gram matrix looks divided by M_l = {m}, the number of "
                           "positions; the paper's formula is the unnormalised dot product, "
                           "the normalisation belongs in the style loss."),
            (expected / c, f"your Gram matrix looks divided by N_l = {c}, the number of maps; "
                           "the paper's formula is the unnormalised dot product."),
            (expected / (n * c * m), "your Gram matrix is divided by the number of entries of "
                                     "the whole batch; the paper's formula is the "
                                     "unnormalised dot product."),
            (2 * expected, "your Gram matrix is twice the reference: each entry is one dot "
                           "product ⟨F_i, F_j⟩, counted once."),
        ])
    with part("gradient"):
        check_autograd(name, fn, (f,), ("features",), ("features",), losses.gram_matrix)
    with part("no Python loop, any size"):
        check_vectorised(name, fn, (f,), (randn(2 * n, 2 * c, 2 * h, 2 * w, seed=12),),
                         (shape_text(f.shape), shape_text((2 * n, 2 * c, 2 * h, 2 * w))),
                         "One matrix product gives every dot product at once: "
                         "flat @ flat.transpose(1, 2) (or torch.bmm, or torch.einsum).")
    part.passed("gram_matrix matches the paper's formula G = F Fᵀ (values, shape, gradient; "
                "inputs untouched; vectorised)")


@with_reference(losses.style_layer_loss)
def check_style_loss(fn: Callable[..., torch.Tensor], marks: Marks | None = None) -> None:
    r"""Check ``fn(gram, target_gram, num_positions, weight)`` against
    :math:`E_l = w_l \frac{1}{4 N_l^2 M_l^2} \sum_{ij} (G^l_{ij} - A^l_{ij})^2`.

    ``gram`` and ``target_gram`` are (N, C, C); N_l = C is read from them, M_l is
    ``num_positions``; the result is (N,).
    """
    name = "style_layer_loss"
    part = Parts(marks)
    n, c, h, w = 2, 3, 4, 5
    m, weight = h * w, 0.3
    g = losses.gram_matrix(randn(n, c, h, w, seed=13))
    a = losses.gram_matrix(randn(n, c, h, w, seed=14))
    names = ("gram", "target_gram", "num_positions", "weight")

    def mistakes(g_, a_, m_, w_, expected):
        return [
            (4 * expected, "your style loss is 4 × the reference: did you forget the 4 in "
                           "1/(4 N_l² M_l²)?"),
            (c * expected, f"your style loss is N_l = {c} × the reference: divide by N_l² "
                           "(the number of maps, squared), not N_l. N_l is "
                           "gram.shape[-1]."),
            (m * expected, f"your style loss is M_l = {m} × the reference: divide by M_l² "
                           "(the positions per map, squared), not M_l."),
            (c * m * expected, "you divided by N_l·M_l instead of (N_l·M_l)²: "
                               "1/(4 N_l² M_l²)."),
            (4 * c**2 * m**2 * expected, "your style loss has no normalisation: multiply the "
                                         "sum by w_l/(4 N_l² M_l²)."),
            (expected / weight, f"you ignored the layer weight w_l (here {weight}): "
                                "multiply by `weight`."),
            (expected / c**2, "you took the mean over the N_l² entries of the Gram matrices "
                              "instead of the sum (the formula already divides by N_l²)."),
            (w_ / (4 * c**2 * m_**2) * (g_ - a_).flatten(1).sum(1),
             "you summed the differences G − A without squaring them: (G − A)²."),
        ]

    def reference(g_, a_, m_, w_):
        return losses.style_layer_loss(g_, a_, m_, w_)

    large_g = losses.gram_matrix(randn(n, 2 * c, 2 * h, 2 * w, seed=15))
    large_a = losses.gram_matrix(randn(n, 2 * c, 2 * h, 2 * w, seed=16))
    check_per_image_loss(part, name, fn, (g, a, m, weight), names, reference, mistakes,
                         ("gram",), (large_g, large_a, 4 * m, weight),
                         "Use whole-tensor operations: weight / (4 * n**2 * m**2) * "
                         "(gram - target_gram).pow(2).flatten(1).sum(dim=1).")
    part.passed("style_layer_loss matches the paper's formula w/(4 N² M²) Σ (G − A)² "
                "(values, shape, gradient; inputs untouched; vectorised)")
