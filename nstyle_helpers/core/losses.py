r"""The losses of the paper, as pure functions of tensors.

Each function takes a batch and returns one value per image, shape (N,), so that N images
can be optimised in one run, each with its own target; sum the result for a scalar loss.
No model, no device logic: everything is computed on the input's device and dtype.

Notation (Gatys et al.): F^l is the feature tensor of the generated image x at layer l,
reshaped to N_l × M_l (N_l maps, each of M_l = height × width positions); P^l is that of the
content image p; G^l and A^l are the Gram matrices of x and of the style image a.
"""

from __future__ import annotations

import torch

__all__ = [
    "pixel_loss",
    "content_loss",
    "gram_matrix",
    "style_layer_loss",
    "combined_loss",
    "total_variation",
]


def pixel_loss(generated: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Squared pixel difference :math:`L = \sum_{ijk} (y_{ijk} - z_{ijk})^2`.

    Args:
        generated: (N, C, H, W) the image y being optimised.
        target: (N, C, H, W) or (1, C, H, W) the image z to reach.

    Returns:
        (N,) one loss per image. Its gradient is :math:`2 (y - z)`.

    Example:
        >>> pixel_loss(torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2))
        tensor([4.])
    """
    return (generated - target).pow(2).flatten(1).sum(dim=1)


def content_loss(features: torch.Tensor, target_features: torch.Tensor) -> torch.Tensor:
    r"""Content loss :math:`L_{content}(p, x, l) = \tfrac12 \sum_{ij} (F^l_{ij} - P^l_{ij})^2`.

    Args:
        features: (N, C, H, W) F^l, the generated image's features at layer l.
        target_features: (N, C, H, W) or (1, C, H, W) P^l, the content image's features.

    Returns:
        (N,) one loss per image (the ½ and the plain sum, as in the paper; no mean).

    Example:
        >>> content_loss(torch.full((1, 2, 1, 1), 3.0), torch.ones(1, 2, 1, 1))
        tensor([4.])
    """
    return 0.5 * (features - target_features).pow(2).flatten(1).sum(dim=1)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    r"""Gram matrix :math:`G^l_{ij} = \sum_k F^l_{ik} F^l_{jk}`, unnormalised.

    The inner product of the flattened feature maps i and j. The paper does not divide
    by N_l or M_l here; its normalisation lives in :func:`style_layer_loss`.

    Args:
        features: (N, C, H, W) feature maps.

    Returns:
        (N, C, C) one symmetric Gram matrix per image.

    Example:
        >>> gram_matrix(torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]]))  # 2 maps of 1×2
        tensor([[[ 5., 11.],
                 [11., 25.]]])
    """
    flat = features.flatten(2)  # (N, C, H*W): row i is map i stretched into a vector
    return _SymmetricProduct.apply(flat)  # flat @ flatᵀ, (N, C, C)


class _SymmetricProduct(torch.autograd.Function):
    r"""G = F Fᵀ for (..., C, M) F, with a backward pass of one matrix product, not two.

    Why not plain ``flat @ flat.transpose(1, 2)``: autograd sees two different operands and
    computes ∂L/∂F = Ḡ F + Ḡᵀ F, two products of F's size (each as costly as the forward
    one) and a sum of two F-sized tensors. The symmetric form (Ḡ + Ḡᵀ) F needs one product
    and a C×C sum, and gives the same numbers. In a style transfer the Gram matrices are
    about 9 % of a loss evaluation (they read every feature map of five layers), so this
    saves about 3 % of each evaluation (``benchmarks/results/experiments.md``).
    """

    @staticmethod
    def forward(ctx, flat: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(flat)
        return flat @ flat.transpose(-1, -2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (flat,) = ctx.saved_tensors
        return (grad + grad.transpose(-1, -2)) @ flat


def style_layer_loss(gram: torch.Tensor, target_gram: torch.Tensor, num_positions: int,
                     weight: float | torch.Tensor = 1.0) -> torch.Tensor:
    r"""One layer's style loss :math:`E_l = w_l \frac{1}{4 N_l^2 M_l^2} \sum_{ij} (G^l_{ij} - A^l_{ij})^2`.

    Args:
        gram: (N, C, C) G^l of the generated image; N_l = C is read from it.
        target_gram: (N, C, C) or (1, C, C) A^l of the style image, computed at the same
            M_l (see :class:`~nstyle_helpers.core.objective.Objective` for other sizes).
        num_positions: M_l, the height × width of the layer's feature maps.
        weight: w_l, a number or an (N,) tensor (one weight per image).

    Returns:
        (N,) one loss per image. The style loss of the paper is the sum of E_l over the
        style layers λ: :math:`L_{style} = \sum_{l \in \lambda} E_l`.

    Example:
        >>> style_layer_loss(torch.ones(1, 1, 1) * 3, torch.ones(1, 1, 1), num_positions=1)
        tensor([1.])
    """
    n_maps = gram.shape[-1]
    scale = 1.0 / (4.0 * n_maps**2 * num_positions**2)
    return weight * scale * (gram - target_gram).pow(2).flatten(1).sum(dim=1)


def combined_loss(content: torch.Tensor, style: torch.Tensor,
                  alpha: float | torch.Tensor, beta: float | torch.Tensor) -> torch.Tensor:
    r"""The style-transfer loss :math:`L_{total} = \alpha L_{content} + \beta L_{style}`.

    Args:
        content: (N,) content losses; style: (N,) style losses.
        alpha, beta: numbers or (N,) tensors, one ratio per image.

    Example:
        >>> combined_loss(torch.tensor([2.0]), torch.tensor([3.0]), alpha=1.0, beta=10.0)
        tensor([32.])
    """
    return alpha * content + beta * style


def total_variation(image: torch.Tensor) -> torch.Tensor:
    r"""Squared total variation :math:`\sum_{ijk} (x_{i+1,j,k} - x_{ijk})^2 + (x_{i,j+1,k} - x_{ijk})^2`.

    Not in the paper: a smoothness prior (Mahendran & Vedaldi 2015; Johnson et al. 2016)
    that damps the high-frequency noise the optimisation leaves. We use the squared form
    (as the CS231n assignment does) rather than kornia's absolute values, because it is
    differentiable everywhere, which L-BFGS needs.

    Args:
        image: (N, C, H, W).

    Returns:
        (N,) one value per image; 0 for a constant image.

    Example:
        >>> total_variation(torch.tensor([[[[0.0, 1.0], [0.0, 3.0]]]]))
        tensor([14.])
    """
    down = (image[..., 1:, :] - image[..., :-1, :]).pow(2).flatten(1).sum(dim=1)
    right = (image[..., :, 1:] - image[..., :, :-1]).pow(2).flatten(1).sum(dim=1)
    return down + right
