r"""Making the loss evaluation fast: mixed precision, memory layout, backend settings.

Every optimisation step of style transfer is a forward and a backward pass through VGG19;
almost all of its time goes into the convolutions. This module speeds them up without
touching the rest of the pipeline: :class:`AcceleratedFeatures` wraps a
:class:`~nstyle_helpers.core.features.VGG19Features` with the same call signature and returns the
same ``{layer: (N, C, H, W)}`` dictionary *in float32*, so
:class:`~nstyle_helpers.core.objective.Objective` (Gram matrices, losses, their sums) runs
unchanged and in full precision. Inside the wrapper:

- **autocast** (``precision="bfloat16"``): the convolutions run in bfloat16 (8 bits of
  mantissa, float32's range, so no loss scaling is needed) and their outputs are cast back
  to float32 before any Gram matrix or loss sees them. On an NVIDIA GPU the tensor cores run
  bfloat16 at a multiple of float32's rate (the hardware's figure: this project has not yet
  measured it on a GPU, see ``benchmarks/results/experiments.md``); on a CPU with native
  bfloat16 instructions (AVX512-BF16 / AMX, via oneDNN) it is 1.2-1.9× faster per
  evaluation (measured on a 2-core AMD EPYC with AVX512-BF16 and a 2-core Intel Xeon with
  AMX, more on deeper layer sets); on other CPUs it is emulated, about 67× *slower*
  (measured on an AVX2 AMD EPYC; :func:`accelerate` warns), so
  ``"auto"`` picks it on CUDA only (on a CPU, ask for it). The features then agree with the
  float32 path to about 1 % (relative, see ``tests/test_acceleration.py``), the loss terms
  to about 0.2 %; the gradient to the image, whose backward pass also runs in bfloat16,
  points the same way (cosine similarity ≈ 0.98) but differs by ~20 % element by element,
  which L-BFGS and Adam tolerate (same loss reached, see ``benchmarks/``).
- **channels_last** memory layout (N, H, W, C in memory): what cuDNN's tensor-core kernels
  want; without it every convolution transposes its input and output. It changes no values
  beyond rounding order. On a CPU it did not help (measured in ``benchmarks/``), so
  ``"auto"`` uses it on CUDA only.
- :func:`configure_backends`: ``torch.backends.cudnn.benchmark`` (try every convolution
  algorithm once per input shape and keep the fastest: style transfer runs one shape
  hundreds of times) and TF32 for convolutions that still run in float32 (not for the
  Gram matrices' matrix products, which stay float32).
- **Winograd convolutions** (``winograd=True``, CPU, float32, opt-in): the 3×3 convolutions
  run with Winograd's algorithm through NNPACK, several times fewer multiplications than the
  direct sum: on an AMD EPYC about 1.7× faster per loss evaluation with one thread; with
  two, 1.4-1.7× *slower* at 128-256 px (``benchmarks/results/cpu.md``) and 1.27× faster at
  384 px (an earlier round, ``experiments.md``); each layer shape is checked against
  PyTorch's convolution before use (:mod:`nstyle_helpers.accel.winograd`).
  ``winograd=None`` in :func:`accelerate` uses it on a CPU only when ``$NSTYLE_WINOGRAD=1``
  and NNPACK is available.
- ``compile=True``: :func:`torch.compile` on the network (optional; the first call compiles
  for a minute or so, which pays off only on long GPU runs).

The float32, channels-first path remains the reference: ``precision="float32"``,
``channels_last=False`` and ``winograd=False`` give bit-for-bit the wrapped extractor's
output.

Example:
    >>> from nstyle_helpers.core.features import VGG19Features
    >>> vgg = VGG19Features(["relu1_1"], weights="random")
    >>> fast = AcceleratedFeatures(vgg, precision="float32", channels_last=True)
    >>> out = fast(torch.rand(1, 3, 16, 16))
    >>> out["relu1_1"].dtype, tuple(out["relu1_1"].shape)
    (torch.float32, (1, 64, 16, 16))
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from ..base.errors import ImageError, SettingsError
from ..base.environment import PRECISION_ENV, precision_setting
from ..core.features import FeatureExtractor, VGG19Features
from .winograd import nnpack_available, winograd_layers, winograd_wanted, with_winograd

__all__ = ["PRECISIONS", "PRECISION_ENV", "AcceleratedFeatures", "accelerate",
           "configure_backends", "convolution_algorithm", "native_bfloat16",
           "resolve_precision", "winograd_default"]

#: The precisions :class:`AcceleratedFeatures` knows ("auto" is resolved per device).
PRECISIONS = ("auto", "float32", "bfloat16", "float16")


_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def native_bfloat16(device: torch.device | str) -> bool:
    """True if ``device`` computes bfloat16 convolutions natively (fast), not by emulation.

    CUDA: compute capability 8.0 or newer (Ampere, Hopper, ...). CPU: oneDNN reports
    AVX512-BF16 or AMX. Anything else (MPS, older hardware): False.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu":
        try:
            return bool(torch.backends.mkldnn.is_available()
                        and torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # an older or unusual build
            return False
    return False


# Measured with benchmarks/run.py (2 threads, 256×170, an AVX2 AMD EPYC): 37.5 s per
# evaluation in bfloat16 against 0.56 s in float32 (see benchmarks/results/experiments.md).
EMULATED_BFLOAT16 = ("bfloat16 was asked for, but this CPU has no native bfloat16 (AVX512-BF16 "
                     "or AMX), so it is emulated: measured 67× slower than float32 on such a "
                     f"CPU. Unset {PRECISION_ENV} (or pass precision='float32') to run in float32.")


def resolve_precision(precision: str | None, device: torch.device | str) -> str:
    """Resolve ``precision`` (``None``: ``$NSTYLE_PRECISION``, else ``"auto"``) for ``device``.

    ``"auto"`` is ``"bfloat16"`` on a CUDA GPU that computes it natively, else
    ``"float32"``: on the CPU, float32 stays the default so that results do not depend on
    which CPU runs them (ask for ``"bfloat16"`` explicitly; it is 1.2-1.9× faster on a CPU
    with AVX512-BF16 and about 67× slower on one without, where :func:`accelerate` warns).

    >>> resolve_precision("auto", "cpu")
    'float32'
    """
    if precision is None:
        precision = precision_setting() or "auto"
    if precision not in PRECISIONS:
        raise SettingsError(f"precision must be one of {', '.join(PRECISIONS)}, not "
                            f"{precision!r}.")
    if precision != "auto":
        return precision
    device = torch.device(device)
    return "bfloat16" if device.type == "cuda" and native_bfloat16(device) else "float32"


def configure_backends(device: torch.device | str) -> None:
    """Backend switches for fast convolutions on ``device`` (global; CUDA only, else nothing).

    ``cudnn.benchmark``: pick the fastest convolution algorithm per input shape (style
    transfer evaluates one shape hundreds of times). TF32 (10-bit mantissa, float32's range)
    for convolutions left in float32 (PyTorch's default too). Deliberately *not* for matrix
    products: those are the Gram matrices, which stay in full float32.
    """
    if torch.device(device).type != "cuda":
        return
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = True


class AcceleratedFeatures(nn.Module):
    """A :class:`VGG19Features` run in mixed precision and/or channels_last; same interface.

    Args:
        extractor: the feature extractor to wrap (not copied; its weights are shared).
        precision: ``"float32"``, ``"bfloat16"`` or ``"float16"`` for the convolutions
            (autocast on the input's device); ``"auto"``: see :func:`resolve_precision`.
        channels_last: run the network in channels_last memory layout.
        winograd: run its 3×3 convolutions with Winograd's algorithm where that applies
            (CPU, float32; :mod:`nstyle_helpers.accel.winograd`).
        compile: wrap the network in :func:`torch.compile`.

    Input: (N, 3, H, W) in [0, 1], as :class:`VGG19Features`. Output: ``{name: (N, C, H, W)}``
    in float32 whatever the precision inside, so Gram matrices and losses stay in float32.
    Gradients flow to the input.
    """

    def __init__(self, extractor: VGG19Features, *, precision: str = "float32",
                 channels_last: bool = False, winograd: bool = False, compile: bool = False):
        super().__init__()
        if isinstance(extractor, AcceleratedFeatures):
            extractor = extractor.extractor
        if precision not in PRECISIONS:
            raise SettingsError(f"precision must be one of {', '.join(PRECISIONS)}, not "
                                f"{precision!r}.")
        self.extractor = extractor
        self.precision = precision
        self.channels_last = bool(channels_last)
        self.winograd = bool(winograd)
        self.compiled = bool(compile)
        network = with_winograd(extractor) if winograd else extractor
        self._run = torch.compile(network) if compile else network

    # The FeatureExtractor interface (nstyle_helpers.core.features), from the wrapped extractor.
    @property
    def layers(self) -> tuple[str, ...]:
        return self.extractor.layers

    @property
    def pooling(self) -> str:
        return self.extractor.pooling

    @property
    def weights_source(self):
        return self.extractor.weights_source

    @property
    def uses_random_weights(self) -> bool:
        return self.extractor.uses_random_weights

    @property
    def min_side(self) -> int:
        return self.extractor.min_side

    def validate_size(self, height: int, width: int) -> None:
        self.extractor.validate_size(height, width)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ImageError(f"expected images of shape (N, 3, H, W), got {tuple(images.shape)}.")
        precision = resolve_precision(self.precision, images.device)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        if precision == "float32":
            features = self._run(images)
        else:
            with torch.autocast(images.device.type, dtype=_DTYPES[precision]):
                features = self._run(images)
        # Back to float32 (and the usual layout) before any Gram matrix or loss sees them.
        return {name: value.float().contiguous() for name, value in features.items()}

    def extra_repr(self) -> str:
        return (f"precision={self.precision!r}, channels_last={self.channels_last}, "
                f"winograd={self.winograd}, compile={self.compiled}")


def accelerate(extractor: VGG19Features, device: torch.device | str | None = None, *,
               precision: str | None = None, channels_last: bool | None = None,
               winograd: bool | None = None,
               compile: bool = False) -> FeatureExtractor:
    """The fast settings for ``device``: the project's default way to run the extractor.

    ``precision=None`` reads ``$NSTYLE_PRECISION`` (default ``"auto"``: bfloat16 on a recent
    NVIDIA GPU, float32 elsewhere); ``channels_last=None`` means "on CUDA only";
    ``winograd=None`` means :func:`winograd_default`. Also calls :func:`configure_backends`. Returns
    ``extractor`` itself when nothing would change (float32, channels-first, no Winograd,
    not compiled).
    """
    if device is None:
        device = next(extractor.buffers()).device
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    if precision == "bfloat16" and device.type == "cpu" and not native_bfloat16(device):
        warnings.warn(EMULATED_BFLOAT16, stacklevel=2)
    if channels_last is None:
        channels_last = device.type == "cuda"
    if winograd is None:
        winograd = winograd_default(device, precision) and not channels_last
    configure_backends(device)
    if precision == "float32" and not channels_last and not winograd and not compile:
        return extractor
    return AcceleratedFeatures(extractor, precision=precision, channels_last=channels_last,
                               winograd=winograd, compile=compile)


def winograd_default(device: torch.device | str, precision: str) -> bool:
    """Whether :func:`accelerate` turns Winograd on: a CPU, float32, ``$NSTYLE_WINOGRAD=1``
    and NNPACK available. Off by default (see :mod:`nstyle_helpers.accel.winograd` for why)."""
    return (torch.device(device).type == "cpu" and precision == "float32"
            and winograd_wanted() and nnpack_available())


def convolution_algorithm(extractor: nn.Module) -> str:
    """Which convolutions ``extractor`` runs, in words (for :func:`describe_session`).

    >>> from nstyle_helpers.core.features import VGG19Features
    >>> convolution_algorithm(VGG19Features(["relu1_1"], weights="random"))
    "PyTorch's (direct)"
    """
    layers = winograd_layers(getattr(extractor, "_run", extractor))
    if not layers:
        return "PyTorch's (direct)"
    rejected = sum(len(layer.rejected) for layer in layers)
    failed = any(layer.failed for layer in layers)
    text = "Winograd (NNPACK) on maps of 512+ positions verified against PyTorch's"
    if failed:
        return text + "; NNPACK failed on this CPU, so PyTorch's runs instead"
    if rejected:
        text += f"; {rejected} layer shape{'s' if rejected > 1 else ''} disagreed and run PyTorch's"
    return text
