"""color.py: YIQ, luminance-only helpers and colour histogram matching, against the formulas.

Pure functions on tiny random tensors; float64 where a property is checked to rounding.
"""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck
from torch.testing import assert_close

from nstyle_helpers.controls.color import (YIQ_FROM_RGB, color_statistics, combine_luminance,
                                           grey_as_rgb, luminance, match_color_histogram,
                                           match_luminance, rgb_to_yiq, yiq_to_rgb)
from nstyle_helpers.base.errors import SettingsError

F64 = torch.float64


def rand(*shape, seed, dtype=F64):
    return torch.rand(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def test_yiq_matches_the_matrix_pixel_by_pixel():
    x = rand(2, 3, 4, 5, seed=0)
    matrix = torch.tensor(YIQ_FROM_RGB, dtype=F64)
    expected = torch.einsum("ij,njhw->nihw", matrix, x)
    assert_close(rgb_to_yiq(x), expected, rtol=0, atol=1e-15)
    # One pixel by hand: pure red.
    red = torch.tensor([1.0, 0.0, 0.0], dtype=F64).view(1, 3, 1, 1)
    assert_close(rgb_to_yiq(red).flatten(), torch.tensor([0.299, 0.596, 0.211], dtype=F64))


def test_yiq_round_trip_and_grey_has_no_chroma():
    x = rand(2, 3, 4, 5, seed=1)
    assert_close(yiq_to_rgb(rgb_to_yiq(x)), x, rtol=0, atol=1e-14)
    grey = rand(2, 1, 4, 5, seed=2).expand(-1, 3, -1, -1)
    yiq = rgb_to_yiq(grey)
    assert_close(yiq[:, 1:], torch.zeros_like(yiq[:, 1:]), rtol=0, atol=1e-15)
    assert_close(yiq[:, :1], grey[:, :1], rtol=0, atol=1e-15)  # Y of a grey pixel is itself
    assert_close(luminance(x), rgb_to_yiq(x)[:, :1])


def test_yiq_works_in_float32_on_the_input_dtype():
    x = rand(1, 3, 3, 3, seed=3, dtype=torch.float32)
    assert rgb_to_yiq(x).dtype == torch.float32
    assert_close(yiq_to_rgb(rgb_to_yiq(x)), x, rtol=0, atol=1e-6)


def test_combine_luminance_keeps_the_colour_channels_exactly():
    # Any luminance, even far outside [0, 1]: I and Q are the colour source's to rounding,
    # and the RGB result stays displayable (Y is clamped per pixel, not RGB).
    content = rand(2, 3, 6, 7, seed=4)
    new_y = rand(2, 1, 6, 7, seed=5) * 3 - 1
    out = combine_luminance(new_y, content)
    assert out.shape == content.shape
    assert_close(rgb_to_yiq(out)[:, 1:], rgb_to_yiq(content)[:, 1:], rtol=0, atol=1e-14)
    assert out.min() >= -1e-12 and out.max() <= 1 + 1e-12
    # Where the requested Y is displayable with the content's chroma, it is kept as given.
    mild = 0.5 * luminance(content) + 0.25 * luminance(rand(2, 3, 6, 7, seed=6))
    ok = combine_luminance(mild, content)
    kept = (luminance(ok) - mild).abs() < 1e-12
    assert kept.float().mean() > 0.5
    # The content's own luminance gives back the content.
    assert_close(combine_luminance(luminance(content), content), content, rtol=0, atol=1e-14)


def test_combine_luminance_takes_an_rgb_image_and_broadcasts_the_source():
    content, stylised = rand(1, 3, 5, 5, seed=7), rand(3, 3, 5, 5, seed=8) * 0.2 + 0.4
    out = combine_luminance(stylised, content)
    assert out.shape == (3, 3, 5, 5)
    assert_close(rgb_to_yiq(out)[:, 1:], rgb_to_yiq(content)[:, 1:].expand(3, -1, -1, -1),
                 rtol=0, atol=1e-14)
    with pytest.raises(SettingsError, match="same height and width"):
        combine_luminance(rand(1, 1, 4, 5, seed=9), content)


def test_match_luminance_gives_the_content_mean_and_deviation():
    style_y, content_y = rand(2, 1, 8, 9, seed=10), rand(2, 1, 5, 4, seed=11) * 0.3 + 0.2
    matched = match_luminance(style_y, content_y)
    assert_close(matched.mean(dim=(1, 2, 3)), content_y.mean(dim=(1, 2, 3)))
    assert_close(matched.std(dim=(1, 2, 3), unbiased=False),
                 content_y.std(dim=(1, 2, 3), unbiased=False))
    flat = torch.full((1, 1, 3, 3), 0.7, dtype=F64)  # no spread: only the mean moves
    assert_close(match_luminance(flat, content_y[:1]),
                 content_y[:1].mean().expand(1, 1, 3, 3))
    assert torch.equal(grey_as_rgb(torch.tensor([[[[1.5]]]]))[0, :, 0, 0],
                       torch.ones(3))


@pytest.mark.parametrize("method", ["eigen", "cholesky"])
def test_histogram_matching_gives_the_content_mean_and_covariance(method):
    style = rand(2, 3, 9, 11, seed=12)
    content = rand(2, 3, 7, 6, seed=13) * torch.tensor([0.3, 0.8, 0.5], dtype=F64).view(
        1, 3, 1, 1) + 0.1
    content[:, 2] = 0.5 * content[:, 0] + 0.3 * content[:, 2]  # correlated channels
    mu_c, cov_c = color_statistics(content)
    for eps, tol in ((0.0, 1e-12), (1e-6, 1e-5)):  # exact formula, and the default ridge
        mu, cov = color_statistics(match_color_histogram(style, content, method=method,
                                                         eps=eps))
        assert_close(mu, mu_c, rtol=0, atol=1e-12)
        assert_close(cov, cov_c, rtol=0, atol=tol)


def test_histogram_matching_is_the_affine_formula():
    # x' = A (x − μ_s) + μ_c: recover A from the output by least squares, check A Σ_s Aᵀ = Σ_c.
    style, content = rand(1, 3, 12, 12, seed=14), rand(1, 3, 10, 10, seed=15) ** 2
    mu_s, cov_s = color_statistics(style)
    mu_c, cov_c = color_statistics(content)
    centred = (style.flatten(2) - mu_s.unsqueeze(2))[0].T  # (M, 3)
    maps = {}
    for method in ("eigen", "cholesky"):
        out = match_color_histogram(style, content, method=method, eps=0)
        target = (out.flatten(2) - mu_c.unsqueeze(2))[0].T
        a = torch.linalg.lstsq(centred, target).solution.T
        assert_close(centred @ a.T, target, rtol=0, atol=1e-12)  # exactly affine
        assert_close(a @ cov_s[0] @ a.T, cov_c[0], rtol=0, atol=1e-12)
        maps[method] = a
    # Cholesky: A = L_c L_s⁻¹ is lower triangular; the two methods give different maps.
    assert_close(torch.triu(maps["cholesky"], 1), torch.zeros(3, 3, dtype=F64), rtol=0,
                 atol=1e-10)
    assert not torch.allclose(maps["eigen"], maps["cholesky"])


def test_eigen_method_does_not_depend_on_the_channel_order():
    # Why "eigen" is the default: matching in BGR gives the same picture as in RGB.
    style, content = rand(1, 3, 8, 8, seed=16), rand(1, 3, 8, 8, seed=17) ** 2
    bgr = [2, 1, 0]
    for method, same in (("eigen", True), ("cholesky", False)):
        rgb_result = match_color_histogram(style, content, method=method, eps=0)
        bgr_result = match_color_histogram(style[:, bgr], content[:, bgr], method=method,
                                           eps=0)[:, bgr]
        assert torch.allclose(rgb_result, bgr_result, rtol=0, atol=1e-12) is same


def test_histogram_matching_keeps_dtype_and_handles_a_grey_style():
    content = rand(1, 3, 6, 6, seed=15, dtype=torch.float32)
    grey = rand(1, 1, 6, 6, seed=16, dtype=torch.float32).expand(1, 3, 6, 6)
    out = match_color_histogram(grey, content)  # singular Σ_s: the ridge keeps it finite
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert_close(color_statistics(out)[0], color_statistics(content)[0], rtol=0, atol=1e-5)
    clamped = match_color_histogram(rand(1, 3, 6, 6, seed=17), content.double() * 3, clamp=True)
    assert clamped.min() >= 0 and clamped.max() <= 1


@pytest.mark.parametrize("kwargs, fragment", [
    ({"method": "svd"}, "'eigen' or 'cholesky'"),
    ({"eps": -1.0}, "eps must be a number >= 0"),
])
def test_histogram_matching_rejects_bad_options(kwargs, fragment):
    with pytest.raises(SettingsError, match=fragment):
        match_color_histogram(rand(1, 3, 4, 4, seed=0), rand(1, 3, 4, 4, seed=1), **kwargs)


def test_bad_shapes_are_refused():
    with pytest.raises(SettingsError, match=r"\(N, 3, H, W\)"):
        rgb_to_yiq(torch.zeros(3, 4, 4))
    with pytest.raises(SettingsError, match="style"):
        match_color_histogram(torch.zeros(1, 1, 4, 4), torch.zeros(1, 3, 4, 4))


def test_gradcheck_colour_functions():
    x = rand(1, 3, 3, 4, seed=18).requires_grad_(True)
    assert gradcheck(rgb_to_yiq, (x,))
    assert gradcheck(yiq_to_rgb, (x,))
    # combine_luminance is differentiable in the luminance where no clamp is active.
    content = rand(1, 3, 3, 4, seed=19) * 0.4 + 0.3
    y = (luminance(content) + 0.01 * rand(1, 1, 3, 4, seed=20)).detach().requires_grad_(True)
    assert gradcheck(lambda t: combine_luminance(t, content), (y,))
    y_s = rand(1, 1, 3, 4, seed=21).requires_grad_(True)
    assert gradcheck(lambda t: match_luminance(t, luminance(content)), (y_s,))
    style = rand(1, 3, 4, 4, seed=22).requires_grad_(True)
    for method in ("eigen", "cholesky"):
        assert gradcheck(lambda s: match_color_histogram(s, content, method=method), (style,))
