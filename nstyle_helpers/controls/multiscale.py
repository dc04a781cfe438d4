r"""Coarse-to-fine optimisation: solve small, upsample, refine larger.

High-resolution style transfer from scratch is slow (every loss evaluation costs time in
proportion to the number of pixels) and tends to lose large-scale structure (VGG19's
receptive fields are a fixed number of pixels, so at 1024 px the style's strokes become
small relative to the image). Gatys et al. (CVPR 2017, "Controlling Perceptual Factors",
in its section on scale control) therefore solve at a low resolution first and use the
upsampled result as the starting image at the next, e.g. sizes 256 → 512 → 1024. :func:`coarse_to_fine` runs that schedule
for any per-stage solver; :func:`~nstyle_helpers.transfer.style_transfer` uses it.

**The budget.** One loss evaluation (forward + backward through VGG19) costs time roughly
in proportion to the image's pixels, so we count cost in *final-scale evaluations*: an
evaluation at h×w costs h·w / (H·W) of one at the final H×W. A coarse-to-fine run with
e_k evaluations at stage k costs :math:`\sum_k e_k \, h_k w_k / (H W)`
(:attr:`MultiScaleResult.cost`); a single-scale run of S steps at H×W costs S. That is the
fair comparison for wall-clock time on the same device; counting every evaluation as 1
instead would make the coarse stages look as expensive as the fine one.

**When it pays off** (measured with random weights on tiny images, see
``tests/test_multiscale.py``): from white noise (the paper's start) on smooth, structured
images, coarse-to-fine reached a 2-5 × lower final loss than a single-scale run of the same
cost in every run. It does not pay off when a low-resolution solution is a poor start at the
high resolution: on pixel-noise images, or, at tiny sizes, when the single-scale run starts
from the content image itself (zero content loss, which an upsampled coarse result lacks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..base.errors import SettingsError
from ..base.validation import validate_whole_number
from ..core.optimize import OptimizationResult

__all__ = ["MAX_SCALES", "MultiScaleResult", "validate_scales", "validate_scale_steps",
           "stage_sizes", "upsample", "coarse_to_fine"]

#: The most stages :func:`validate_scales` accepts (each at least doubles the work).
MAX_SCALES = 8


@dataclass
class MultiScaleResult(OptimizationResult):
    """An :class:`~nstyle_helpers.core.optimize.OptimizationResult` of a coarse-to-fine run.

    ``image`` is the final image at the last (requested) size. ``history`` and
    ``snapshots`` are the last stage's (run at the final size, unless the run stopped
    early). ``steps``, ``evaluations``, ``restarts`` and ``seconds`` are totals over the stages;
    ``stages`` holds each stage's own result and ``sizes`` its (H, W); ``cost`` is the
    budget in final-scale evaluations (see the module docstring).
    """

    stages: list[OptimizationResult] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    cost: float = 0.0


def validate_scales(scales: Sequence[int]) -> tuple[int, ...]:
    """Validate coarse-to-fine sizes (longer sides in pixels): increasing, at most 8.

    >>> validate_scales([256, 512])
    (256, 512)
    """
    scales = tuple(validate_whole_number(s, "Each scale", 1) for s in scales)
    if not scales:
        raise SettingsError("Give at least one scale, e.g. 256,512.")
    if len(scales) > MAX_SCALES:
        raise SettingsError(f"At most {MAX_SCALES} scales, got {len(scales)}.")
    if any(b <= a for a, b in zip(scales, scales[1:])):
        raise SettingsError(f"Scales must increase from coarse to fine, got {list(scales)}; "
                            "the last one is the size of the result.")
    return scales


def validate_scale_steps(steps: int | Sequence[int], count: int) -> tuple[int, ...]:
    """One number of steps per stage: an int for every stage, or a sequence of ``count``.

    >>> validate_scale_steps(50, 3), validate_scale_steps([100, 50], 2)
    ((50, 50, 50), (100, 50))
    """
    if not isinstance(steps, Sequence):  # one number for every stage
        return (validate_whole_number(steps, "Steps", 1),) * count
    steps = tuple(validate_whole_number(s, "Each stage's steps", 1) for s in steps)
    if len(steps) != count:
        raise SettingsError(f"Got {len(steps)} step counts for {count} scales; give one per "
                            "scale (or one number for all).")
    return steps


def stage_sizes(height: int, width: int, scales: Sequence[int]) -> list[tuple[int, int]]:
    """(H, W) of each stage: the aspect ratio of H×W with the longer side ``scales[k]``.

    Rounded as :func:`~nstyle_helpers.core.images.resize` rounds, so ``resize(image, s)`` has
    exactly this size.

    >>> stage_sizes(474, 712, [256, 512])
    [(170, 256), (341, 512)]
    """
    sizes = []
    for side in scales:
        scale = side / max(height, width)
        sizes.append((max(1, round(height * scale)), max(1, round(width * scale))))
    return sizes


def upsample(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize an (N, 3, h, w) result to (H, W) bicubically, clamped to [0, 1]; detached.

    PyTorch's bicubic (a = −0.75, no antialiasing, which only matters when shrinking);
    bicubic overshoots at edges, hence the clamp. Unchanged if the size is equal.
    """
    image = image.detach()
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image, size=tuple(size), mode="bicubic",
                         align_corners=False).clamp_(0.0, 1.0)


Solver = Callable[[int, "torch.Tensor | None", int], OptimizationResult]


def coarse_to_fine(solve: Solver, sizes: Sequence[tuple[int, int]],
                   steps: Sequence[int]) -> MultiScaleResult:
    """Run ``solve`` at each size in turn, each stage starting from the last one's result.

    Args:
        solve: ``solve(stage, init, steps)`` optimises stage ``stage`` (0, 1, ...) at
            ``sizes[stage]`` for ``steps`` steps, starting from ``init``: ``None`` at stage 0
            (the solver picks its own start), else the previous result upsampled
            bicubically to ``sizes[stage]``, (N, 3, H_k, W_k).
        sizes: (H, W) per stage, coarse to fine (see :func:`stage_sizes`).
        steps: steps per stage (see :func:`validate_scale_steps`).

    Returns:
        A :class:`MultiScaleResult` at ``sizes[-1]``. If a stage ends early (Ctrl-C, or its
        callback asked to stop), the later stages are skipped and its image is upsampled
        to the final size, with that stage's ``stop_reason``.
    """
    if len(sizes) != len(steps) or not sizes:
        raise SettingsError("coarse_to_fine needs one step count per size.")
    start = time.perf_counter()
    final_pixels = sizes[-1][0] * sizes[-1][1]
    stages: list[OptimizationResult] = []
    init = None
    for k, (size, count) in enumerate(zip(sizes, steps)):
        result = solve(k, init, count)
        stages.append(result)
        if result.stop_reason != "finished" or k == len(sizes) - 1:
            break
        init = upsample(result.image, sizes[k + 1])
    last = stages[-1]
    cost = sum(r.evaluations * (h * w) / final_pixels for r, (h, w) in zip(stages, sizes))
    return MultiScaleResult(
        image=upsample(last.image, sizes[-1]), history=last.history, snapshots=last.snapshots,
        steps=sum(r.steps for r in stages), evaluations=sum(r.evaluations for r in stages),
        restarts=sum(r.restarts for r in stages),
        seconds=time.perf_counter() - start, stop_reason=last.stop_reason,
        stages=stages, sizes=list(sizes[:len(stages)]), cost=cost)
