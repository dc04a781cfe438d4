"""The command line: ``python -m nstyle_helpers transfer|reconstruct`` (or ``nstyle``).

Every mistake a user can make gets exit status 2 and one line on stderr saying what is
wrong and what to do, before any long computation where possible; the output file is only
ever written whole (see :func:`nstyle_helpers.core.images.save_image`).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from .base.errors import (PROG, DivergedError, NstyleError, OutputError, OutputExistsError,
                          SettingsError, nothing_written)
from .base.validation import (POOLINGS, validate_learning_rate, validate_loss_weight, validate_seed,
                              validate_size, validate_steps)
from .base.devices import resolve_device
from .core.images import (load_image, resize, save_image, save_new_image, validate_output_path,
                          write_first_free)
from .core.examples import image_path
from .core.features import CONTENT_LAYER, STYLE_LAYERS, validate_layer_names
from .core.optimize import DEFAULT_LR, OPTIMIZERS
from .core.defaults import (BALANCES, RELATIVE_CONTENT_WEIGHT, RELATIVE_STYLE_WEIGHT, default_size,
                            default_steps)
from .controls.color import PRESERVE_COLOR
from .controls.multistyle import (MAX_STYLE_SCALE, load_label_masks, validate_blend,
                                  validate_style_scale)
from .controls.multiscale import validate_scale_steps, validate_scales
from .transfer import (INITS, RunConfig, TransferConfig, reconstruct_content, reconstruct_style,
                       style_transfer)
from .teaching.session import describe_setup
from .teaching.movie import (default_snapshot_every, ending_with_result, validate_movie_path,
                             validate_snapshot_every, write_movie)

__all__ = ["main", "ignore_interrupts"]

OUTPUT_DIR = Path("outputs")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (exit 2), not usage text plus the error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _validated(validate, value):
    # The library's own validator (nstyle_helpers.base.validation); its sentence is the usage error.
    try:
        return validate(value)
    except NstyleError as error:
        raise argparse.ArgumentTypeError(str(error).rstrip(".")) from None


def _option(parse, validate, what: str):
    """An argparse type: ``parse`` the text (else "is not WHAT"), then ``validate`` it."""

    def convert(text: str):
        try:
            value = parse(text.strip())
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        return _validated(validate, value)

    return convert


_size = _option(int, validate_size, "a whole number of pixels")
_steps = _option(int, validate_steps, "a whole number")
_lr = _option(float, validate_learning_rate, "a number")
_seed = _option(int, validate_seed, "a whole number")
_snapshot_every = _option(int, validate_snapshot_every, "a whole number")
_style_scale = _option(float, validate_style_scale, "a number")


def _weight(what: str):
    return _option(float, lambda value: validate_loss_weight(value, what), "a number")


def _layer_list(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _name_list(text: str) -> list[str]:
    if Path(text).exists():  # an existing file wins, even with a comma in its name
        return [text]
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give an image name or path")
    return names


def _list_of(parse, what: str, validate):
    """An argparse type for a comma list, each item parsed, then the whole list validated."""

    def convert(text: str):
        values = []
        for item in text.split(","):
            try:
                values.append(parse(item.strip()))
            except (ValueError, OverflowError):
                raise argparse.ArgumentTypeError(f"{item.strip()!r} in {text!r} is not "
                                                 f"{what}") from None
        return _validated(validate, values)

    return convert


_blend_list = _list_of(float, "a number", lambda weights: validate_blend(weights, len(weights)))
_scale_list = _list_of(int, "a whole number of pixels",
                       lambda sizes: tuple(validate_size(s) for s in validate_scales(sizes)))
_steps_list = _list_of(int, "a whole number",
                       lambda steps: validate_scale_steps(steps, len(steps)))


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    run = parser.add_argument_group("run")
    run.add_argument("-o", "--output", type=Path,
                     help="PNG/JPEG file to write (default: a new file in outputs/)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace --output if it exists (otherwise that is an error)")
    run.add_argument("--size", type=_size,
                     help="longer side in pixels (default: 512 on a GPU, 384 on a CPU)")
    run.add_argument("--steps", type=_steps,
                     help="optimiser steps (default: 500 on a GPU, 300 on a CPU); with "
                          "L-BFGS one step is one iteration")
    run.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs",
                     help="lbfgs (the paper, default) or adam (the blog post)")
    run.add_argument("--lr", type=_lr,
                     help=f"learning rate (default: {DEFAULT_LR['lbfgs']:g} for lbfgs, "
                          f"{DEFAULT_LR['adam']:g} for adam, in [0, 1] pixel units)")
    run.add_argument("--pooling", choices=POOLINGS, default="max",
                     help="max (what VGG19 was trained with, default) or avg (the paper)")
    run.add_argument("--seed", type=_seed, default=0,
                     help="seed of the white noise, 0 to 2**64-1 (default 0)")
    run.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps; "
                                      "or set NSTYLE_DEVICE")
    run.add_argument("--weights", help="imagenet (default: torchvision's download), random "
                                       "(tests only), or a VGG19 state dict file; or set "
                                       "NSTYLE_WEIGHTS")
    run.add_argument("--movie", type=Path, metavar="PATH.gif",
                     help="also write the optimisation as an animated GIF, one frame per "
                          "snapshot (never replacing a file without --overwrite)")
    run.add_argument("--snapshot-every", type=_snapshot_every, metavar="N",
                     help="with --movie: a frame every N steps (default: steps // 20, at "
                          "least 1); each frame is kept in memory until the run ends")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Neural style transfer (Gatys et al.) with VGG19.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    commands.add_parser("info", help="what this set-up runs with: versions, device, where "
                        "weights and images are cached, NSTYLE_* variables")

    transfer = commands.add_parser(
        "transfer", help="paint a style image onto a content image",
        description="Paint STYLE onto CONTENT. Images are example names "
                    "(chicago, great_wave, starry_night, tubingen) or file paths.")
    transfer.add_argument("--content", default="chicago", help="content image (default chicago)")
    transfer.add_argument("--style", action="extend", type=_name_list, metavar="STYLE",
                          help="style image (default great_wave); repeat it or give a comma "
                               "list (a.jpg,b.jpg) for several styles, blended by "
                               "--style-blend or placed by --mask")
    transfer.add_argument("--content-weight", type=_weight("the content weight"),
                          help="alpha (default: the balance's, see --balance and "
                               "nstyle_helpers/core/defaults.py)")
    transfer.add_argument("--style-weight", type=_weight("the style weight"),
                          help="beta (default: likewise)")
    transfer.add_argument("--balance", choices=BALANCES,
                          help="relative: each loss term a relative error, alpha "
                               f"{RELATIVE_CONTENT_WEIGHT:g}, beta {RELATIVE_STYLE_WEIGHT:g}, "
                               "right on networks of any activation scale; tutorial: the "
                               "PyTorch tutorial's weights, exact for torchvision's VGG19 "
                               "(default: tutorial with torchvision's weights, else relative)")
    transfer.add_argument("--tv-weight", type=_weight("the total-variation weight"), default=0.0,
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
                             f"(finer strokes) or 2 (coarser); at most {MAX_STYLE_SCALE:g}")
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


def _check_output_folder() -> None:
    # Without --output we never overwrite: the result takes the first free name in outputs/
    # when it is saved (_save). The folder is only checked here and created after the run,
    # so that a run that fails on its inputs leaves nothing behind.
    if OUTPUT_DIR.exists() and not OUTPUT_DIR.is_dir():
        raise OutputError(f"Cannot create the folder {OUTPUT_DIR}/ for the result (a file of "
                          "that name is in the way); choose an output file with -o.")
    if not OUTPUT_DIR.exists() and not os.access(OUTPUT_DIR.resolve().parent, os.W_OK):
        raise OutputError(f"Cannot create the folder {OUTPUT_DIR}/ for the result (the "
                          "current folder is read-only); choose an output file with -o.")


def _claim(path: Path, write: Callable[[Path], Path]) -> Path:
    """``write(path)``; if another program took ``path`` during the run (it was free when the
    run started), the next free name beside it, said on stderr: a finished result is never
    thrown away."""
    try:
        return write(path)
    except OutputExistsError:
        written = write_first_free(path.parent, path.stem, path.suffix, write)
        print(f"{PROG}: {path} appeared during the run; wrote {written} instead",
              file=sys.stderr)
        return written


def _save(image: torch.Tensor, args) -> Path:
    """Write the result: to ``-o`` (never replacing a file without --overwrite), or under
    the first free name in outputs/, claimed atomically (two runs never lose a result)."""
    if args.output:
        return _claim(Path(args.output),
                      lambda path: save_image(image, path, overwrite=args.overwrite))
    try:
        OUTPUT_DIR.mkdir(exist_ok=True)  # checked before the run
    except OSError as error:
        raise OutputError(f"Cannot create the folder {OUTPUT_DIR}/ for the result "
                          f"({error.strerror or error}); choose an output file with -o.") from None
    return save_new_image(image, OUTPUT_DIR, _output_stem(args))


def _write_results(result, args) -> str:
    """Write the image, then --movie ending on it: "PATH" or "PATH and the movie PATH"."""
    image = _save(result.image[0], args)
    if not args.movie:
        return str(image)
    frames = ending_with_result(result.snapshots, result.steps, result.image)
    try:
        movie = _claim(Path(args.movie),
                       lambda path: write_movie(frames, path, overwrite=args.overwrite))
    except OutputError as error:  # e.g. the disk filled up after the image
        raise OutputError(f"Wrote {image}, but not the movie: {error}") from None
    return f"{image} and the movie {movie}"


def _name(argument: str) -> str:
    return Path(argument).stem


def _check_beyond(args) -> None:
    # Combinations that make no sense, refused before anything is loaded.
    if args.scales and args.size:
        raise SettingsError("Give --size or --scales, not both: with --scales the last "
                            "scale is the result's size.")
    if args.scale_steps and not args.scales:
        raise SettingsError("--scale-steps needs --scales (one step count per scale).")
    if args.style_blend and args.mask:
        raise SettingsError("Give --style-blend or --mask, not both: with --mask each region "
                            "takes one style.")


def _init_and_config(args, content: torch.Tensor, steps: int, progress: bool):
    """The starting image (``None``: the config's ``init``) and the run's TransferConfig."""
    init = None
    if args.init not in INITS:  # a path: the start image
        init = resize(load_image(image_path(args.init, progress=progress)),
                      tuple(content.shape[-2:])).to(content.device)
    config = TransferConfig(
        content_layer=args.content_layer, style_layers=args.style_layers,
        content_weight=args.content_weight, style_weight=args.style_weight,
        tv_weight=args.tv_weight, init="content" if init is not None else args.init,
        optimizer=args.optimizer, steps=steps, lr=args.lr, seed=args.seed,
        pooling=args.pooling, weights=args.weights, balance=args.balance)
    return init, config


def _run_transfer(args, device, size, steps, progress):
    # Load and check the images, then call the library's one entry point with every control.
    layers = validate_layer_names([args.content_layer, *args.style_layers])
    final = args.scales[-1] if args.scales else size
    content = load_image(image_path(args.content, progress=progress), size=final).to(device)
    styles = []
    for name in args.style:
        # Load the style large enough for its scale; it is resized at every stage, and
        # style_transfer checks every stage's sizes before VGG19 is built.
        style_size = round(final * max(1.0, args.style_scale or 1.0))
        styles.append(load_image(image_path(name, progress=progress), size=style_size).to(device))
    masks = (load_label_masks(args.mask, tuple(content.shape[-2:]), len(styles))
             if args.mask else None)
    init, config = _init_and_config(args, content, steps, progress)
    return style_transfer(
        content, styles, config, style_blend=args.style_blend, style_scale=args.style_scale,
        masks=masks, preserve_color=args.preserve_color, scales=args.scales,
        scale_steps=args.scale_steps, init=init, progress=progress,
        snapshot_every=args.snapshot_every or 0)


def _run_reconstruct(args, device, size, steps, progress):
    layers = validate_layer_names([args.content_layer] if args.content_layer else args.style_layers)
    image = load_image(image_path(args.image, progress=progress), size=size).to(device)
    config = RunConfig(optimizer=args.optimizer, steps=steps, lr=args.lr, seed=args.seed,
                       pooling=args.pooling, weights=args.weights)
    if args.content_layer:
        return reconstruct_content(image, layers, config, progress=progress,
                                   snapshot_every=args.snapshot_every or 0)
    return reconstruct_style(image, [layers], config, progress=progress,
                             snapshot_every=args.snapshot_every or 0)


def _output_stem(args) -> str:
    if args.command == "transfer":
        return f"{_name(args.content)}_{'+'.join(_name(s) for s in args.style)}"
    if args.content_layer:
        return f"{_name(args.image)}_content_{args.content_layer}"
    return f"{_name(args.image)}_style_{'+'.join(args.style_layers)}"


class _Termination:
    """SIGTERM (job schedulers, ``timeout``) handled like Ctrl-C: the handler raises
    KeyboardInterrupt, so the optimisation loop stops and returns its best image, and
    remembers that it was SIGTERM, for the exit status 143."""

    def __init__(self):
        self.received = False

    def __call__(self, _signum, _frame):
        self.received = True
        raise KeyboardInterrupt


def _exit_status(termination: _Termination) -> int:
    return 143 if termination.received else 130


def _stopped(termination: _Termination) -> str:
    return "terminated (SIGTERM)" if termination.received else "interrupted"


def ignore_interrupts() -> None:
    """After the first Ctrl-C or SIGTERM: finish writing the image and exit, undisturbed by a
    second one (main restores the handlers; ``__main__.console_main`` ignores them again until
    the process exits)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _summary(result, device) -> str:
    height, width = result.image.shape[-2:]
    what = f"{width}×{height}, {result.steps} steps, {result.seconds:.0f} s on {device}"
    if result.restarts:
        what += (f"; L-BFGS went far uphill and restarted from its best image "
                 f"{result.restarts} time{'s' if result.restarts > 1 else ''}")
    return what


def run(args: argparse.Namespace, termination: _Termination) -> int:
    if args.command == "info":
        print(describe_setup(resolve_device(None)))
        return 0
    if args.command == "transfer":
        args.style = args.style or ["great_wave"]
        _check_beyond(args)
    device = resolve_device(args.device)
    size = (args.size or default_size(device)) if not getattr(args, "scales", None) else None
    steps = args.steps or default_steps(device)
    progress = not args.quiet
    # Check the output before the long run, so a bad path costs seconds, not minutes.
    if args.output:
        validate_output_path(args.output, overwrite=args.overwrite)
    else:
        _check_output_folder()
    if args.snapshot_every and not args.movie:
        raise SettingsError("--snapshot-every needs --movie (it spaces the movie's frames).")
    if args.movie:
        validate_movie_path(args.movie, overwrite=args.overwrite)
        args.snapshot_every = args.snapshot_every or default_snapshot_every(steps)
    runner = _run_transfer if args.command == "transfer" else _run_reconstruct
    try:
        result = runner(args, device, size, steps, progress)
    except DivergedError as error:
        # The run failed, but its best image is not thrown away.
        ignore_interrupts()
        written = _write_results(error.result, args)
        print(f"{PROG}: error: {error.cause} Wrote the best image before that to {written}.",
              file=sys.stderr)
        return 2
    if result.stop_reason == "interrupted":
        ignore_interrupts()
    written = _write_results(result, args)
    if result.stop_reason == "interrupted":
        print(f"{PROG}: {_stopped(termination)} after {result.steps} steps; wrote the best "
              f"image so far to {written} ({_summary(result, device)})")
        return _exit_status(termination)
    print(f"{PROG}: wrote {written} ({_summary(result, device)})")
    return 0


def _format_warning(message, category, *_args, **_kwargs) -> str:
    return f"{PROG}: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input, 130 interrupted
    by Ctrl-C, 143 terminated by SIGTERM; after either the best image so far is written)."""
    args = build_parser().parse_args(argv)
    original_format, warnings.formatwarning = warnings.formatwarning, _format_warning
    termination = _Termination()
    originals = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, termination)
    try:
        return run(args, termination)
    except OutputExistsError as error:  # said with the command line's option
        print(f"{PROG}: error: {OutputExistsError(error.path, option='--overwrite')}",
              file=sys.stderr)
        return 2
    except NstyleError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        ignore_interrupts()
        print(nothing_written(_stopped(termination)), file=sys.stderr)
        return _exit_status(termination)
    except torch.cuda.OutOfMemoryError:
        print(f"{PROG}: error: the GPU ran out of memory; use a smaller --size or "
              "--device cpu", file=sys.stderr)
        return 2
    finally:
        warnings.formatwarning = original_format
        for signum, handler in originals.items():
            signal.signal(signum, handler)
