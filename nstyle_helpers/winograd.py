r"""Faster 3×3 convolutions on a CPU: Winograd's algorithm, through NNPACK.

Why: on a CPU, PyTorch's default float32 convolution (oneDNN, direct) already runs near the
core's arithmetic peak, so a faster loss evaluation needs *fewer multiplications*. Winograd's
minimal filtering algorithm (Lavin & Gray, "Fast Algorithms for Convolutional Neural
Networks", 2016) computes a tile of a 3×3 convolution's outputs from transformed input and
kernel tiles with several times fewer multiplications than the direct sum. PyTorch ships it
on x86 and ARM CPUs as NNPACK (``torch._nnpack_spatial_convolution``), but only picks it for
batches of 16 or more images; style transfer runs one image at a time, so we call it
ourselves. Measured on the development machine (AMD EPYC, 1 thread): VGG19's thirteen
convolutions up to conv5_1 at 256 × 170 px take 159 ms instead of 304 forward and 160
instead of 309 backward: about 1.7× faster per loss evaluation (``benchmarks/``).

**The backward pass.** Only the image needs a gradient (the network is frozen). For a
stride-1, padding-1 3×3 convolution y = w ⋆ x, the gradient to the input is again such a
convolution, of the output gradient with the kernel flipped in space and with its in/out
channels swapped: ∂L/∂x = w̃ ⋆ ∂L/∂y, w̃[c, k, i, j] = w[k, c, 2−i, 2−j]
(:func:`input_gradient_kernel`). So the backward pass runs on Winograd too.

**Numerics.** Everything stays float32; the Winograd transforms round differently from the
direct sum, so the outputs differ from PyTorch's by about 1e-5 relative (float32 rounding
alone: 1e-7; bfloat16: 1e-2). ``tests/test_winograd.py`` checks the agreement at 1e-4.
Set ``NSTYLE_WINOGRAD=0`` for PyTorch's own convolutions.

**Where it is used** (else the layer runs PyTorch's convolution, unchanged): a CPU float32,
channels-first input; frozen weights (no weight gradients asked for); feature maps of at least
:data:`MIN_POSITIONS` positions (on smaller ones, e.g. conv5_1 at 256 px, the direct
convolution was faster); one image at a time (NNPACK's batch mode was slower than its
single-image mode, measured at 5 and 9 images); and only where it *measures* faster. How much
faster depends on the map size and on the number of threads (one thread: ×1.7 per loss
evaluation at 256 px; two threads: about even at 192-256 px, ×1.27 at 384 px, because NNPACK
parallelises small maps less well than oneDNN, and its threads and PyTorch's OpenMP threads
get in each other's way), so each layer measures where it runs: the first time it sees an
input shape (and thread count) it runs NNPACK and PyTorch's convolution on that input
:data:`TRIALS` times each, alternating, and keeps the one with the lower median time, for
that call and every later one (so equal inputs always give equal outputs). Alternating
matters: timed back to back, NNPACK looked faster than it is inside the network, where it
follows PyTorch's multi-threaded operations. If NNPACK is missing or fails, PyTorch's
convolution runs instead.
"""

from __future__ import annotations

import copy
import os
import statistics
import time

import torch
from torch import nn

__all__ = ["WINOGRAD_ENV", "MIN_POSITIONS", "TRIALS", "nnpack_available", "winograd_wanted",
           "input_gradient_kernel", "WinogradConv2d", "with_winograd"]

#: Environment variable: ``0`` turns Winograd convolutions off (default: on where available).
WINOGRAD_ENV = "NSTYLE_WINOGRAD"

#: Smallest feature map (height × width) run with Winograd; smaller ones run direct.
MIN_POSITIONS = 512

_clock = time.perf_counter  # what the in-place timing reads (tests replace it)

#: Timed runs of each convolution when a layer first sees an input shape.
TRIALS = 3


def nnpack_available() -> bool:
    """True if this PyTorch build has NNPACK and this CPU runs it (also initialises it)."""
    try:
        return bool(torch.backends.nnpack.is_available())
    except (AttributeError, RuntimeError):  # a build without the switch
        return False


def winograd_wanted() -> bool:
    """True unless ``$NSTYLE_WINOGRAD`` is ``0`` (or ``false``/``no``/``off``)."""
    return os.environ.get(WINOGRAD_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def input_gradient_kernel(weight: torch.Tensor) -> torch.Tensor:
    """The kernel w̃ whose convolution with ∂L/∂y gives ∂L/∂x (stride 1, padding 1).

    Args:
        weight: (C_out, C_in, 3, 3) the layer's kernel w.

    Returns:
        (C_in, C_out, 3, 3) w̃[c, k, i, j] = w[k, c, 2 − i, 2 − j], contiguous.
    """
    return weight.flip(2, 3).transpose(0, 1).contiguous()


def _nnpack(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    # One image at a time: NNPACK's single-image (inference) mode tiles better than its
    # batch mode. (N, C_in, H, W) → (N, C_out, H, W).
    outputs = [torch._nnpack_spatial_convolution(image.unsqueeze(0), weight, bias, [1, 1])
               for image in x]
    return outputs[0] if len(outputs) == 1 else torch.cat(outputs)


class _WinogradConv3x3(torch.autograd.Function):
    """y = w ⋆ x + b with NNPACK; backward to x only (see the module docstring)."""

    @staticmethod
    def forward(ctx, x, weight, bias, gradient_kernel):
        ctx.save_for_backward(gradient_kernel)
        return _nnpack(x, weight, bias)

    @staticmethod
    def backward(ctx, grad_output):
        (gradient_kernel,) = ctx.saved_tensors
        return _nnpack(grad_output.contiguous(), gradient_kernel, None), None, None, None


class WinogradConv2d(nn.Module):
    """A frozen 3×3 / stride 1 / padding 1 ``nn.Conv2d`` run with Winograd where it pays.

    Shares ``conv``'s parameters. Input (N, C_in, H, W), output (N, C_out, H, W), as ``conv``.
    Falls back to ``conv`` itself for anything the module docstring excludes. ``autotune``:
    time both convolutions per input shape and thread count and keep the faster
    (``False``: NNPACK wherever it applies).
    """

    def __init__(self, conv: nn.Conv2d, *, autotune: bool = True):
        super().__init__()
        if (conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups) != \
                ((3, 3), (1, 1), (1, 1), (1, 1), 1):
            raise ValueError(f"WinogradConv2d needs a 3×3, stride-1, padding-1 conv, not {conv}.")
        self.conv = conv
        self.autotune = autotune
        self._faster: dict[tuple, bool] = {}  # (input shape, threads) → NNPACK was faster
        self._kernel: tuple[int, torch.Tensor] | None = None  # (weight version, w̃)
        self.failed = False  # NNPACK raised once: PyTorch's convolution from then on

    def _usable(self, x: torch.Tensor) -> bool:
        weight = self.conv.weight
        return (not self.failed and x.device.type == "cpu" and x.dtype == torch.float32
                and weight.dtype == torch.float32 and not weight.requires_grad
                and not torch.is_autocast_enabled("cpu") and x.dim() == 4
                and x.is_contiguous() and x.shape[-2] * x.shape[-1] >= MIN_POSITIONS)

    def _gradient_kernel(self) -> torch.Tensor:
        # Computed once per weight value (the weights of a style transfer never change).
        weight = self.conv.weight
        if self._kernel is None or self._kernel[0] != weight._version:
            self._kernel = (weight._version, input_gradient_kernel(weight.detach()))
        return self._kernel[1]

    def uses_nnpack(self, x: torch.Tensor) -> bool | None:
        """For an input like ``x``: whether NNPACK runs; None if not timed yet."""
        if not self._usable(x):
            return False
        if not self.autotune:
            return True
        return self._faster.get((tuple(x.shape), torch.get_num_threads()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        use = self.uses_nnpack(x)
        if use is None:
            use = self._time_both(x)
        if use:
            try:
                return _WinogradConv3x3.apply(x, self.conv.weight, self.conv.bias,
                                              self._gradient_kernel())
            except RuntimeError:  # NNPACK refused (e.g. an unsupported CPU): never again
                self.failed = True
        return self.conv(x)

    def _time_both(self, x: torch.Tensor) -> bool:
        seconds: dict[bool, list[float]] = {True: [], False: []}
        with torch.no_grad():
            for _ in range(TRIALS):
                for nnpack in (True, False):
                    start = _clock()
                    try:
                        _nnpack(x, self.conv.weight, self.conv.bias) if nnpack else self.conv(x)
                    except RuntimeError:  # NNPACK refused: PyTorch's convolution from now on
                        self.failed = True
                        return False
                    seconds[nnpack].append(_clock() - start)
        faster = statistics.median(seconds[True]) < statistics.median(seconds[False])
        self._faster[(tuple(x.shape), torch.get_num_threads())] = faster
        return faster


def with_winograd(extractor: nn.Module) -> nn.Module:
    """A shallow copy of a :class:`~nstyle_helpers.features.VGG19Features` whose 3×3
    convolutions run through :class:`WinogradConv2d`; parameters and buffers are shared."""
    fast = copy.copy(extractor)
    fast._modules = dict(extractor._modules)  # the copy gets its own module table
    fast.body = nn.Sequential(*(WinogradConv2d(m) if isinstance(m, nn.Conv2d) else m
                                for m in extractor.body))
    return fast
