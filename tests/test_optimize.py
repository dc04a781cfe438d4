"""The optimisation loop: counting, history, snapshots, callbacks, clamping, failure modes.

Most tests use the pixel loss Σ (x − z)², which needs no network, so they take milliseconds.
A wrapper around the objective records every call (image, loss, whether gradients were on),
so the loop's bookkeeping is checked against what really happened rather than against
numbers it printed itself.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch.testing import assert_close

from nstyle_helpers.base.errors import DivergedError
from nstyle_helpers.core.features import VGG19Features
from nstyle_helpers.core.losses import pixel_loss
from nstyle_helpers.core.objective import Objective
from nstyle_helpers.core.optimize import DEFAULT_LR, OPTIMIZERS, Progress, optimize

F64 = torch.float64


def rand(*shape, seed=0, lo=0.0, hi=1.0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(*shape, dtype=dtype, generator=g)


class Recording:
    """An objective that records each call: the image, the total, and whether grad was on.

    ``scale(k)`` multiplies the pixel loss of call k (to build losses that jump or turn NaN);
    ``interrupt_at`` raises KeyboardInterrupt on that call (0-based), as Ctrl-C would.
    """

    def __init__(self, target, scale=None, interrupt_at=None):
        self.target, self.scale, self.interrupt_at = target, scale, interrupt_at
        self.images, self.totals, self.grad_enabled = [], [], []

    def __call__(self, x):
        k = len(self.images)
        if k == self.interrupt_at:
            raise KeyboardInterrupt
        loss = pixel_loss(x, self.target)
        if self.scale is not None:
            loss = loss * self.scale(k)
        self.images.append(x.detach().clone())
        self.totals.append(loss.detach().clone())
        self.grad_enabled.append(torch.is_grad_enabled())
        return {"pixel": loss, "total": loss}

    def best_image(self):
        """Per batch item, the recorded image with the lowest finite total (the reference)."""
        totals = torch.stack(self.totals)  # (calls, N)
        totals = torch.where(torch.isfinite(totals), totals, torch.full_like(totals, math.inf))
        best = totals.argmin(dim=0)  # (N,)
        return torch.stack([self.images[int(k)][n] for n, k in enumerate(best)]), best


def run(objective, init, **kw):
    kw.setdefault("progress", False)
    return optimize(objective, init, **kw)


# ---------------------------------------------------------------------------------------------
# Counting and history.
# ---------------------------------------------------------------------------------------------

def test_adam_counts_one_evaluation_per_step():
    rec = Recording(rand(2, 3, 8, 8, seed=1))
    result = run(rec, rand(2, 3, 8, 8, seed=2), optimizer="adam", steps=5)
    assert (result.steps, result.evaluations, result.stop_reason) == (5, 5, "finished")
    # 5 evaluations with gradients, plus the final no-grad pass that is not counted.
    assert rec.grad_enabled == [True] * 5 + [False]
    assert result.history["total"].shape == (6, 2)
    assert set(result.history) == {"pixel", "total"}


def test_lbfgs_counts_evaluations_separately():
    rec = Recording(rand(2, 3, 8, 8, seed=1))
    result = run(rec, rand(2, 3, 8, 8, seed=2), optimizer="lbfgs", steps=4)
    assert result.steps == 4
    assert result.evaluations >= result.steps
    # Every counted evaluation is a gradient pass; exactly one uncounted no-grad pass at the end.
    assert sum(rec.grad_enabled) == result.evaluations
    assert rec.grad_enabled[-1] is False and rec.grad_enabled.count(False) == 1
    assert result.history["total"].shape == (5, 2)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_history_row_t_is_loss_after_t_steps(optimizer):
    # Row 0: the starting image; row t: the image after t steps, as the callback saw it.
    target, init = rand(3, 3, 6, 7, seed=3), rand(3, 3, 6, 7, seed=4)
    seen = []
    result = run(Recording(target), init, optimizer=optimizer, steps=4, lr=0.1,
                 callback=lambda p: seen.append(p.image.clone()))
    images = [init] + seen
    expected = torch.stack([pixel_loss(x, target) for x in images])
    assert result.history["total"].shape == (5, 3)
    assert_close(result.history["total"], expected, rtol=1e-5, atol=1e-6)
    assert_close(result.history["pixel"], result.history["total"])
    assert_close(result.final_loss, expected[-1], rtol=1e-5, atol=1e-6)
    assert result.history["total"].device.type == "cpu"


def test_snapshots_every_k_steps():
    init = rand(2, 3, 5, 5, seed=5)
    seen = {}
    result = run(Recording(rand(2, 3, 5, 5, seed=6)), init, optimizer="adam", steps=7,
                 snapshot_every=3, callback=lambda p: seen.update({p.step: p.image.clone()}))
    assert [step for step, _ in result.snapshots] == [0, 3, 6]
    assert torch.equal(result.snapshots[0][1], init)
    for step, snap in result.snapshots[1:]:
        assert snap.shape == (2, 3, 5, 5) and snap.device.type == "cpu"
        assert torch.equal(snap, seen[step])
    # Snapshots are copies: later steps did not overwrite them.
    assert not torch.equal(result.snapshots[1][1], result.snapshots[2][1])


def test_no_snapshots_by_default():
    result = run(Recording(rand(1, 3, 4, 4, seed=7)), rand(1, 3, 4, 4), optimizer="adam", steps=2)
    assert result.snapshots == []


# ---------------------------------------------------------------------------------------------
# Callbacks and the progress bar.
# ---------------------------------------------------------------------------------------------

def test_callback_receives_progress_after_each_step():
    target = rand(2, 3, 4, 4, seed=8)
    calls = []
    result = run(Recording(target), rand(2, 3, 4, 4, seed=9), optimizer="adam", steps=4,
                 callback=calls.append)
    assert all(isinstance(p, Progress) for p in calls)
    assert [p.step for p in calls] == [1, 2, 3, 4]
    assert [p.evaluations for p in calls] == [1, 2, 3, 4]
    for p in calls:
        assert p.image.shape == (2, 3, 4, 4) and not p.image.requires_grad
        assert set(p.losses) == {"pixel", "total"} and p.losses["total"].shape == (2,)
    # losses are those at the start of the step: the next history row is after the step.
    assert_close(calls[0].losses["total"], result.history["total"][0])


def test_callback_returning_true_stops():
    rec = Recording(rand(2, 3, 4, 4, seed=10))
    result = run(rec, rand(2, 3, 4, 4, seed=11), optimizer="adam", steps=10,
                 callback=lambda p: p.step == 3)
    assert result.stop_reason == "callback"
    assert (result.steps, result.evaluations) == (3, 3)
    assert result.history["total"].shape == (4, 2)  # still steps + 1 rows


def test_callback_returning_none_or_false_continues():
    result = run(Recording(rand(1, 3, 4, 4, seed=10)), rand(1, 3, 4, 4, seed=11),
                 optimizer="adam", steps=3, callback=lambda p: None if p.step == 1 else False)
    assert (result.steps, result.stop_reason) == (3, "finished")


@pytest.mark.parametrize("progress", [False, True])
@pytest.mark.parametrize("tqdm_disable", [None, "1", "0"])
def test_progress_bar_on_and_off(progress, tqdm_disable, capsys, monkeypatch):
    # Independent of the user's environment: the test sets TQDM_DISABLE itself. As tqdm
    # documents, any non-empty value (even "0", cast with bool) switches bars off.
    if tqdm_disable is None:
        monkeypatch.delenv("TQDM_DISABLE", raising=False)
    else:
        monkeypatch.setenv("TQDM_DISABLE", tqdm_disable)
    result = optimize(Recording(rand(1, 3, 4, 4, seed=12)), rand(1, 3, 4, 4, seed=13),
                      optimizer="adam", steps=3, progress=progress, description="testing")
    assert result.steps == 3
    err = capsys.readouterr().err
    # In a terminal tqdm writes a text bar to stderr; disabled, nothing at all.
    assert ("testing" in err) == (progress and tqdm_disable is None)


# ---------------------------------------------------------------------------------------------
# Clamping, the input, the best image.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("optimizer,lr", [("adam", 0.3), ("lbfgs", 1.0)])
def test_pixels_stay_in_unit_range_after_every_step(optimizer, lr):
    # The target lies outside [0, 1] in both directions, so unclamped steps would leave it.
    target = rand(2, 3, 6, 6, seed=14, lo=-1.0, hi=2.0)
    ranges = []
    result = run(Recording(target), rand(2, 3, 6, 6, seed=15), optimizer=optimizer, lr=lr,
                 steps=8, snapshot_every=2,
                 callback=lambda p: ranges.append((p.image.min().item(), p.image.max().item())))
    assert all(0.0 <= lo and hi <= 1.0 for lo, hi in ranges)
    assert 0.0 <= result.image.min() and result.image.max() <= 1.0
    for _, snap in result.snapshots:
        assert 0.0 <= snap.min() and snap.max() <= 1.0
    # The clamp really bit: where the target is above 1, the best image sits at 1 (the
    # projection of the target onto [0, 1]), and 0 where it is below 0.
    above, below = target > 1.05, target < -0.05
    assert_close(result.image[above], torch.ones(int(above.sum())), atol=1e-3, rtol=0)
    assert_close(result.image[below], torch.zeros(int(below.sum())), atol=1e-3, rtol=0)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_init_is_not_modified(optimizer):
    init = rand(2, 3, 5, 5, seed=16)
    copy = init.clone()
    result = run(Recording(rand(2, 3, 5, 5, seed=17)), init, optimizer=optimizer, steps=3)
    assert torch.equal(init, copy) and not init.requires_grad
    assert not torch.equal(result.image, init)  # while the result did move


def test_result_image_is_best_not_last():
    # Call 2 has its loss scaled by 0.01: the image evaluated there is the best one seen,
    # although the run goes on (with larger losses) afterwards.
    rec = Recording(rand(2, 3, 4, 4, seed=18), scale=lambda k: 0.01 if k == 2 else 1.0)
    result = run(rec, rand(2, 3, 4, 4, seed=19), optimizer="adam", steps=5)
    expected, best = rec.best_image()
    assert best.tolist() == [2, 2]  # sanity check of the construction
    assert torch.equal(result.image, expected)
    assert not torch.equal(result.image, rec.images[-1])


# ---------------------------------------------------------------------------------------------
# Batched Adam equals separate runs.
# ---------------------------------------------------------------------------------------------

def test_batched_adam_equals_separate_runs_pixel_loss():
    # Adam updates each pixel from its own gradient history, and image n's gradient depends
    # only on image n, so one batched run is N independent runs. float64 and a tolerance
    # rather than bit equality: reductions may be ordered differently for other batch sizes.
    targets = rand(3, 3, 6, 5, seed=20, dtype=F64)
    init = rand(3, 3, 6, 5, seed=21, dtype=F64)
    batched = run(Objective(None, pixel_target=targets), init, optimizer="adam", lr=0.05, steps=6)
    for n in range(3):
        alone = run(Objective(None, pixel_target=targets[n:n + 1]), init[n:n + 1],
                    optimizer="adam", lr=0.05, steps=6)
        assert_close(batched.image[n:n + 1], alone.image, rtol=1e-12, atol=1e-12)
        assert_close(batched.history["total"][:, n:n + 1], alone.history["total"])


def test_batched_adam_equals_separate_runs_vgg_content():
    # The same through a (tiny, random, float64) VGG19: the convolutions may pick other
    # algorithms for batch 2 than for batch 1, so equality holds to rounding only. float64
    # keeps that rounding far below Adam's step, whose sign depends on the gradient's sign.
    vgg = VGG19Features(["relu1_2"], weights="random").double()
    content = rand(2, 3, 16, 16, seed=22, dtype=F64)
    init = rand(2, 3, 16, 16, seed=23, dtype=F64)
    batched = run(Objective(vgg, content_image=content, content_layers=["relu1_2"]), init,
                  optimizer="adam", lr=0.02, steps=3)
    assert batched.history["total"][-1].lt(batched.history["total"][0]).all()
    for n in range(2):
        alone = run(Objective(vgg, content_image=content[n:n + 1], content_layers=["relu1_2"]),
                    init[n:n + 1], optimizer="adam", lr=0.02, steps=3)
        assert_close(batched.image[n:n + 1], alone.image, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# Divergence and interruption keep the best image.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad,word", [(math.nan, "NaN"), (math.inf, "infinite")])
def test_diverged_error_keeps_best_image(bad, word):
    # Loss scales 3, 1, 3, 3, then NaN/inf from call 4 on: the best image is the one of
    # call 1 (the image after one step), not the last finite one.
    scales = [3.0, 1.0, 3.0, 3.0]
    rec = Recording(rand(2, 3, 4, 4, seed=24),
                    scale=lambda k: scales[k] if k < len(scales) else bad)
    with pytest.raises(DivergedError) as info:
        run(rec, rand(2, 3, 4, 4, seed=25), optimizer="adam", lr=0.05, steps=10)
    error = info.value
    message = str(error)
    assert re.search(r"\b0\.05\b", message) and "learning rate" in message and word in message
    assert "adam" in message and "step 5" in message and "images [0, 1]" in message
    result = error.result
    assert result.stop_reason == "diverged"
    assert (result.steps, result.evaluations) == (4, 5)
    expected, best = rec.best_image()
    assert best.tolist() == [1, 1]  # sanity check of the construction
    assert torch.equal(result.image, expected)
    # History: the losses at the start of the 4 finished steps; the NaN/inf one is not kept.
    assert_close(result.history["total"], torch.stack(rec.totals[:4]))


def test_diverged_error_names_the_one_bad_image():
    # Only image 1 turns NaN (at call 2): the message names it.
    calls = [0]

    def objective(x):
        loss = pixel_loss(x, torch.zeros_like(x))
        if calls[0] == 2:
            loss = loss * torch.tensor([1.0, math.nan])
        calls[0] += 1
        return {"total": loss}

    with pytest.raises(DivergedError, match=r"image 1\b"):
        run(objective, rand(2, 3, 4, 4, seed=26), optimizer="lbfgs", steps=5, lr=0.5)


def test_diverged_error_is_a_value_error():
    with pytest.raises(ValueError):
        run(lambda x: {"total": pixel_loss(x, x.detach()) * math.nan}, rand(1, 3, 2, 2),
            optimizer="adam", steps=1)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_keyboard_interrupt_returns_best_so_far(optimizer):
    rec = Recording(rand(2, 3, 4, 4, seed=27), scale=lambda k: [2.0, 1.0, 2.0][k],
                    interrupt_at=3)
    result = run(rec, rand(2, 3, 4, 4, seed=28), optimizer=optimizer, lr=0.05, steps=10)
    assert result.stop_reason == "interrupted"
    assert result.evaluations == 3 and result.steps == 3  # one evaluation per step here
    expected, best = rec.best_image()
    assert best.tolist() == [1, 1]
    assert torch.equal(result.image, expected)


# ---------------------------------------------------------------------------------------------
# Settings.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("steps", [0, -1, 2.5, True, "3", None])
def test_invalid_steps(steps):
    with pytest.raises(ValueError, match="steps must be a whole number from 1 to"):
        run(Recording(torch.zeros(1, 3, 2, 2)), torch.zeros(1, 3, 2, 2), steps=steps)


@pytest.mark.parametrize("lr", [0, -1, 0.0, math.nan, math.inf, -math.inf, "0.1"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_invalid_learning_rate(lr, optimizer):
    with pytest.raises(ValueError, match="learning rate must be a positive number"):
        run(Recording(torch.zeros(1, 3, 2, 2)), torch.zeros(1, 3, 2, 2), optimizer=optimizer,
            steps=1, lr=lr)


@pytest.mark.parametrize("name", ["sgd", "Adam", "", None])
def test_unknown_optimizer(name):
    with pytest.raises(ValueError, match="Unknown optimizer.*'lbfgs' or 'adam'"):
        run(Recording(torch.zeros(1, 3, 2, 2)), torch.zeros(1, 3, 2, 2), optimizer=name, steps=1)


def test_invalid_settings_fail_before_any_evaluation():
    rec = Recording(torch.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError):
        run(rec, torch.zeros(1, 3, 2, 2), steps=0)
    assert rec.images == []


def test_default_learning_rates():
    # Adam's 0.02 in [0, 1] units is 5.1 in 0..255 units: the blog post's "about 1-5".
    assert DEFAULT_LR["lbfgs"] == 1.0
    assert DEFAULT_LR["adam"] * 255 == pytest.approx(5, abs=0.2)


# ---------------------------------------------------------------------------------------------
# L-BFGS works.
# ---------------------------------------------------------------------------------------------

def _quadratic():
    # Σ c_k (x_k − z_k)², curvatures c from 1 to 100, minimum z inside (0.1, 0.9).
    target = rand(1, 3, 8, 8, seed=29, lo=0.1, hi=0.9, dtype=F64)
    curv = torch.logspace(0, 2, target.numel(), dtype=F64).view_as(target)
    return target, lambda x: {"total": (curv * (x - target) ** 2).flatten(1).sum(dim=1)}


def test_lbfgs_minimises_an_ill_conditioned_quadratic():
    # L-BFGS with its default lr 1 must cut the loss by many decades in 40 steps.
    target, objective = _quadratic()
    init = torch.full_like(target, 0.5)
    result = run(objective, init, optimizer="lbfgs", steps=40)
    start, end = result.history["total"][0].item(), result.history["total"][-1].item()
    assert end < 1e-5 * start
    assert_close(result.image, target, atol=2e-3, rtol=0)
    # Far better than Adam at its default rate over the same number of steps.
    adam = run(objective, init, optimizer="adam", steps=40)
    assert end < 1e-3 * adam.history["total"][-1].item()


# ---------------------------------------------------------------------------------------------
# L-BFGS restarts from the best image when a step lands far uphill.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("jump, calls, restarts", [
    (100.0, 10, 1),  # far uphill for LBFGS_RESTART_PATIENCE (10) steps in a row: restart
    (100.0, 9, 0),  # one step fewer: left to L-BFGS
    (5.0, 10, 0),  # below LBFGS_RESTART_FACTOR (10): left to L-BFGS
    (1.5, 10, 0),
])
def test_lbfgs_restarts_from_the_best_image_only_after_a_long_climb(jump, calls, restarts):
    # Calls 4 … 4 + calls − 1 report a loss about `jump` times the best before them (a
    # constant added, so the gradient and L-BFGS's path stay as they were): ten steps in a
    # row that start more than 10× above the best loss send the loop back to the best image
    # with a fresh memory; a shorter or smaller detour is left to L-BFGS.
    target, objective = _quadratic()
    images, totals = [], []

    def jumping(x):
        total = objective(x)["total"]
        if 4 <= len(images) < 4 + calls:
            total = total + (jump - 1) * min(totals[:4])
        images.append(x.detach().clone())
        totals.append(float(total.detach()))
        return {"total": total}

    result = run(jumping, torch.full_like(target, 0.5), optimizer="lbfgs", steps=20)
    assert result.restarts == restarts
    best_before_jump = min(range(4), key=lambda k: totals[k])
    # With a restart, the step after the tenth uphill one starts from the best image seen.
    assert torch.equal(images[4 + calls], images[best_before_jump]) == bool(restarts)


def test_adam_never_restarts():
    rec = Recording(rand(1, 3, 4, 4, seed=42), scale=lambda k: 100.0 if k == 4 else 1.0)
    assert run(rec, rand(1, 3, 4, 4, seed=43), optimizer="adam", steps=8).restarts == 0


def test_a_late_restart_goes_on_converging():
    # Late in a run the gradient is tiny; a fresh torch L-BFGS would make a first step of
    # −g, barely move and stay stuck. The restart keeps the old memory's step scale, so the
    # run goes on converging: 40 steps after a climb of ten calls from call 40 the loss is
    # far below the loss before it.
    target, objective = _quadratic()
    totals = []

    def jumping(x):
        total = objective(x)["total"]
        totals.append(float(total.detach()))
        return {"total": total * (1000.0 if 40 <= len(totals) < 50 else 1.0)}

    result = run(jumping, torch.full_like(target, 0.5), optimizer="lbfgs", steps=90)
    assert result.restarts >= 1
    before_jump = min(totals[:39])
    assert result.history["total"][-1].item() < 1e-2 * before_jump
    assert_close(result.image, target, atol=1e-3, rtol=0)
