"""The command line: ``python -m nstyle_helpers transfer|reconstruct`` (or ``nstyle``).

Every mistake a user can make gets exit status 2 and one line on stderr saying what is
wrong and what to do, before any long computation where possible; the output file is only
ever written whole (see :func:`nstyle_helpers.images.save_image`).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from pathlib import Path

import torch

from .defaults import default_size, default_steps
from .devices import resolve_device
from .errors import NstyleError, OutputError, SettingsError
from .examples import image_path
from .features import CONTENT_LAYER, STYLE_LAYERS, check_image_size, check_layer_names
from .images import check_output_path, load_image, resize, save_image
from .optimize import DEFAULT_LR, OPTIMIZERS
from .transfer import RunConfig, TransferConfig, reconstruct_content, reconstruct_style, \
    style_transfer
from .color import PRESERVE_COLOR
from .controls import controlled_transfer
from .multiscale import check_scales, stage_sizes
from .multistyle import MAX_STYLE_SCALE, load_label_masks, scale_style

__all__ = ["main"]

PROG = "nstyle"
OUTPUT_DIR = Path("outputs")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (exit 2), not usage text plus the error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _float(text: str, *, allow_zero: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise argparse.ArgumentTypeError(
            f"{text} must be a {'non-negative' if allow_zero else 'positive'} number")
    return value


def _positive_float(text: str) -> float:
    return _float(text, allow_zero=False)


def _non_negative_float(text: str) -> float:
    return _float(text, allow_zero=True)


def _layer_list(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _name_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give an image name or path")
    return names


def _number_list(text: str, convert, what: str) -> list:
    values = []
    for item in text.split(","):
        try:
            values.append(convert(item.strip()))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item.strip()!r} in {text!r} is not {what}") \
                from None
    return values


def _blend_list(text: str) -> tuple[float, ...]:
    weights = _number_list(text, float, "a number")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise argparse.ArgumentTypeError(f"{text} must be numbers >= 0, e.g. 0.7,0.3")
    if abs(sum(weights) - 1.0) > 1e-6:
        raise argparse.ArgumentTypeError(f"{text} must sum to 1, e.g. 0.7,0.3")
    return tuple(weights)


def _style_scale(text: str) -> float:
    value = _positive_float(text)
    if value > MAX_STYLE_SCALE:
        raise argparse.ArgumentTypeError(f"{text} must be at most {MAX_STYLE_SCALE:g}")
    return value


def _scale_list(text: str) -> tuple[int, ...]:
    sizes = _number_list(text, int, "a whole number of pixels")
    try:
        return check_scales(sizes)
    except SettingsError as error:
        raise argparse.ArgumentTypeError(str(error).rstrip(".")) from None


def _steps_list(text: str) -> tuple[int, ...]:
    steps = _number_list(text, int, "a whole number")
    if any(s <= 0 for s in steps):
        raise argparse.ArgumentTypeError(f"{text} must be whole numbers >= 1")
    return tuple(steps)


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    run = parser.add_argument_group("run")
    run.add_argument("-o", "--output", type=Path,
                     help="PNG/JPEG file to write (default: a new file in outputs/)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace --output if it exists (otherwise that is an error)")
    run.add_argument("--size", type=_positive_int,
                     help="longer side in pixels (default: 512 on a GPU, 384 on a CPU)")
    run.add_argument("--steps", type=_positive_int,
                     help="optimiser steps (default: 500 on a GPU, 300 on a CPU); with "
                          "L-BFGS one step is one iteration")
    run.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs",
                     help="lbfgs (the paper, default) or adam (the article)")
    run.add_argument("--lr", type=_positive_float,
                     help=f"learning rate (default: {DEFAULT_LR['lbfgs']:g} for lbfgs, "
                          f"{DEFAULT_LR['adam']:g} for adam, in [0, 1] pixel units)")
    run.add_argument("--pooling", choices=("max", "avg"), default="max",
                     help="max (what VGG19 was trained with, default) or avg (the paper)")
    run.add_argument("--seed", type=int, default=0, help="seed of the white noise (default 0)")
    run.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps; "
                                      "or set NSTYLE_DEVICE")
    run.add_argument("--weights", help="imagenet (default: torchvision's download), random "
                                       "(tests only), or a VGG19 state dict file; or set "
                                       "NSTYLE_WEIGHTS")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Neural style transfer (Gatys et al.) with VGG19.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    transfer = commands.add_parser(
        "transfer", help="paint a style image onto a content image",
        description="Paint STYLE onto CONTENT. Images are example names "
                    "(chicago, great_wave, starry_night, tubingen) or file paths.")
    transfer.add_argument("--content", default="chicago", help="content image (default chicago)")
    transfer.add_argument("--style", action="extend", type=_name_list, metavar="STYLE",
                          help="style image (default great_wave); repeat it or give a comma "
                               "list (a.jpg,b.jpg) for several styles, blended by "
                               "--style-blend or placed by --mask")
    transfer.add_argument("--content-weight", type=_positive_float,
                          help="alpha (default: the PyTorch tutorial's weight converted to the "
                               "article's formulas, see nstyle_helpers/defaults.py)")
    transfer.add_argument("--style-weight", type=_positive_float, help="beta (default: likewise)")
    transfer.add_argument("--tv-weight", type=_non_negative_float, default=0.0,
                          help="total-variation weight (default 0)")
    transfer.add_argument("--content-layer", default=CONTENT_LAYER,
                          help=f"content layer l_c (default {CONTENT_LAYER})")
    transfer.add_argument("--style-layers", type=_layer_list, default=STYLE_LAYERS,
                          help="comma-separated style layers (default " + ",".join(STYLE_LAYERS) + ")")
    transfer.add_argument("--init", default="content",
                          help="starting image: content (default), noise, or an image path")
    beyond = transfer.add_argument_group(
        "beyond the paper (Gatys et al. 2017, 'Controlling Perceptual Factors')")
    beyond.add_argument("--preserve-color", choices=PRESERVE_COLOR, default="none",
                        help="keep the content's colours: luminance (transfer the luminance "
                             "only, keep the content's colour channels exactly) or histogram "
                             "(recolour the style to the content's colour mean and covariance "
                             "first); default none")
    beyond.add_argument("--style-blend", type=_blend_list, metavar="W1,W2,...",
                        help="blend weights of the styles, one per --style, summing to 1 "
                             "(default equal), e.g. 0.7,0.3")
    beyond.add_argument("--style-scale", type=_style_scale, metavar="S",
                        help="style image's longer side relative to the content's, e.g. 0.5 "
                             f"(coarser strokes) or 2 (finer); at most {MAX_STYLE_SCALE:g}")
    beyond.add_argument("--mask", metavar="PATH",
                        help="label image over the content (same aspect ratio, saved as PNG): "
                             "one flat grey level per --style, darkest = first style; each "
                             "region gets its style")
    beyond.add_argument("--scales", type=_scale_list, metavar="S1,S2,...",
                        help="coarse-to-fine sizes (longer sides), e.g. 256,512: solve at "
                             "each in turn, starting from the last result upsampled; the "
                             "last is the result's size (replaces --size)")
    beyond.add_argument("--scale-steps", type=_steps_list, metavar="N1,N2,...",
                        help="steps at each of --scales (default: --steps at every scale)")
    _add_run_options(transfer)

    reconstruct = commands.add_parser(
        "reconstruct", help="reconstruct an image from white noise from one layer's content "
                            "or from a layer set's style",
        description="Reconstruct IMAGE from white noise: its content at one layer "
                    "(--content-layer) or its style over a layer set (--style-layers).")
    reconstruct.add_argument("--image", default="starry_night",
                             help="image to reconstruct (default starry_night)")
    which = reconstruct.add_mutually_exclusive_group(required=True)
    which.add_argument("--content-layer", help="reconstruct the content seen by this layer")
    which.add_argument("--style-layers", type=_layer_list,
                       help="reconstruct the style seen by these comma-separated layers")
    _add_run_options(reconstruct)
    return parser


def _default_output(stem: str) -> Path:
    # Without --output we never overwrite: pick the first free name in outputs/. The folder
    # is only checked here and created after the run (_save), so that a run that fails on
    # its inputs leaves nothing behind.
    if OUTPUT_DIR.exists() and not OUTPUT_DIR.is_dir():
        raise OutputError(f"Cannot create the folder {OUTPUT_DIR}/ for the result (a file of "
                          "that name is in the way); choose an output file with -o.")
    if not OUTPUT_DIR.exists() and not os.access(OUTPUT_DIR.resolve().parent, os.W_OK):
        raise OutputError(f"Cannot create the folder {OUTPUT_DIR}/ for the result (the "
                          "current folder is read-only); choose an output file with -o.")
    candidate, n = OUTPUT_DIR / f"{stem}.png", 2
    while candidate.exists():
        candidate, n = OUTPUT_DIR / f"{stem}-{n}.png", n + 1
    return candidate


def _save(image: torch.Tensor, output: Path, *, overwrite: bool) -> Path:
    try:
        output.parent.mkdir(exist_ok=True)  # outputs/, checked before the run
    except OSError as error:
        raise OutputError(f"Cannot create the folder {output.parent}/ for the result "
                          f"({error.strerror or error}); choose an output file with -o.") from None
    return save_image(image, output, overwrite=overwrite)


def _name(argument: str) -> str:
    return Path(argument).stem


def _load_checked(argument: str, size: int | None, layers, progress: bool) -> torch.Tensor:
    # Check the size before VGG19 is built or its weights loaded: a quick, clear error.
    image = load_image(image_path(argument, progress=progress), size=size)
    check_image_size(layers, *image.shape[-2:])
    return image


_BEYOND = ("preserve_color", "style_blend", "style_scale", "mask", "scales", "scale_steps")


def _uses_beyond(args) -> bool:
    return len(args.style) > 1 or any(
        getattr(args, name) not in (None, "none") for name in _BEYOND)


def _check_beyond(args) -> None:
    # Combinations that make no sense, refused before anything is loaded.
    if args.scales and args.size:
        raise SettingsError("Give --size or --scales, not both: with --scales the last "
                            "scale is the result's size.")
    if args.scale_steps and not args.scales:
        raise SettingsError("--scale-steps needs --scales (one step count per scale).")
    if args.scale_steps and len(args.scale_steps) != len(args.scales):
        raise SettingsError(f"--scale-steps has {len(args.scale_steps)} numbers for "
                            f"{len(args.scales)} --scales; give one per scale.")
    if args.style_blend and args.mask:
        raise SettingsError("Give --style-blend or --mask, not both: with --mask each region "
                            "takes one style.")
    if args.style_blend and len(args.style_blend) != len(args.style):
        raise SettingsError(f"--style-blend has {len(args.style_blend)} weights for "
                            f"{len(args.style)} --style images; give one per style.")


def _init_and_config(args, content: torch.Tensor, steps: int, progress: bool):
    """The starting image (``None``: the config's ``init``) and the run's TransferConfig."""
    init = None
    if args.init not in ("content", "noise"):
        init = resize(load_image(image_path(args.init, progress=progress)),
                      tuple(content.shape[-2:])).to(content.device)
    config = TransferConfig(
        content_layer=args.content_layer, style_layers=args.style_layers,
        content_weight=args.content_weight, style_weight=args.style_weight,
        tv_weight=args.tv_weight, init="content" if init is not None else args.init,
        optimizer=args.optimizer, steps=steps, lr=args.lr, seed=args.seed,
        pooling=args.pooling, weights=args.weights)
    return init, config


def _run_controlled(args, device, size, steps, progress):
    layers = check_layer_names([args.content_layer, *args.style_layers])
    final = args.scales[-1] if args.scales else size
    content = _load_checked(args.content, final, layers, progress).to(device)
    first_hw = stage_sizes(*content.shape[-2:], args.scales or [final])[0]
    check_image_size(layers, *first_hw)
    styles = []
    for name in args.style:
        # Load the style large enough for its scale; it is resized at every stage.
        style_size = round(final * max(1.0, args.style_scale or 1.0))
        style = _load_checked(name, style_size, args.style_layers, progress)
        if args.style_scale:
            check_image_size(args.style_layers,
                             *scale_style(style, first_hw, args.style_scale).shape[-2:])
        styles.append(style.to(device))
    masks = (load_label_masks(args.mask, tuple(content.shape[-2:]), len(styles))
             if args.mask else None)
    init, config = _init_and_config(args, content, steps, progress)
    return controlled_transfer(
        content, styles, config, style_blend=args.style_blend, style_scale=args.style_scale,
        masks=masks, preserve_color=args.preserve_color, scales=args.scales,
        scale_steps=args.scale_steps, init=init, progress=progress)


def _run_transfer(args, device, size, steps, progress):
    if _uses_beyond(args):
        return _run_controlled(args, device, size, steps, progress)
    layers = check_layer_names([args.content_layer, *args.style_layers])
    content = _load_checked(args.content, size, layers, progress).to(device)
    style = _load_checked(args.style[0], size, args.style_layers, progress).to(device)
    init, config = _init_and_config(args, content, steps, progress)
    return style_transfer(content, style, config, init=init, progress=progress)


def _run_reconstruct(args, device, size, steps, progress):
    layers = check_layer_names([args.content_layer] if args.content_layer else args.style_layers)
    image = _load_checked(args.image, size, layers, progress).to(device)
    config = RunConfig(optimizer=args.optimizer, steps=steps, lr=args.lr, seed=args.seed,
                       pooling=args.pooling, weights=args.weights)
    if args.content_layer:
        return reconstruct_content(image, layers, config, progress=progress)
    return reconstruct_style(image, [layers], config, progress=progress)


def _output_stem(args) -> str:
    if args.command == "transfer":
        return f"{_name(args.content)}_{'+'.join(_name(s) for s in args.style)}"
    if args.content_layer:
        return f"{_name(args.image)}_content_{args.content_layer}"
    return f"{_name(args.image)}_style_{'+'.join(args.style_layers)}"


def run(args: argparse.Namespace) -> int:
    if args.command == "transfer":
        args.style = args.style or ["great_wave"]
        _check_beyond(args)
    device = resolve_device(args.device)
    size = (args.size or default_size(device)) if not getattr(args, "scales", None) else None
    steps = args.steps or default_steps(device)
    progress = not args.quiet
    # Check the output before the long run, so a bad path costs seconds, not minutes.
    output = (check_output_path(args.output, overwrite=args.overwrite) if args.output
              else _default_output(_output_stem(args)))
    runner = _run_transfer if args.command == "transfer" else _run_reconstruct
    result = runner(args, device, size, steps, progress)
    written = _save(result.image[0], output, overwrite=args.overwrite)
    height, width = result.image.shape[-2:]
    what = f"{width}×{height}, {result.steps} steps, {result.seconds:.0f} s on {device}"
    if result.restarts:
        what += (f"; L-BFGS went far uphill and restarted from its best image "
                 f"{result.restarts} time{'s' if result.restarts > 1 else ''}")
    if result.stop_reason == "interrupted":
        print(f"{PROG}: interrupted after {result.steps} steps; wrote the best image so far "
              f"to {written} ({what})")
        return 130
    print(f"{PROG}: wrote {written} ({what})")
    return 0


def _format_warning(message, category, *_args, **_kwargs) -> str:
    return f"{PROG}: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    original_format, warnings.formatwarning = warnings.formatwarning, _format_warning
    try:
        return run(args)
    except NstyleError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing was written", file=sys.stderr)
        return 130
    except torch.cuda.OutOfMemoryError:
        print(f"{PROG}: error: the GPU ran out of memory; use a smaller --size or "
              "--device cpu", file=sys.stderr)
        return 2
    finally:
        warnings.formatwarning = original_format
