"""multiscale.py: the coarse-to-fine driver, and its loss against a single-scale run.

The budget (see the module docstring) is counted in final-scale evaluations: an evaluation
at h×w costs h·w / (H·W). The loss comparison runs the full default network (relu1_1 …
relu5_1, relu4_2) with random weights on 40×64 images, 12 evaluations' budget.

Why this test uses smooth images and white-noise starts (measured while writing it):
- Coarse-to-fine only pays off when a low-resolution solution is a good start at high
  resolution, i.e. for images whose structure is mostly low-frequency, like photographs and
  paintings. With pixel-noise test images (torch.rand) the "style" *is* white noise: the
  single-scale run starts from noise, already close, while an upsampled (smooth) coarse
  result is far; there coarse-to-fine lost in 8 of 8 runs. So we use smooth random images
  (sums of bicubically upsampled noise at a few octaves), where it won 12 of 12 runs, by a
  factor of 2-5 in the final loss.
- From the content image (the package's default start), the single-scale run starts with a
  zero content loss that the coarse result cannot match after upsampling; on tiny smooth
  images coarse-to-fine then won only 5 of 12 runs (on the example photographs at 64 px it
  won 12 of 12). We therefore claim and test "no worse" only from white noise, which is the
  paper's start and the case coarse-to-fine is for.
- Both optimisers: with L-BFGS (the default) coarse-to-fine won 6 of 6 seeds by a factor of
  1.6-2.3 in the final loss, with Adam by 2-5; seeds 0 and 1 run here for each.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nstyle_helpers.base.errors import SettingsError
from nstyle_helpers.core.features import CONTENT_LAYER, STYLE_LAYERS, VGG19Features
from nstyle_helpers.controls.multiscale import (MultiScaleResult, validate_scale_steps,
                                                validate_scales, coarse_to_fine, stage_sizes,
                                                upsample)
from nstyle_helpers.core.optimize import OptimizationResult
from nstyle_helpers.transfer import TransferConfig, style_transfer


def smooth_image(height, width, seed):
    """Random but smooth (1, 3, H, W) in [0, 1]: noise at 1/8, 1/4 and 1/2 resolution."""
    g = torch.Generator().manual_seed(seed)
    x = sum(F.interpolate(torch.rand(1, 3, height // k, width // k, generator=g),
                          size=(height, width), mode="bicubic", align_corners=False) / k
            for k in (8, 4, 2))
    x = x - x.amin()
    return (x / x.amax()).clamp(0, 1)


def fake_result(image, stop_reason="finished", evaluations=3, restarts=0):
    return OptimizationResult(image=image, history={"total": torch.zeros(2, 1)},
                              steps=evaluations, evaluations=evaluations,
                              stop_reason=stop_reason, restarts=restarts)


def test_driver_upsamples_each_result_into_the_next_stage():
    sizes = stage_sizes(30, 45, [12, 24, 45])
    assert sizes == [(8, 12), (16, 24), (30, 45)]
    calls = []

    def solve(stage, init, steps):
        # Stage k gets stage k-1's (flat) result, upsampled to its own size.
        calls.append((stage, None if init is None else tuple(init.shape[-2:]), steps))
        if init is not None:
            assert torch.allclose(init, torch.full_like(init, 0.25 * stage))
        h, w = sizes[stage]
        return fake_result(torch.full((1, 3, h, w), 0.25 * (stage + 1)), evaluations=steps,
                           restarts=stage)

    result = coarse_to_fine(solve, sizes, [4, 2, 1])
    assert calls == [(0, None, 4), (1, (16, 24), 2), (2, (30, 45), 1)]
    assert isinstance(result, MultiScaleResult) and isinstance(result, OptimizationResult)
    assert result.image.shape == (1, 3, 30, 45)
    assert torch.equal(result.image, torch.full((1, 3, 30, 45), 0.75))
    assert (result.steps, result.evaluations, result.stop_reason) == (7, 7, "finished")
    assert result.restarts == 0 + 1 + 2
    assert len(result.stages) == 3 and result.sizes == sizes
    # Cost in final-scale evaluations: 4·96/1350 + 2·384/1350 + 1.
    assert result.cost == pytest.approx((4 * 96 + 2 * 384) / 1350 + 1)


def test_upsampling_is_bicubic_and_clamped():
    image = torch.rand(1, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    up = upsample(image, (10, 14))
    expected = F.interpolate(image, size=(10, 14), mode="bicubic", align_corners=False)
    assert torch.allclose(up, expected.clamp(0, 1), atol=1e-6)


def test_a_stage_that_stops_early_ends_the_run_at_the_requested_size():
    sizes = [(8, 8), (16, 16), (32, 32)]

    def solve(stage, init, steps):
        return fake_result(torch.full((1, 3, *sizes[stage]), 0.5),
                           "interrupted" if stage == 1 else "finished")

    result = coarse_to_fine(solve, sizes, [1, 1, 1])
    assert result.stop_reason == "interrupted"
    assert len(result.stages) == 2
    assert result.image.shape == (1, 3, 32, 32)


@pytest.mark.parametrize("scales, fragment", [
    ([], "at least one"),
    ([64, 32], "increase"),
    ([32, 32], "increase"),
    ([0, 32], "must be a whole number 1 or more"),
    ([16.5], "must be a whole number 1 or more"),
    (list(range(16, 16 * 10, 16)), "At most 8"),
])
def test_bad_scales(scales, fragment):
    with pytest.raises(SettingsError, match=fragment):
        validate_scales(scales)


def test_scale_steps():
    assert validate_scale_steps(5, 2) == (5, 5)
    assert validate_scale_steps([3, 1], 2) == (3, 1)
    with pytest.raises(SettingsError, match="2 step counts for 3 scales"):
        validate_scale_steps([3, 1], 3)
    with pytest.raises(SettingsError, match="must be a whole number 1 or more"):
        validate_scale_steps([3, 0], 2)


@pytest.fixture(scope="module")
def full_vgg():
    return VGG19Features([*STYLE_LAYERS, CONTENT_LAYER], weights="random")


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
@pytest.mark.parametrize("seed", [0, 1])
def test_coarse_to_fine_is_no_worse_than_single_scale_at_the_same_budget(full_vgg, seed,
                                                                          optimizer):
    content, style = smooth_image(40, 64, seed), smooth_image(48, 48, seed + 100)
    budget = 12
    config = TransferConfig(steps=budget, weights="random", init="noise", optimizer=optimizer,
                            seed=seed)
    single = style_transfer(content, style, config, extractor=full_vgg, progress=False)
    # 8 steps at 20×32 cost 8 · 640/2560 = 2 final-scale evaluations; 10 remain at 40×64.
    multi = style_transfer(content, style, config, scales=(32, 64), scale_steps=(8, 10),
                                extractor=full_vgg, progress=False)
    assert multi.image.shape == single.image.shape == (1, 3, 40, 64)
    assert [r.image.shape[-2:] for r in multi.stages] == [(20, 32), (40, 64)]
    assert single.cost == budget and multi.cost <= budget
    assert multi.evaluations == 18  # more evaluations, but 8 of them 4× cheaper
    # The loss at the final scale: the same objective, so the numbers compare directly.
    assert multi.final_loss[0] <= single.final_loss[0], (multi.final_loss, single.final_loss)


def test_coarse_to_fine_returns_the_requested_size(full_vgg):
    content, style = smooth_image(30, 45, 3), smooth_image(32, 32, 4)
    config = TransferConfig(steps=1, weights="random", optimizer="adam")
    result = style_transfer(content, style, config, scales=(24, 40), extractor=full_vgg,
                                 progress=False)
    assert result.image.shape == (1, 3, 27, 40)  # the content's aspect at longer side 40
    assert result.sizes == [(16, 24), (27, 40)]
    assert result.steps == 2  # config.steps at every scale
    assert result.history["total"].shape == (2, 1)  # the final stage's history
