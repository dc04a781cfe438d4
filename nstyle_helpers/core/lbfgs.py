r"""L-BFGS for a batch of independent problems: one memory, one step length per image.

The notebooks optimise several images side by side (five layers of the paper's Fig. 1, a
grid over α/β) as one (N, 3, H, W) batch, so that VGG19 runs once per evaluation for all of
them. ``torch.optim.LBFGS`` sees that batch as *one* vector: one step length, one curvature
memory, dot products summed over all images. Then the image with the largest loss steers
everyone, and an image whose loss is a thousand times smaller barely moves (measured on
real ImageNet features: relu5_2's reconstruction stayed white noise beside relu1_2's).

:class:`BatchLBFGS` runs the algorithm of ``torch.optim.LBFGS(max_iter=1)`` without a
line search (the PyTorch tutorial's and Johnson's neural-style's), but *per image*: every
dot product is taken over one image's pixels, and each image has its own step scale γ_n and
its own curvature pairs. The forward and backward passes stay batched; the result for
image n is that of a run on image n alone, up to floating-point rounding.

Departures from torch, each per image. First, a step whose end point has a higher loss than
its start is taken back, and half of it is tried at the next step (the gradient at the
rejected point is not used). Still one evaluation per step. Why: without a line search the
quartic Gram loss makes L-BFGS overshoot; measured on real ImageNet features (96 px, 60
steps, The Starry Night from noise), the layer set {relu1_1, relu2_1} ended at a relative
style loss of 0.11 with torch's rule and 0.0002 with this one.

One step, for each image n with gradient g (flattened to D = 3·H·W values):

1. Store the pair s = x_k − x_{k−1}, y = g_k − g_{k−1} if sᵀy > 10⁻¹⁰·|s||y| (the
   curvature condition; torch's test, sᵀy > 10⁻¹⁰, is absolute and so depends on the
   loss's scale); then γ = sᵀy / yᵀy (below: what a step that fails the test does to γ).
2. The two-loop recursion over the last ``history_size`` pairs gives d ≈ −H⁻¹g, starting
   from H₀⁻¹ = γ·I.
3. x ← x + t·d with t = lr, except on an image's very first step: t = lr·min(1, 1/|g|₁),
   d = −g (torch's first step); or, if the last step went uphill,
   x ← x_{k−1} + (t/2)·d_{k−1}. Where rounding makes d point uphill (gᵀd ≥ 0), the image
   forgets its pairs and steps along −γ·g instead (torch's L-BFGS would stop moving).

A pair that fails the curvature test is stored with ρ = 0, which makes it a no-op in the
two-loop recursion, so the images can share one list of pairs. Second: such a step teaches L-BFGS no
step scale, and torch's then stays at γ = 1: plain gradient descent with step 1, which barely
moves where the gradient is small. Gram losses curve *downwards* near white noise (sᵀy < 0
at every step): on real ImageNet features {relu1_1}'s reconstruction of The Starry Night
moved from a relative loss of 0.53 to 0.49 in 40 steps (160 px). So where the loss went down
over such a step, γ doubles; where a step went uphill, γ halves. Then {relu1_1} reached
9·10⁻⁶ in 60 steps.

Third, with ``bounds``, a value that sits at a bound while its gradient points outward is
held there: its gradient counts as 0 (in the direction, the curvature pair and the first
step) and so does its part of the step, so L-BFGS works on the free values only (the active
set of a bound-constrained L-BFGS, as in L-BFGS-B; a held value is freed when its gradient
turns inwards). Why: without it the directions keep pushing such pixels out of [0, 1], the
clamp cancels that part of every step, and L-BFGS learns curvature from moves that never
happened. Measured on real ImageNet features (Tübingen, 256 px, the tutorial's layers and
weights, from the content image): the first quasi-Newton step overshot, pinned pixels at 0
and 1, and the loss then stood at 310.7 after 600 evaluations.

Fourth, with ``bounds``, no step moves a value by more than the box is wide (high − low):
t ← min(t, (high − low) / max|d|). A longer move lands outside the box whatever the start,
so the clamp would undo most of it. Why: after γ has grown by doubling, L-BFGS proposed
moves of 137 and 1.3·10⁴ pixel units (real ImageNet features, notebook 03's {relu1_1,
relu2_1} from white noise, 160 px); 99 % of the pixels were clamped, the loss jumped from
0.4 to 40, and halving the step back into the box took about 10 evaluations each time.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..base.errors import SettingsError

__all__ = ["BatchLBFGS"]

#: How many curvature pairs each image keeps (torch's default).
HISTORY_SIZE = 100

#: The curvature condition sᵀy > CURVATURE_TOLERANCE · |s| |y|, relative so it holds at
#: every loss scale.
CURVATURE_TOLERANCE = 1e-10


class BatchLBFGS:
    """L-BFGS without line search on the pixels of an (N, ...) tensor, per batch item.

    Args:
        image: the (N, ...) leaf tensor to optimise (``requires_grad``), changed in place.
        lr: the step length t (1: the quasi-Newton step).
        history_size: curvature pairs kept per image.
        bounds: (low, high) that the caller clamps the image into after every step
            (:func:`~nstyle_helpers.core.optimize.optimize` clamps into [0, 1]); a value at
            a bound whose gradient points outward is then held there, and no step moves a
            value by more than high − low (module docstring).

    ``step(closure)`` calls ``closure()`` once (it must zero the gradient, compute the
    losses, call ``backward()`` on their sum and return the (N,) losses, one per image) and
    takes one step for every image.
    """

    def __init__(self, image: torch.Tensor, *, lr: float = 1.0,
                 history_size: int = HISTORY_SIZE, bounds: tuple[float, float] | None = None):
        self.image = image
        self.lr = lr
        self.history_size = history_size
        self.bounds = bounds
        n = image.shape[0]
        # Each list entry is (s, y, ρ): (N, D), (N, D), (N,).
        self.pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.gamma = image.new_ones(n)  # γ_n, the scale of H₀⁻¹
        self.started = torch.zeros(n, dtype=torch.bool, device=image.device)
        self.fresh = torch.ones(n, dtype=torch.bool, device=image.device)  # no valid x_{k−1}
        self.previous_gradient = torch.zeros_like(image).flatten(1)
        self.previous_image = image.detach().clone().flatten(1)  # x_{k−1}, the last accepted x
        self.previous_loss = torch.full((n,), torch.inf, device=image.device)
        self.direction = torch.zeros_like(self.previous_image)  # d and t of the last step
        self.length = image.new_zeros(n)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Evaluate ``closure`` once, then move every image by its own L-BFGS step."""
        with torch.enable_grad():
            loss = closure()
        losses = loss.detach().reshape(-1).to(self.previous_loss.dtype)
        if losses.numel() != self.previous_loss.numel():
            raise SettingsError(f"The closure must return one loss per image "
                                f"({self.previous_loss.numel()}), not {losses.numel()}: "
                                "BatchLBFGS judges each image's step on its own.")
        x = self.image.detach().flatten(1)  # (N, D)
        gradient = self.image.grad.detach().flatten(1)
        held = self._held(x, gradient)
        gradient = gradient.masked_fill(held, 0.0)
        # An image whose last step went uphill goes back and tries half that step.
        accepted = ~(losses > self.previous_loss)
        self._remember(x, gradient, accepted)
        direction, length = self._step(gradient, accepted)
        direction = direction.masked_fill(held, 0.0)
        length = self._within_box(direction, length)
        retry = ~accepted[:, None]
        length = torch.where(accepted, length, 0.5 * self.length)
        direction = torch.where(retry, self.direction, direction)
        start = torch.where(retry, self.previous_image, x)
        self.previous_image.copy_(start)
        self.previous_gradient.copy_(torch.where(retry, self.previous_gradient, gradient))
        self.previous_loss.copy_(torch.where(accepted, losses, self.previous_loss))
        self.direction, self.length = direction, length
        self.image.copy_((start + length[:, None] * direction).view_as(self.image))
        self.started |= accepted
        self.fresh &= ~accepted
        return loss

    def _held(self, x: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
        # (N, D) True where a value sits at a bound and descent (−g) points out of it: the
        # clamp would only put it back (the active set of a bound-constrained L-BFGS).
        if self.bounds is None:
            return torch.zeros_like(x, dtype=torch.bool)
        low, high = self.bounds
        return ((x <= low) & (gradient > 0)) | ((x >= high) & (gradient < 0))

    def _within_box(self, direction: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        # (N,) step lengths shortened so that no value moves by more than the box is wide:
        # a longer move would land outside [low, high] wherever it is, for the clamp to undo.
        if self.bounds is None:
            return length
        low, high = self.bounds
        largest = direction.abs().amax(1)
        return torch.where(largest * length > high - low, (high - low) / largest, length)

    def _step(self, gradient: torch.Tensor,
              accepted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # The L-BFGS direction d (N, D) and step length t (N,) from the current gradient
        # (only used for the accepted images: the others retry half their last step).
        direction = self._direction(gradient)
        # Rounding can make the memory's direction point uphill (torch's L-BFGS then stops
        # moving for good); such an image starts again from −γ·g.
        uphill = (torch.linalg.vecdot(gradient, direction) >= 0) & accepted
        if bool(uphill.any()):
            self.restart(uphill)
            direction = torch.where(uphill[:, None], -self.gamma[:, None] * gradient, direction)
        first = self.lr * gradient.abs().sum(1).reciprocal().clamp(max=1.0)
        length = torch.where(self.started, torch.full_like(first, self.lr), first)
        return torch.where(self.started[:, None], direction, -gradient), length

    def restart(self, items: torch.Tensor) -> None:
        """Forget the curvature pairs of the images where ``items`` (N,) is True.

        Their step scale γ is kept, so their next step is −γ·g: the scale the memory had
        learned, not a fresh run's tiny first step. Call it after moving those images
        (the pair across the move would be meaningless).
        """
        for _, _, rho in self.pairs:
            rho.masked_fill_(items, 0.0)
        self.fresh |= items
        self.previous_loss.masked_fill_(items, torch.inf)

    def _remember(self, x: torch.Tensor, gradient: torch.Tensor, accepted: torch.Tensor) -> None:
        # The pair (s, y) of the step actually taken, after any clamping between steps.
        s, y = x - self.previous_image, gradient - self.previous_gradient
        sy = torch.linalg.vecdot(s, y)
        yy = torch.linalg.vecdot(y, y)
        curved = sy > CURVATURE_TOLERANCE * (torch.linalg.vecdot(s, s) * yy).sqrt()
        usable = curved & accepted & ~self.fresh
        # No curvature to learn from: where the loss went down along a step over which it
        # curves downwards (Gram losses do, near white noise), the next step may be longer;
        # where it went up, shorter.
        flat = ~curved & accepted & ~self.fresh & self.started
        self.gamma = torch.where(flat, 2.0 * self.gamma,
                                 torch.where(accepted, self.gamma, 0.5 * self.gamma))
        if not bool(usable.any()):
            return
        self.pairs.append((s, y, torch.where(usable, sy.reciprocal(), 0.0)))
        if len(self.pairs) > self.history_size:
            self.pairs.pop(0)
        self.gamma = torch.where(usable, sy / yy, self.gamma)

    def _direction(self, gradient: torch.Tensor) -> torch.Tensor:
        # The two-loop recursion, every dot product per image: (N, D) · (N, D) → (N,).
        q = -gradient
        alphas = []
        for s, y, rho in reversed(self.pairs):
            alpha = rho * torch.linalg.vecdot(s, q)
            q = q - alpha[:, None] * y
            alphas.append(alpha)
        r = self.gamma[:, None] * q
        for (s, y, rho), alpha in zip(self.pairs, reversed(alphas)):
            beta = rho * torch.linalg.vecdot(y, r)
            r = r + (alpha - beta)[:, None] * s
        return r
