"""Render the gallery: the suite's headline pictures, on real ImageNet features.

    python docs/gallery/make_gallery.py            # (make gallery) into docs/gallery/
    python docs/gallery/make_gallery.py --output /tmp/gallery

Writes five figures and an index (``README.md``) that names the weights they were made with:

- ``headline.png``: the Great Wave painted onto Tübingen at the command line's defaults;
- ``fig1_content.png``, ``fig1_style.png``: the paper's Fig. 1, content reconstructions per
  layer and style reconstructions per growing layer set (notebooks 02 and 03);
- ``fig3_grid.png``: the paper's Fig. 3, α/β against the content layer (notebook 04);
- ``controls.png``: each control of notebook 05.

The weights: ``$NSTYLE_WEIGHTS`` if set, else the real-feature file beside the repository
(``../shared/weights/vgg19_layout_imagenet_vgg16.pth``) if it is there, else torchvision's
VGG19 download. Random weights and quick mode make pictures that are not results: they are
refused for ``docs/gallery/`` and labelled as such anywhere else (the tests use them).
Tübingen stands in for the command line's Chicago, whose licence keeps it out of the
repository. 16 min 39 s on a 2-core AMD EPYC (2026-12-07).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # a script: files, no windows

import torch  # noqa: E402

import nstyle_helpers as nh  # noqa: E402
from nstyle_helpers import display, multistyle  # noqa: E402

GALLERY = Path(__file__).resolve().parent
REPO = GALLERY.parent.parent
SHARED_WEIGHTS = REPO.parent / "shared" / "weights" / "vgg19_layout_imagenet_vgg16.pth"
CREDIT = ("VGG16 of Simonyan & Zisserman (Oxford VGG, CC BY 4.0) in VGG19's layout "
          "(`vgg19_layout_imagenet_vgg16.pth`)")


def choose_weights() -> str:
    """``$NSTYLE_WEIGHTS``, else the shared real-feature file, else torchvision's VGG19."""
    if os.environ.get("NSTYLE_WEIGHTS"):
        return os.environ["NSTYLE_WEIGHTS"]
    return str(SHARED_WEIGHTS) if SHARED_WEIGHTS.exists() else "imagenet"


def describe_weights(weights: str) -> str:
    if weights == "imagenet":
        return "torchvision's ImageNet VGG19"
    if weights == "random":
        return "RANDOM WEIGHTS: these pictures are not results"
    if Path(weights).name == SHARED_WEIGHTS.name:
        return CREDIT
    return f"the weights file `{Path(weights).name}`"


def sizes(device: torch.device) -> dict[str, int]:
    """Longer sides and steps: the command line's for the headline, the notebooks' otherwise."""
    return nh.quick_or(
        {"headline": nh.default_size(device), "headline_steps": nh.default_steps(device),
         "figure": 160, "figure_steps": 200, "grid": 160, "grid_steps": 150,
         "control": 192, "control_steps": 100},
        # quick: style scale 0.5 must leave the style relu5_1's 16 px (as notebook 05's 64 px)
        {"headline": 48, "headline_steps": 3, "figure": 32, "figure_steps": 3,
         "grid": 32, "grid_steps": 3, "control": 64, "control_steps": 3})


def image(name: str, size: int, device: torch.device) -> torch.Tensor:
    return nh.load_image(nh.example_image_path(name), size=size).to(device)


def headline(config, vgg, device, s):
    content = image("tubingen", s["headline"], device)
    style = image("great_wave", s["headline"], device)
    result = nh.style_transfer(content, style, config.replace(steps=s["headline_steps"]),
                               extractor=vgg)
    return display.show_images(
        [content, style, result.image],
        ["content: Tübingen", "style: The Great Wave",
         f"result: defaults, {result.steps} L-BFGS steps"], size=3.5)


def fig1(config, vgg, device, s):
    photo = image("tubingen", s["figure"], device)
    content = nh.reconstruct_content(photo, nh.CONTENT_LAYERS_FIG1,
                                     config.replace(steps=s["figure_steps"]), extractor=vgg)
    painting = image("starry_night", s["figure"], device)
    sets = nh.style_layer_sets()
    style = nh.reconstruct_style(painting, sets, config.replace(steps=s["figure_steps"]),
                                 extractor=vgg)
    content_figure = display.show_images(
        [photo, *content.image], ["Tübingen", *nh.CONTENT_LAYERS_FIG1], size=2.0)
    style_figure = display.show_images(
        [painting, *style.image],
        ["The Starry Night", *["{" + ", ".join(layers) + "}" if len(layers) == 1
                               else f"relu1_1 … {layers[-1]}" for layers in sets]], size=2.0)
    return content_figure, style_figure


def fig3(config, vgg, device, s):
    content = image("tubingen", s["grid"], device)
    style = image("great_wave", s["grid"], device)
    height, width = content.shape[-2:]
    balance = nh.TransferConfig(weights=config.weights).resolved_balance
    default = nh.transfer_loss_weights(height, width, balance=balance)
    ratios = [default.ratio * 10.0 ** k for k in (-2, -1, 0, 1)]
    layers = ("relu2_2", "relu4_2")
    grid = [nh.TransferConfig(weights=config.weights, steps=s["grid_steps"],
                              content_layer=layer, style_weight=default.style_weight,
                              content_weight=ratio * default.style_weight)
            for layer in layers for ratio in ratios]
    result = nh.style_transfer(content, style, grid, extractor=vgg)
    return display.image_grid(result.image, layers, [f"α/β = {r:.0e}" for r in ratios],
                              row_title="content layer",
                              col_title=f"α/β ({balance} balance)", suptitle="Fig. 3")


def controls(config, vgg, device, s):
    content = image("tubingen", s["control"], device)
    wave = image("great_wave", s["control"], device)
    starry = image("starry_night", s["control"], device)
    run = config.replace(steps=s["control_steps"])
    sky = (content[0, 2] > content[0, 0] + 0.1) & (content[0, 2] > 0.6)  # blue and bright
    pictures = {
        "plain": nh.style_transfer(content, wave, run, extractor=vgg),
        "colour: luminance only": nh.style_transfer(content, wave, run, extractor=vgg,
                                                    preserve_color="luminance"),
        "colour: histogram": nh.style_transfer(content, wave, run, extractor=vgg,
                                               preserve_color="histogram"),
        "blend: wave 0.5, starry 0.5": nh.style_transfer(content, [wave, starry], run,
                                                         extractor=vgg, style_blend=(0.5, 0.5)),
        "style scale 0.5": nh.style_transfer(content, wave, run, extractor=vgg, style_scale=0.5),
        "style scale 2": nh.style_transfer(content, wave, run, extractor=vgg, style_scale=2.0),
        "masks: sky wave, town starry": nh.style_transfer(
            content, [wave, starry], run, extractor=vgg,
            masks=torch.stack([sky, ~sky]).float()),
        "coarse-to-fine from noise": nh.style_transfer(
            content, wave, run.replace(init="noise"), extractor=vgg,
            scales=(s["control"] // 2, s["control"]),
            scale_steps=(s["control_steps"], s["control_steps"] // 2)),
    }
    return display.show_images([content, *(r.image for r in pictures.values())],
                               ["content", *pictures], ncols=3, size=2.4)


def render(weights: str, device: torch.device) -> dict:
    """Every figure, by file name (without .png); nothing is written yet."""
    config = nh.TransferConfig(weights=weights)
    layers = (*nh.CONTENT_LAYERS_FIG1, *nh.STYLE_LAYERS)
    vgg = nh.build_extractor(layers, config, device)
    s = sizes(device)
    figures = {"headline": headline(config, vgg, device, s)}
    figures["fig1_content"], figures["fig1_style"] = fig1(config, vgg, device, s)
    figures["fig3_grid"] = fig3(config, vgg, device, s)
    figures["controls"] = controls(config, vgg, device, s)
    return figures


def write_index(folder: Path, weights: str, device: torch.device) -> None:
    lines = [
        "# Gallery",
        "",
        "Made by `make gallery` (`docs/gallery/make_gallery.py`) with "
        f"{describe_weights(weights)}, on a {device.type.upper()}. "
        "torchvision's VGG19 gives pictures that differ in detail. The content photograph is "
        "*Neckarfront in Tübingen* (Andreas Praefcke, CC BY 3.0); the paintings are public "
        "domain (`images/CREDITS.md`).",
        "",
        "![The Great Wave painted onto Tübingen](headline.png)",
        "",
        "The paper's Fig. 1: content reconstructions from white noise, one layer each "
        "(notebook 02), and style reconstructions from growing layer sets (notebook 03).",
        "",
        "![Fig. 1, content](fig1_content.png)",
        "",
        "![Fig. 1, style](fig1_style.png)",
        "",
        "The paper's Fig. 3: α/β against the content layer, one batched run (notebook 04).",
        "",
        "![Fig. 3](fig3_grid.png)",
        "",
        "The controls of notebook 05: colour preservation, blending, style scale, masks, "
        "coarse-to-fine.",
        "",
        "![Controls](controls.png)",
        "",
    ]
    (folder / "README.md").write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=GALLERY,
                        help="folder for the pictures (default docs/gallery/)")
    args = parser.parse_args(argv)
    weights = choose_weights()
    if args.output.resolve() == GALLERY and (weights == "random" or nh.quick_mode()):
        print("make_gallery: docs/gallery/ holds real pictures only; unset NSTYLE_QUICK and "
              "NSTYLE_WEIGHTS=random, or pass --output elsewhere.", file=sys.stderr)
        return 2
    device = nh.resolve_device()
    try:
        figures = render(weights, device)
    except nh.NstyleError as error:
        print(f"make_gallery: error: {error}", file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    for name, figure in figures.items():
        figure.savefig(args.output / f"{name}.png", dpi=100)
    write_index(args.output, weights, device)
    print(f"make_gallery: {len(figures)} figures and README.md in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
