r"""Colour preservation, the two ways of Gatys et al., "Controlling Perceptual Factors in
Neural Style Transfer" (CVPR 2017), as pure functions of (N, 3, H, W) RGB tensors.

Style transfer copies the style image's colours along with its brush strokes. To keep the
content's colours instead, the follow-up paper offers two remedies:

1. **Luminance-only transfer.** Convert both images to YIQ, run the transfer on the
   luminance Y alone (as grey images), and give the result the content's colour channels
   I and Q: :func:`luminance`, :func:`match_luminance`, :func:`grey_as_rgb`,
   :func:`combine_luminance`.
2. **Colour histogram matching.** Before the transfer, recolour the style image with an
   affine map :math:`x' = A (x - \mu_s) + \mu_c` so that its colours have the content's
   mean and covariance: :func:`match_color_histogram`.

YIQ (NTSC, 1953), with RGB in [0, 1]:

.. math::

    \begin{pmatrix} Y \\ I \\ Q \end{pmatrix} =
    \begin{pmatrix} 0.299 & 0.587 & 0.114 \\ 0.596 & -0.274 & -0.322 \\
                    0.211 & -0.523 & 0.312 \end{pmatrix}
    \begin{pmatrix} R \\ G \\ B \end{pmatrix}

Y ∈ [0, 1] is the luminance; I ∈ [−0.596, 0.596] and Q ∈ [−0.523, 0.523] are the colour
(chroma) channels. The rows of I and Q sum to 0, so a grey pixel (R = G = B) has I = Q = 0.
Everything is computed on the input's device and dtype; no module-level tensors.
"""

from __future__ import annotations

import torch

from ..base.errors import SettingsError

__all__ = [
    "YIQ_FROM_RGB",
    "PRESERVE_COLOR",
    "HISTOGRAM_METHODS",
    "rgb_to_yiq",
    "yiq_to_rgb",
    "luminance",
    "match_luminance",
    "grey_as_rgb",
    "combine_luminance",
    "color_statistics",
    "match_color_histogram",
]

#: The YIQ matrix above, row by row (plain numbers: tensors are made per call).
YIQ_FROM_RGB = ((0.299, 0.587, 0.114),
                (0.596, -0.274, -0.322),
                (0.211, -0.523, 0.312))

#: The colour-preservation modes of :func:`~nstyle_helpers.transfer.style_transfer`.
PRESERVE_COLOR = ("none", "luminance", "histogram")

#: How :func:`match_color_histogram` picks the matrix A.
HISTOGRAM_METHODS = ("eigen", "cholesky")


def _check_rgb(image: torch.Tensor, name: str) -> None:
    if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[1] != 3:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise SettingsError(f"{name} must be an (N, 3, H, W) RGB tensor, got {shape}.")


def _matrices(like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # The forward matrix and its inverse, inverted in float64 on the input's device.
    forward = torch.tensor(YIQ_FROM_RGB, dtype=torch.float64, device=like.device)
    inverse = torch.linalg.inv(forward)
    return forward.to(like.dtype), inverse.to(like.dtype)


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    # (3, 3) × (N, 3, H, W) → (N, 3, H, W), the matrix acting on every pixel's 3-vector.
    return torch.einsum("ij,njhw->nihw", matrix, image)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """RGB → YIQ (see the module docstring for the matrix).

    Args:
        image: (N, 3, H, W) RGB, usually in [0, 1] (any values are converted linearly).

    Returns:
        (N, 3, H, W): channel 0 is Y in [0, 1], channels 1 and 2 are I and Q.

    Example:
        >>> rgb_to_yiq(torch.ones(1, 3, 1, 1)).flatten().round(decimals=4)  # white: no chroma
        tensor([1., 0., 0.])
    """
    _check_rgb(image, "image")
    return _apply(_matrices(image)[0], image)


def yiq_to_rgb(yiq: torch.Tensor) -> torch.Tensor:
    """YIQ → RGB, the exact inverse of :func:`rgb_to_yiq` (up to rounding); (N, 3, H, W).

    Not clamped: a YIQ triple need not be a displayable colour.
    """
    _check_rgb(yiq, "yiq")
    return _apply(_matrices(yiq)[1], yiq)


def luminance(image: torch.Tensor) -> torch.Tensor:
    r"""The luminance :math:`Y = 0.299 R + 0.587 G + 0.114 B`: (N, 3, H, W) → (N, 1, H, W) in [0, 1].

    Example:
        >>> luminance(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)).flatten()
        tensor([0.2990])
    """
    return rgb_to_yiq(image)[:, :1]


def match_luminance(style_luminance: torch.Tensor,
                    content_luminance: torch.Tensor) -> torch.Tensor:
    r"""Give the style's luminance the content's mean and standard deviation.

    The paper's luminance-only transfer does this before the transfer, so that the style's
    brightness and contrast do not override the content's:
    :math:`L_s' = \frac{\sigma_c}{\sigma_s} (L_s - \mu_s) + \mu_c`, with the mean μ and the
    (population) standard deviation σ over each image's pixels.

    Args:
        style_luminance: (N, 1, H, W) L_s.
        content_luminance: (N or 1, 1, H', W') L_c (any size).

    Returns:
        (N, 1, H, W); not clamped, so the mean and deviation match exactly. A flat style
        (σ_s = 0) keeps its single value shifted to μ_c.
    """
    mu_s = style_luminance.mean(dim=(1, 2, 3), keepdim=True)  # (N, 1, 1, 1)
    sd_s = style_luminance.std(dim=(1, 2, 3), keepdim=True, unbiased=False)
    mu_c = content_luminance.mean(dim=(1, 2, 3), keepdim=True)
    sd_c = content_luminance.std(dim=(1, 2, 3), keepdim=True, unbiased=False)
    # A flat style has nothing to stretch; avoid 0/0 there (a spread at rounding level,
    # relative to the values, counts as flat) and only shift the mean.
    flat = sd_s <= 16 * torch.finfo(sd_s.dtype).eps * (1 + mu_s.abs())
    ratio = torch.where(flat, torch.zeros_like(sd_s), sd_c / torch.where(flat, 1, sd_s))
    return ratio * (style_luminance - mu_s) + mu_c


def grey_as_rgb(grey: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) grey values → (N, 3, H, W) with R = G = B, clamped to [0, 1].

    How a luminance image is shown to VGG19, which takes RGB. Clamped because the network
    was trained on [0, 1] and :func:`match_luminance` may leave that range slightly.
    """
    return grey.clamp(0.0, 1.0).expand(-1, 3, -1, -1).contiguous()


def combine_luminance(luminance_image: torch.Tensor, color_source: torch.Tensor) -> torch.Tensor:
    r"""The RGB image with luminance Y from ``luminance_image`` and chroma I, Q from ``color_source``.

    The last step of luminance-only transfer: the stylised luminance with the content's
    colours. Its I and Q channels equal ``color_source``'s exactly (up to float rounding,
    about 1e-7 in float32 and 1e-15 in float64).

    Where the new Y would need an RGB value outside [0, 1] (a bright luminance on a strongly
    coloured pixel, say), Y is clamped *per pixel* to the interval that keeps R, G and B in
    [0, 1] for that pixel's chroma: RGB = Y·u + V·(I, Q) with u ≈ (1, 1, 1), so each channel
    bounds Y from both sides. The interval is never empty, since ``color_source``'s own Y lies
    in it. We clamp Y rather than RGB because clamping RGB would change the colour that this
    function promises to keep.

    Args:
        luminance_image: (N, 1, H, W) Y, or (N, 3, H, W) RGB whose luminance is taken.
        color_source: (N or 1, 3, H, W) RGB in [0, 1] giving I and Q (the content image).

    Returns:
        (N, 3, H, W) RGB in [0, 1] (up to rounding).
    """
    _check_rgb(color_source, "color_source")
    y = luminance(luminance_image) if luminance_image.shape[1] == 3 else luminance_image
    if y.dim() != 4 or y.shape[1] != 1 or y.shape[-2:] != color_source.shape[-2:]:
        raise SettingsError(f"luminance_image {tuple(luminance_image.shape)} and color_source "
                            f"{tuple(color_source.shape)} must have the same height and width.")
    _, inverse = _matrices(color_source)
    chroma = rgb_to_yiq(color_source)[:, 1:]  # (N, 2, H, W): I, Q
    u = inverse[:, 0].view(1, 3, 1, 1)  # how Y enters R, G, B (≈ 1 each)
    offset = torch.einsum("ij,njhw->nihw", inverse[:, 1:], chroma)  # (N, 3, H, W): V·(I, Q)
    # R_k = u_k Y + offset_k ∈ [0, 1]  ⇔  Y ∈ [−offset_k / u_k, (1 − offset_k) / u_k].
    low = (-offset / u).amax(dim=1, keepdim=True)  # (N, 1, H, W)
    high = ((1.0 - offset) / u).amin(dim=1, keepdim=True)
    y = torch.minimum(torch.maximum(y, low), high)
    n = max(y.shape[0], chroma.shape[0])
    yiq = torch.cat([y.expand(n, -1, -1, -1), chroma.expand(n, -1, -1, -1)], dim=1)
    return yiq_to_rgb(yiq)


def color_statistics(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Mean and covariance of an image's RGB colours, over its pixels.

    :math:`\mu = \frac1M \sum_k x_k`, :math:`\Sigma = \frac1M \sum_k (x_k - \mu)(x_k - \mu)^T`
    over the M = H·W pixels x_k ∈ R³ (the population covariance, dividing by M).

    Args:
        image: (N, 3, H, W).

    Returns:
        μ of shape (N, 3) and Σ of shape (N, 3, 3).
    """
    _check_rgb(image, "image")
    flat = image.flatten(2)  # (N, 3, M)
    mean = flat.mean(dim=2)  # (N, 3)
    centred = flat - mean.unsqueeze(2)
    cov = centred @ centred.transpose(1, 2) / flat.shape[2]  # (N, 3, 3)
    return mean, cov


def _sym_power(matrix: torch.Tensor, power: float) -> torch.Tensor:
    # M^p of a symmetric positive (semi-)definite matrix through its eigendecomposition.
    values, vectors = torch.linalg.eigh(matrix)
    values = values.clamp_min(0.0) ** power
    return vectors @ torch.diag_embed(values) @ vectors.transpose(-1, -2)


def match_color_histogram(style: torch.Tensor, content: torch.Tensor, *,
                          method: str = "eigen", eps: float = 1e-6,
                          clamp: bool = False) -> torch.Tensor:
    r"""Recolour ``style`` so its colours have the mean and covariance of ``content``'s.

    The affine map of the follow-up paper, applied to every pixel's RGB vector:

    .. math::  x' = A (x - \mu_s) + \mu_c, \qquad A \Sigma_s A^T = \Sigma_c,

    so that the result has mean μ_c and covariance Σ_c exactly. Any A with
    :math:`A \Sigma_s A^T = \Sigma_c` does; the paper names two:

    - ``"eigen"`` (default): the symmetric matrix square roots,
      :math:`A = \Sigma_c^{1/2} \Sigma_s^{-1/2}`, computed with the eigendecomposition
      (the 3-D colour matching of Image Analogies).
    - ``"cholesky"``: :math:`A = L_c L_s^{-1}` with :math:`\Sigma = L L^T`.

    Why ``"eigen"`` by default: it treats R, G and B alike. Cholesky factors are triangular,
    so that A depends on the order of the channels (BGR instead of RGB gives another,
    equally "matched" but differently tinted, image); the symmetric square root does not.

    Why ``eps``: a style image with (nearly) no colour spread in some direction, e.g. a grey
    drawing, has a singular Σ_s, whose inverse blows up. We invert :math:`\Sigma_s + \epsilon I`
    instead (and factor :math:`\Sigma_c + \epsilon I` for Cholesky), so the match is exact only
    up to O(ε) in the covariance; pass ``eps=0`` for the exact formula (Σ_s must then be
    invertible). The 3×3 algebra runs in float64 whatever the input's dtype.

    Args:
        style: (N, 3, H, W) RGB in [0, 1], the image to recolour.
        content: (N or 1, 3, H', W') RGB, whose colour statistics are wanted (any size).
        method: ``"eigen"`` or ``"cholesky"``.
        eps: ridge added to the covariances' diagonals, ≥ 0.
        clamp: clamp the result to [0, 1]. Off by default: clamping changes the mean and
            covariance that this function promises (VGG19 takes values slightly outside
            [0, 1] without trouble).

    Returns:
        (N, 3, H, W) the recoloured style image, in the style's dtype.

    Example:
        >>> s, c = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 6, 6) * 0.5
        >>> mu, cov = color_statistics(match_color_histogram(s, c, eps=0))
        >>> torch.allclose(mu, color_statistics(c)[0], atol=1e-5)
        True
    """
    if method not in HISTOGRAM_METHODS:
        raise SettingsError(f"Unknown colour matching method {method!r}; choose 'eigen' or "
                            "'cholesky'.")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise SettingsError(f"eps must be a number >= 0, not {eps!r}.")
    _check_rgb(style, "style")
    _check_rgb(content, "content")
    dtype = style.dtype
    mu_s, cov_s = color_statistics(style.double())
    mu_c, cov_c = color_statistics(content.double())
    ridge = eps * torch.eye(3, dtype=torch.float64, device=style.device)
    if method == "eigen":
        a = _sym_power(cov_c, 0.5) @ _sym_power(cov_s + ridge, -0.5)
    else:
        l_c = torch.linalg.cholesky(cov_c + ridge)
        l_s = torch.linalg.cholesky(cov_s + ridge)
        # A = L_c L_s^{-1}; solve rather than invert: A L_s = L_c.
        a = torch.linalg.solve_triangular(l_s, l_c, upper=False, left=False)
    flat = style.double().flatten(2)  # (N, 3, M)
    matched = a @ (flat - mu_s.unsqueeze(2)) + mu_c.unsqueeze(2)  # (N, 3, M)
    matched = matched.view_as(style).to(dtype)
    return matched.clamp(0.0, 1.0) if clamp else matched
