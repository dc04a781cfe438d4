"""BatchLBFGS: torch's L-BFGS per batch item, so a batch equals separate runs.

The problems are ill-conditioned quadratics Σ c_i (x_i − t_i)² in float64 (no network), one
per batch item, at scales that differ by many decades: exactly the case where one shared
L-BFGS (torch.optim.LBFGS on the whole batch) lets the largest loss steer every image.
"""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from nstyle_helpers.base.errors import SettingsError
from nstyle_helpers.core.lbfgs import BatchLBFGS

F64 = torch.float64


def _problems(scales, target=None):
    n = len(scales)
    if target is None:
        target = torch.rand(n, 3, 4, 4, dtype=F64, generator=torch.Generator().manual_seed(0))
    curvature = torch.logspace(0, 2, 48, dtype=F64).view(1, 3, 4, 4)
    weights = torch.tensor(scales, dtype=F64).view(n, 1, 1, 1) * curvature
    return target, lambda x: (weights * (x - target) ** 2).flatten(1).sum(dim=1)


def _run(loss_fn, init, steps, optimizer="batch"):
    x = init.clone().requires_grad_(True)
    opt = BatchLBFGS(x) if optimizer == "batch" else torch.optim.LBFGS([x], max_iter=1)

    losses = []

    def closure():
        x.grad = None
        loss = loss_fn(x)
        loss.sum().backward()
        losses.append(loss.detach())
        return loss.detach() if optimizer == "batch" else loss.sum()

    for _ in range(steps):
        opt.step(closure)
    return x.detach(), loss_fn(x.detach()), torch.stack(losses)


def test_one_image_takes_torchs_lbfgs_steps_until_one_goes_uphill():
    # torch.optim.LBFGS(max_iter=1) keeps any step; BatchLBFGS takes the same steps until
    # one lands higher than where it started, then goes back and tries half of it.
    target, loss_fn = _problems([1.0])
    init = torch.full_like(target, 0.5)
    _, _, torch_losses = _run(loss_fn, init, 30, optimizer="torch")
    uphill = next(k for k in range(1, 30) if torch_losses[k] > torch_losses[k - 1])
    assert uphill >= 5  # enough steps to compare
    ours, _, _ = _run(loss_fn, init, uphill)
    torchs, _, _ = _run(loss_fn, init, uphill, optimizer="torch")
    assert_close(ours, torchs, rtol=1e-10, atol=1e-12)


def test_a_step_that_lands_uphill_is_retried_at_half_its_length():
    target, loss_fn = _problems([1.0])
    x = torch.full_like(target, 0.5).requires_grad_(True)
    opt = BatchLBFGS(x)
    points, losses = [], []

    def closure():
        x.grad = None
        loss = loss_fn(x)
        loss.sum().backward()
        points.append(x.detach().clone())
        losses.append(float(loss.detach()))
        return loss.detach()

    for _ in range(30):
        opt.step(closure)
    uphill = [k for k in range(1, 30) if losses[k] > losses[k - 1]]
    assert uphill  # this problem has such steps
    k = uphill[0]
    # x_{k+1} = x_{k−1} + (x_k − x_{k−1}) / 2: back to the start, half the step.
    assert_close(points[k + 1], points[k - 1] + 0.5 * (points[k] - points[k - 1]))


def test_a_batch_equals_separate_runs_whatever_the_scales():
    scales = [1e-4, 1.0, 1e4]
    target, loss_fn = _problems(scales)
    init = torch.full_like(target, 0.5)
    batched, batched_loss, _ = _run(loss_fn, init, 25)
    for n, scale in enumerate(scales):
        _, alone_fn = _problems([scale], target[n:n + 1])
        alone, _, _ = _run(alone_fn, init[n:n + 1], 25)
        assert_close(batched[n:n + 1], alone, rtol=1e-8, atol=1e-10)
    # Every image converged, the smallest loss too (only torch's first step, lr·min(1, 1/|g|₁),
    # depends on the scale).
    assert bool((batched_loss < 1e-4 * loss_fn(init)).all())


def test_one_shared_lbfgs_leaves_the_small_problem_behind():
    # Why BatchLBFGS exists: torch's L-BFGS on the same batch barely moves the image whose
    # loss is 10⁸ times smaller than the largest one.
    target, loss_fn = _problems([1e-4, 1e4])
    init = torch.full_like(target, 0.5)
    start = loss_fn(init)
    _, shared, _ = _run(loss_fn, init, 25, optimizer="torch")
    _, ours, _ = _run(loss_fn, init, 25)
    assert float(shared[0] / start[0]) > 1e3 * float(ours[0] / start[0])


def test_restart_forgets_only_the_chosen_images_memory():
    target, loss_fn = _problems([1.0, 1.0])
    x = torch.full_like(target, 0.5).requires_grad_(True)
    opt = BatchLBFGS(x)

    def closure():
        x.grad = None
        loss = loss_fn(x)
        loss.sum().backward()
        return loss.detach()

    for _ in range(5):
        opt.step(closure)
    gamma = opt.gamma.clone()
    opt.restart(torch.tensor([True, False]))
    assert all(float(rho[0]) == 0.0 for _, _, rho in opt.pairs)
    assert any(float(rho[1]) != 0.0 for _, _, rho in opt.pairs)
    assert torch.equal(opt.gamma, gamma)  # the step scale is kept
    # Image 0's next step is −γ·g, image 1's still uses its memory.
    before = x.detach().clone()
    opt.step(closure)
    gradient = x.grad.detach()
    assert_close(x.detach()[0] - before[0], -gamma[0] * gradient[0])


def test_a_closure_that_sums_the_batch_gets_a_clear_error():
    target, loss_fn = _problems([1.0, 1.0])
    x = torch.full_like(target, 0.5).requires_grad_(True)

    def summed():
        x.grad = None
        loss = loss_fn(x).sum()
        loss.backward()
        return loss

    with pytest.raises(SettingsError, match="one loss per image"):
        BatchLBFGS(x).step(summed)


def _quartic_closure(x, scale):
    # scale · Σ (x² − 1)² per image: curves downwards near 0, its minimum at x = 1.
    def closure():
        x.grad = None
        loss = scale * (x ** 2 - 1).pow(2).flatten(1).sum(dim=1)
        loss.sum().backward()
        return loss.detach()
    return closure


@pytest.mark.parametrize("scale", [1.0, 1e-6])
def test_where_the_loss_curves_downwards_the_step_grows(scale):
    # scale · Σ (x² − 1)² from x = 0.05: near 0 the loss curves downwards (every sᵀy < 0), so
    # no pair teaches a step scale; γ doubles after each step that went down, and the run
    # reaches the minimum x = 1 at any scale (with γ stuck at 1, gradient descent with step 1
    # would need about 10⁶ times more steps at scale 10⁻⁶).
    x = torch.full((2, 1, 2, 2), 0.05, dtype=F64, requires_grad=True)
    opt = BatchLBFGS(x)
    closure = _quartic_closure(x, scale)
    for _ in range(60):
        opt.step(closure)
    assert_close(x.detach(), torch.ones_like(x), rtol=0, atol=1e-6)


def _coupled_quadratic():
    # ½ (x − c)ᵀ A (x − c) on 48 values, A with eigenvalues 1 … 100 in random directions, and
    # c in [−0.2, 1.2]: the minimum within [0, 1] has values at both bounds, and A couples
    # them to the rest (as VGG19 couples neighbouring pixels).
    generator = torch.Generator().manual_seed(0)
    q = torch.linalg.qr(torch.randn(48, 48, dtype=F64, generator=generator))[0]
    a = q @ torch.diag(torch.logspace(0, 2, 48, dtype=F64)) @ q.T
    c = 1.4 * torch.rand(1, 48, dtype=F64, generator=generator) - 0.2
    return a, lambda x: 0.5 * ((x - c) @ a * (x - c)).sum(1)


def _clamped_run(loss_fn, steps, bounds):
    # As optimize() runs it: one step, then the clamp into [0, 1].
    x = torch.full((1, 48), 0.5, dtype=F64, requires_grad=True)
    opt = BatchLBFGS(x, bounds=bounds)

    def closure():
        x.grad = None
        loss = loss_fn(x)
        loss.sum().backward()
        return loss.detach()

    for _ in range(steps):
        opt.step(closure)
        with torch.no_grad():
            x.clamp_(0.0, 1.0)
    return float(loss_fn(x.detach()))


def test_with_bounds_it_reaches_the_minimum_within_them():
    a, loss_fn = _coupled_quadratic()
    # The minimum within [0, 1] by projected gradient descent (step 1/100, converged).
    x = torch.full((1, 48), 0.5, dtype=F64)
    for _ in range(5000):
        x = (x - torch.autograd.functional.jacobian(loss_fn, x).view(1, 48) / 100).clamp(0, 1)
    best = float(loss_fn(x))
    assert int(((x == 0) | (x == 1)).sum()) >= 10  # many values end at a bound
    assert _clamped_run(loss_fn, 100, bounds=(0.0, 1.0)) == pytest.approx(best, rel=1e-9)
    # Without them the directions keep pushing those values out, the clamp puts them back, and
    # L-BFGS stalls far above the minimum (the stall measured on real features, Tübingen).
    assert _clamped_run(loss_fn, 100, bounds=None) > 1.1 * best


def test_a_value_held_at_a_bound_does_not_move():
    # The gradient slope + 2x is 1 at the first value (at 0) and −1 at the second (at 1):
    # descent points out of [0, 1], so the step leaves them exactly where they are. The third
    # (at 0) and fourth (at 1) have gradients pointing inwards, and move, as the free fifth does.
    x = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.5]], dtype=F64, requires_grad=True)
    slope = torch.tensor([[1.0, -3.0, -1.0, 1.0, 1.0]], dtype=F64)
    opt = BatchLBFGS(x, bounds=(0.0, 1.0))

    def closure():
        x.grad = None
        loss = (slope * x).sum(1) + (x ** 2).sum(1)
        loss.sum().backward()
        return loss.detach()

    before = x.detach().clone()
    opt.step(closure)
    moved = x.detach() != before
    assert moved.tolist() == [[False, False, True, True, True]]


@pytest.mark.parametrize("bounds", [None, (0.0, 1.0)])
def test_with_bounds_no_step_is_longer_than_the_box(bounds):
    # Σ (x² − 1)² from x = 0.05, as above: γ doubles until a step overshoots the minimum at 1
    # by more than the box is wide. Within bounds (0, 1) no value moves by more than 1 in a
    # step, and the run still ends at the minimum.
    x = torch.full((2, 1, 2, 2), 0.05, dtype=F64, requires_grad=True)
    opt = BatchLBFGS(x, bounds=bounds)
    closure = _quartic_closure(x, 1.0)
    moves = []
    for _ in range(60):
        before = x.detach().clone()
        opt.step(closure)
        moves.append(float((x.detach() - before).abs().max()))
        if bounds is not None:
            with torch.no_grad():
                x.clamp_(*bounds)
    if bounds is None:
        assert max(moves) > 1.5
    else:
        assert max(moves) <= 1.0 + 1e-12
    assert_close(x.detach(), torch.ones_like(x), rtol=0, atol=1e-6)
