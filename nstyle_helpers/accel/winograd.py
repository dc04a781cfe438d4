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

**Where it is used** (else the layer runs PyTorch's convolution, unchanged): a CPU float32,
channels-first input; frozen weights (no weight gradients asked for); feature maps of at least
:data:`MIN_POSITIONS` positions (on smaller ones, e.g. conv5_1 at 256 px, the direct
convolution was faster); one image at a time (NNPACK's batch mode was slower than its
single-image mode, measured at 5 and 9 images). The choice depends on the input's shape,
device and dtype only, never on a timing, so two identical runs give bit-identical results.

**Verified before use.** NNPACK's transforms are not the same in every PyTorch build (a
fresh install once gave input gradients 3 % off through the whole network). So the first
time a layer sees an input shape, it runs NNPACK and PyTorch's convolution on a seeded
random input of that shape, forward and input gradient, and uses NNPACK for that shape only
if both agree to :data:`TOLERANCE` (relative to the largest value); otherwise that shape
runs PyTorch's convolution from then on, and :attr:`WinogradConv2d.rejected` says so. If
NNPACK is missing or fails, PyTorch's convolution runs instead.

**Opt-in.** Measured on a 2-core CPU with the two threads a laptop user has, Winograd was
1.4-1.7× *slower* than PyTorch's convolution per loss evaluation at 128-256 px
(``benchmarks/results/cpu.md``) and ×1.27 faster at 384 px (an earlier round,
``benchmarks/results/experiments.md``); its thread pool competes with PyTorch's, which is
worse on a loaded machine. It is therefore off unless asked for:
``NSTYLE_WINOGRAD=1`` or ``accelerate(..., winograd=True)``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..base.errors import SettingsError
from ..base.environment import winograd_setting

__all__ = ["MIN_POSITIONS", "TOLERANCE", "nnpack_available", "winograd_wanted",
           "input_gradient_kernel", "WinogradConv2d", "with_winograd", "winograd_layers"]

#: Smallest feature map (height × width) run with Winograd; smaller ones run direct.
MIN_POSITIONS = 512

#: Largest relative difference (to the largest value) from PyTorch's convolution, forward
#: or input gradient, at which a layer shape is verified for NNPACK.
TOLERANCE = 1e-4


def nnpack_available() -> bool:
    """True if this PyTorch build has NNPACK and this CPU runs it (also initialises it)."""
    try:
        return bool(torch.backends.nnpack.is_available())
    except (AttributeError, RuntimeError):  # a build without the switch
        return False


def winograd_wanted() -> bool:
    """True if ``$NSTYLE_WINOGRAD`` asks for Winograd convolutions (default: off)."""
    return winograd_setting()


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


def _relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    scale = float(expected.abs().max())
    return float((actual - expected).abs().max()) / scale if scale > 0 else 0.0


class WinogradConv2d(nn.Module):
    """A frozen 3×3 / stride 1 / padding 1 ``nn.Conv2d`` run with Winograd where verified.

    Shares ``conv``'s parameters. Input (N, C_in, H, W), output (N, C_out, H, W), as ``conv``.
    Falls back to ``conv`` itself for anything the module docstring excludes, and for an
    input shape whose verification failed (:attr:`rejected` lists those, with the error).
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        if (conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups) != \
                ((3, 3), (1, 1), (1, 1), (1, 1), 1):
            raise SettingsError("WinogradConv2d needs a 3×3, stride-1, padding-1 conv, "
                                f"not {conv}.")
        self.conv = conv
        self._verified: dict[tuple[int, ...], bool] = {}  # (C_in, H, W) → NNPACK agrees
        self.rejected: dict[tuple[int, ...], float] = {}  # (C_in, H, W) → relative error
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
            self._verified.clear()  # new weights: verify again
        return self._kernel[1]

    def uses_nnpack(self, x: torch.Tensor) -> bool:
        """Whether an input like ``x`` runs through NNPACK (verifying its shape on first use)."""
        if not self._usable(x):
            return False
        kernel = self._gradient_kernel()
        shape = tuple(x.shape[1:])
        if shape not in self._verified:
            self._verified[shape] = self._verify(shape, kernel)
        return self._verified[shape] and not self.failed

    def _verify(self, shape: tuple[int, ...], kernel: torch.Tensor) -> bool:
        # Forward and input gradient on a seeded input of this shape, against PyTorch.
        generator = torch.Generator().manual_seed(0)
        x = torch.rand((1, *shape), generator=generator)
        upstream = torch.randn((1, self.conv.out_channels, *shape[1:]), generator=generator)
        with torch.no_grad():
            try:
                fast_y = _nnpack(x, self.conv.weight, self.conv.bias)
                fast_grad = _nnpack(upstream, kernel, None)
            except RuntimeError:  # NNPACK refused (e.g. an unsupported CPU)
                self.failed = True
                return False
            y = self.conv(x)
        with torch.enable_grad():  # the first call may come inside torch.no_grad()
            reference = x.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.conv(reference), reference, upstream)
        error = max(_relative_error(fast_y, y), _relative_error(fast_grad, grad))
        if error > TOLERANCE:
            self.rejected[shape] = error
            return False
        return True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.uses_nnpack(x):
            try:
                return _WinogradConv3x3.apply(x, self.conv.weight, self.conv.bias,
                                              self._gradient_kernel())
            except RuntimeError:  # NNPACK refused: never again
                self.failed = True
        return self.conv(x)


def with_winograd(extractor: nn.Module) -> nn.Module:
    """A shallow copy of a :class:`~nstyle_helpers.core.features.VGG19Features` whose 3×3
    convolutions run through :class:`WinogradConv2d`; parameters and buffers are shared."""
    fast = copy.copy(extractor)
    fast._modules = dict(extractor._modules)  # the copy gets its own module table
    fast.body = nn.Sequential(*(WinogradConv2d(m) if isinstance(m, nn.Conv2d) else m
                                for m in extractor.body))
    return fast


def winograd_layers(network: nn.Module) -> list[WinogradConv2d]:
    """The :class:`WinogradConv2d` layers of ``network`` (empty if it has none)."""
    return [m for m in network.modules() if isinstance(m, WinogradConv2d)]
