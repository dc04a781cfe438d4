"""One optimisation loop for Adam and L-BFGS, on the pixels of a batch of images.

What "steps" means: one *step* is one call of the optimiser's ``step``.

- Adam: one step = one loss evaluation (a forward and a backward pass through VGG19).
- L-BFGS: one step = one L-BFGS iteration of :class:`~nstyle_helpers.core.lbfgs.BatchLBFGS`
  (torch's ``LBFGS`` algorithm with a memory per image; for one image, until a step lands
  uphill, ``steps`` calls equal one ``torch.optim.LBFGS`` call with ``max_iter=steps``).
  Without a line search, as in the
  PyTorch tutorial and Johnson's neural-style, that is also one evaluation per step; the
  result counts evaluations separately all the same.

Pixel clamping policy: the pixels are optimised directly, in [0, 1], and *after every step*
they are clamped back into [0, 1] (projected gradient descent). The paper does not say what it
did; clamping keeps every intermediate image displayable and inside the range VGG19 was
trained on. Within one L-BFGS step the trial points are not clamped, so the returned image is
clamped once more. L-BFGS knows the bounds: a pixel at 0 or 1 whose gradient points outward is
held there rather than pushed out and clamped back at every step (``BatchLBFGS(bounds=…)``).

L-BFGS restarts: without a line search (as in the PyTorch tutorial and neural-style) a step can land
far uphill, and from there L-BFGS may climb on: its curvature memory, learned from tiny late steps
whose gradient differences are mostly rounding, no longer describes the function. In a 300-step run
at 384 px we saw the loss go from 1.5e-4 to 2.9, six times the starting image's loss, and stay
there. So when :data:`LBFGS_RESTART_PATIENCE` (10) steps in a row start from a loss more than
:data:`LBFGS_RESTART_FACTOR` (10) times the best so far, the loop goes back to the best image and
clears L-BFGS's memory, keeping only its step scale (``result.restarts`` counts it). Each image of a
batch is judged and restarted on its own. Shorter or smaller detours are left alone: L-BFGS mostly
comes back down from them by itself within a few steps, and a restart throws away the curvature
memory that brings it down. Measured against the PyTorch tutorial's lowest loss
(``benchmarks/results/experiments.md``): restarting after a single step above 10× missed it in 600
evaluations from three of three starts on the paper's layers (one thread), where waiting 10 steps
reached it in 189-239, and it reached it from every start measured in that round (19 runs), though
in some runs later than the single-step rule (up to ×2.2 the evaluations). It is no guarantee: on
another host (an Intel Xeon, one thread) a spike that came back below 10× after 9 steps left the run
0.8 % above the target after 600. A factor of 2 missed it too. All of this was measured on random
weights; on real ImageNet features the loss descends steadily and the rule has not fired in any
measured run: it stays as a guard that costs nothing while it does not fire.

A batch: the images of a batch must not interact (each loss depends only on its own image);
then one run optimises N problems, and equals N separate runs up to floating-point rounding:
Adam works element by element, and L-BFGS keeps a memory and a step scale per image
(:mod:`nstyle_helpers.core.lbfgs`). (A convolution may sum in another order for another batch
size; Adam's division by each gradient's running size magnifies such differences where a
gradient is near zero.)

Nothing is lost when a run goes wrong: the loop keeps the best image seen so far (lowest
total loss, per image). A NaN or infinite loss raises :class:`DivergedError` carrying that
image; Ctrl-C (KeyboardInterrupt) ends the run early and returns it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from ..base.errors import DivergedError, SettingsError
from ..base.environment import progress_bar
from ..base.validation import (OPTIMIZERS, validate_learning_rate, validate_optimizer,
                               validate_steps, validate_whole_number)
from .lbfgs import BatchLBFGS

__all__ = ["OPTIMIZERS", "DEFAULT_LR", "LBFGS_RESTART_FACTOR", "LBFGS_RESTART_PATIENCE",
           "Progress", "OptimizationResult", "optimize"]


#: Default learning rates. L-BFGS: 1, its natural step. Adam: 0.02 in [0, 1] pixel units,
#: about 5 in the blog post's 0..255 units (it suggests "about 1-5").
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}

#: L-BFGS goes back to the best image, with a fresh memory, when steps start from a total
#: loss above this multiple of the best one (see the module docstring) ...
LBFGS_RESTART_FACTOR = 10.0

#: ... once this many steps in a row have started so far uphill.
LBFGS_RESTART_PATIENCE = 10

Objective = Callable[[torch.Tensor], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class Progress:
    """What a callback sees after each step."""

    step: int  #: steps done so far (1 after the first step)
    evaluations: int  #: loss evaluations so far
    image: torch.Tensor  #: (N, 3, H, W) the current images, detached; do not modify
    losses: dict[str, torch.Tensor]  #: each term (N,), at the start of this step


@dataclass
class OptimizationResult:
    """The outcome of :func:`optimize`.

    ``history[name]`` is a (rows, N) tensor: row t holds the loss term after t steps (row 0: the
    starting image). A finished run has steps + 1 rows (the last from one more forward pass); an
    interrupted or diverged one has a row for each step it finished. ``snapshots`` holds ``(step,
    (N, 3, H, W) image)`` pairs on the CPU. ``image`` is the best image seen (lowest total loss, per
    batch item), clamped to [0, 1]. ``stop_reason`` is ``"finished"``, ``"interrupted"``,
    ``"callback"`` or ``"diverged"``. ``restarts`` counts L-BFGS restarts from the best image.
    """

    image: torch.Tensor
    history: dict[str, torch.Tensor]
    snapshots: list[tuple[int, torch.Tensor]] = field(default_factory=list)
    steps: int = 0
    evaluations: int = 0
    seconds: float = 0.0
    stop_reason: str = "finished"
    restarts: int = 0

    @property
    def final_loss(self) -> torch.Tensor:
        """(N,) the total loss at the last recorded step."""
        return self.history["total"][-1]


class _Diverged(Exception):
    def __init__(self, terms: dict[str, torch.Tensor]):
        finite = torch.isfinite(terms["total"].detach())
        self.images = (~finite).nonzero().flatten().tolist()
        self.value = float(terms["total"].detach()[self.images[0]])
        # The loss terms (other than the total) that are not finite for the first such image.
        self.terms = [name for name, value in terms.items() if name != "total"
                      and not math.isfinite(float(value.detach()[self.images[0]]))]


class _Recorder:
    """Tracks the best image per batch item and the loss history."""

    def __init__(self, image: torch.Tensor):
        self.best_image = image.detach().clone()
        self.best_loss = torch.full((image.shape[0],), math.inf, device=image.device)
        self.history: dict[str, list[torch.Tensor]] = {}

    def consider(self, image: torch.Tensor, total: torch.Tensor) -> None:
        better = total.detach() < self.best_loss
        if better.any():
            self.best_loss = torch.where(better, total.detach(), self.best_loss)
            self.best_image[better] = image.detach()[better]

    def record(self, terms: dict[str, torch.Tensor]) -> None:
        for name, value in terms.items():
            # Kept on the device until the end: a .cpu() per step would make the CPU wait
            # for the GPU at every step (a synchronisation) and stall its queue of work.
            self.history.setdefault(name, []).append(value.detach().float())

    def result(self, **kwargs) -> OptimizationResult:
        history = {name: torch.stack(values).cpu() for name, values in self.history.items()}
        return OptimizationResult(image=self.best_image.clamp(0, 1), history=history, **kwargs)


def _check_settings(optimizer: str, steps: int, lr: float, snapshot_every: int) -> None:
    validate_optimizer(optimizer)
    validate_steps(steps)
    validate_learning_rate(lr)
    validate_whole_number(snapshot_every, "snapshot_every", 0)


def _make_optimizer(name: str, image: torch.Tensor, lr: float):
    if name == "adam":
        return torch.optim.Adam([image], lr=lr)
    return BatchLBFGS(image, lr=lr, bounds=(0.0, 1.0))  # _Run.step clamps into them


def optimize(objective: Objective, init: torch.Tensor, *, optimizer: str = "lbfgs",
             steps: int = 300, lr: float | None = None, snapshot_every: int = 0,
             callback: Callable[[Progress], bool | None] | None = None,
             progress: bool = True, description: str = "optimising") -> OptimizationResult:
    """Change the pixels of ``init`` to minimise ``objective(image)["total"]``.

    Args:
        objective: maps an (N, 3, H, W) batch to named (N,) loss terms including
            ``"total"``, e.g. an :class:`~nstyle_helpers.core.objective.Objective`. The
            batch items must not interact (see "A batch" in the module docstring).
        init: (N, 3, H, W) starting images in [0, 1] (not modified).
        optimizer: ``"lbfgs"`` (the paper) or ``"adam"`` (the blog post).
        steps: optimiser steps (see the module docstring for what a step is).
        lr: learning rate; ``None`` takes :data:`DEFAULT_LR`.
        snapshot_every: keep a copy of the images every k steps (0: none).
        callback: called with a :class:`Progress` after every step; return True to stop.
        progress: show a ``tqdm`` progress bar (unless ``$TQDM_DISABLE`` is set).

    Returns:
        An :class:`OptimizationResult` with the best image and the loss history.

    Raises:
        DivergedError: the loss became NaN or infinite; ``error.result`` keeps the best image.
        SettingsError: unknown optimiser, or steps / lr not positive numbers.
    """
    lr = DEFAULT_LR.get(optimizer, 1.0) if lr is None else lr
    _check_settings(optimizer, steps, lr, snapshot_every)
    run = _Run(objective, init, optimizer, lr, snapshot_every)
    bar = progress_bar(enabled=progress, total=steps, desc=description, unit="step")
    try:
        for _ in range(steps):
            terms = run.step()
            _show(bar, terms, progress)
            if callback is not None and callback(run.progress(terms)):
                run.stop_reason = "callback"
                break
        run.record_final()
    except KeyboardInterrupt:
        # A student who stops a long notebook cell keeps the best image so far.
        run.stop_reason = "interrupted"
    except _Diverged as diverged:
        run.stop_reason = "diverged"
        raise DivergedError(_diverged_cause(diverged, run.steps, objective, init, optimizer, lr),
                            run.result()) from None
    finally:
        bar.close()
    return run.result()


def _show(bar, terms: dict[str, torch.Tensor], progress: bool) -> None:
    bar.update(1)
    if progress:  # float() waits for the GPU: only when a bar shows it
        bar.set_postfix(loss=f"{float(terms['total'].sum()):.4g}", refresh=False)


class _Run:
    """One optimisation in progress: the image, the optimiser, the best image and history, the
    snapshots and the counts. :meth:`step` is one optimiser step and what follows it."""

    def __init__(self, objective: Objective, init: torch.Tensor, optimizer: str, lr: float,
                 snapshot_every: int):
        self.objective = objective
        # A contiguous copy whatever init's memory layout: L-BFGS takes flat views of it.
        self.image = init.detach().clone(
            memory_format=torch.contiguous_format).requires_grad_(True)
        self.optimizer = _make_optimizer(optimizer, self.image, lr)
        self.restart_rule = _RestartRule(init.shape[0], init.device) \
            if optimizer == "lbfgs" else None
        self.recorder = _Recorder(self.image)
        self.snapshot_every = snapshot_every
        self.snapshots = [(0, self._copy())] if snapshot_every else []
        self.steps = self.evaluations = self.restarts = 0
        self.stop_reason = "finished"
        self.start = time.perf_counter()
        self._step_terms: dict[str, torch.Tensor] = {}

    def closure(self) -> torch.Tensor:
        """One evaluation: the loss and its gradient at the current image."""
        self.image.grad = None
        terms = self.objective(self.image)
        self.evaluations += 1
        _check_finite(terms)
        self.recorder.consider(self.image, terms["total"])
        if not self._step_terms:  # the first evaluation of a step: the loss at its start
            self._step_terms.update({k: v.detach() for k, v in terms.items()})
        terms["total"].sum().backward()
        return terms["total"].detach()  # (N,): BatchLBFGS judges each image's step

    def step(self) -> dict[str, torch.Tensor]:
        """One optimiser step, the clamp into [0, 1], the restart rule and the records;
        returns the loss terms at the step's start."""
        self._step_terms = {}
        self.optimizer.step(self.closure)
        with torch.no_grad():
            self.image.clamp_(0.0, 1.0)
        if self.restart_rule is not None:
            self.restarts += self.restart_rule(self.optimizer, self.image,
                                               self._step_terms["total"], self.recorder)
        self.steps += 1
        self.recorder.record(self._step_terms)
        if self.snapshot_every and self.steps % self.snapshot_every == 0:
            self.snapshots.append((self.steps, self._copy()))
        return self._step_terms

    def progress(self, terms: dict[str, torch.Tensor]) -> Progress:
        return Progress(step=self.steps, evaluations=self.evaluations,
                        image=self.image.detach(), losses=dict(terms))

    def record_final(self) -> None:
        _record_final(self.objective, self.image, self.recorder)

    def result(self) -> OptimizationResult:
        return self.recorder.result(snapshots=self.snapshots, steps=self.steps,
                                    evaluations=self.evaluations, stop_reason=self.stop_reason,
                                    restarts=self.restarts,
                                    seconds=time.perf_counter() - self.start)

    def _copy(self) -> torch.Tensor:
        return self.image.detach().clamp(0, 1).cpu().clone()


class _RestartRule:
    """L-BFGS's restart rule (see the module docstring), judged per image: count the steps in
    a row that started more than LBFGS_RESTART_FACTOR × above the image's best loss; after
    LBFGS_RESTART_PATIENCE of them, put its best image back and clear its memory."""

    def __init__(self, n: int, device: torch.device):
        self.uphill = torch.zeros(n, dtype=torch.long, device=device)

    def __call__(self, opt: BatchLBFGS, image: torch.Tensor, total: torch.Tensor,
                 recorder: _Recorder) -> int:
        """Applies the rule after a step that started at ``total`` (N,); returns how many
        images were restarted."""
        far = total.detach() > LBFGS_RESTART_FACTOR * recorder.best_loss
        self.uphill = torch.where(far, self.uphill + 1, 0)
        restart = self.uphill >= LBFGS_RESTART_PATIENCE
        if bool(restart.any()):
            with torch.no_grad():
                image[restart] = recorder.best_image[restart]
            opt.restart(restart)
            self.uphill.masked_fill_(restart, 0)
        return int(restart.sum())


def _record_final(objective: Objective, image: torch.Tensor, recorder: _Recorder) -> None:
    # One more forward pass, without gradients, gives the loss of the final image.
    with torch.no_grad():
        terms = objective(image)
    _check_finite(terms)
    recorder.consider(image, terms["total"])
    recorder.record(terms)


def _check_finite(terms: dict[str, torch.Tensor]) -> None:
    if not bool(torch.isfinite(terms["total"].detach()).all()):
        raise _Diverged(terms)


def _non_finite_weights(objective: Objective) -> bool:
    extractor = getattr(objective, "extractor", None)
    return extractor is not None and any(not bool(torch.isfinite(p).all())
                                         for p in extractor.parameters())


def _diverged_cause(diverged: _Diverged, step: int, objective: Objective, init: torch.Tensor,
                    optimizer: str, lr: float) -> str:
    """What made the loss non-finite, first the causes that are not the learning rate."""
    kind = "NaN" if math.isnan(diverged.value) else "infinite"
    which = f"image {diverged.images[0]}" if len(diverged.images) == 1 else \
        f"images {diverged.images}"
    start = f"The loss became {kind} at step {step + 1} for {which}"
    if not bool(torch.isfinite(init).all()):
        cause = "the starting image contains NaN or infinite pixels; pass values in [0, 1]"
    elif _non_finite_weights(objective):
        cause = "VGG19's weights contain NaN or infinite values; load a correct weights file"
    elif step == 0 and diverged.terms:
        terms = " and ".join(diverged.terms)
        cause = (f"the {terms} term{'s are' if len(diverged.terms) > 1 else ' is'} {kind} for "
                 "the starting image: its weight is too large for float32; lower it")
    else:
        cause = (f"the learning rate {lr:g} is probably too high for {optimizer} (try "
                 f"{lr / 10:g}), or a loss weight is too large")
    return f"{start}: {cause}."
