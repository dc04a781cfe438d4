"""Interactive widgets for the notebooks, built from pure render functions.

The pattern (so that every widget can be tested in plain pytest and still teaches where
widgets do not run, e.g. on GitHub):

1. a *render function* turns data and control values into PNG bytes (or a figure); it is
   pure: the same arguments give the same bytes, and it changes nothing;
2. the widget only wires controls to it: an observer calls the render function and puts
   the bytes into an ``ipywidgets.Image``. Setting ``.value`` on a control runs its
   observers, in a notebook or in a test alike;
3. every widget cell in a notebook is followed by a static figure drawn by the same
   render function (or the :mod:`~nstyle_helpers.teaching.display` function it uses).

Nothing here computes the method: the results come from :mod:`~nstyle_helpers.transfer`.
"""

from __future__ import annotations

import dataclasses
import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image as _PILImage

from ..base.errors import ImageError, LayerError, NstyleError, OutputError
from ..base.validation import validate_steps
from ..core.images import load_image_bytes, save_new_image, to_pil, validate_image
from ..core.features import (CONTENT_LAYER, STYLE_LAYERS, VGG19Features, validate_image_size,
                             validate_layer_names, feature_shape, style_layer_sets)
from ..core.optimize import OptimizationResult, Progress
from ..core.defaults import tutorial_equivalent_weights
from ..transfer import (INITS, RunConfig, TransferConfig, build_extractor, reconstruct_style,
                        run_balance, style_transfer, transfer_loss_weights)
from . import display

__all__ = [
    "image_png",
    "figure_png",
    "render_layer_view",
    "LayerBrowser",
    "layer_browser",
    "png_image",
    "layer_set_label",
    "style_layer_weight_presets",
    "render_style_reconstruction",
    "StyleReconstructionExplorer",
    "style_reconstruction_explorer",
    "CONV_STYLE_LAYERS",
    "TRANSFER_CONTENT_LAYERS",
    "transfer_loss_weights",  # from nstyle_helpers.transfer, shown beside the α/β slider
    "render_style_transfer",
    "uploaded_image",
    "StyleTransferExplorer",
    "style_transfer_explorer",
]


def image_png(image: torch.Tensor) -> bytes:
    """PNG bytes of one (3, H, W) or (1, 3, H, W) image in [0, 1], pixel for pixel.

    Deterministic: the same image gives the same bytes (no time stamp is written).

    Example:
        >>> image_png(torch.zeros(1, 3, 2, 2))[:4]
        b'\\x89PNG'
    """
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="PNG")
    return buffer.getvalue()


def figure_png(fig, *, dpi: int = 100) -> bytes:
    """PNG bytes of a matplotlib figure (without the software/time metadata)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def _layer_index(layers: Sequence[str], layer: str) -> int:
    layers = list(layers)
    if layer not in layers:
        raise LayerError(f"{layer!r} is not one of the layers of this result: "
                         f"{', '.join(layers)}.")
    return layers.index(layer)


def render_layer_view(result: OptimizationResult, layers: Sequence[str], layer: str, *,
                      loss: str = "total", log: bool = True) -> tuple[bytes, bytes]:
    """The two pictures of :func:`layer_browser` for one chosen layer: a pure function.

    Args:
        result: a batched run with one image per layer, e.g. from
            :func:`~nstyle_helpers.transfer.reconstruct_content`; ``result.image[n]`` belongs
            to ``layers[n]``.
        layers: the layer of each batch item, in order.
        layer: the layer to show.
        loss: the loss term to plot.

    Returns:
        ``(image_png, loss_png)``: the reconstruction from ``layer``, pixel for pixel, and the
        loss curves of every layer with the chosen one highlighted
        (:func:`~nstyle_helpers.teaching.display.loss_curves`).
    """
    index = _layer_index(layers, layer)
    if len(layers) != result.image.shape[0]:
        raise LayerError(f"got {len(layers)} layer names for a batch of "
                         f"{result.image.shape[0]} images.")
    picture = image_png(result.image[index])
    figure = display.loss_curves(result.history, [loss], labels=list(layers), log=log,
                                 highlight=index, size=2.6)
    return picture, figure_png(figure)


class LayerBrowser(widgets.VBox):
    """The widget :func:`layer_browser` returns.

    Attributes (for tests and for wiring further widgets): ``control`` (the layer
    selector), ``image`` (the reconstruction, PNG), ``loss_plot`` (the loss curves, PNG),
    ``target`` (the original image, PNG, or ``None``).
    """

    def __init__(self, result: OptimizationResult, layers: Sequence[str], *,
                 target: torch.Tensor | None = None, loss: str = "total", log: bool = True,
                 width: int = 256):
        self.result = result
        self.layers = tuple(layers)
        self._loss = loss
        self._log = log
        self.control = widgets.ToggleButtons(options=list(self.layers), value=self.layers[-1],
                                             description="layer")
        self.image = widgets.Image(format="png", width=width)
        self.loss_plot = widgets.Image(format="png")  # its natural size: a sharp plot
        self.target = (widgets.Image(value=image_png(target), format="png", width=width)
                       if target is not None else None)
        self.control.observe(self._update, names="value")
        self._update()
        pictures = [self._labelled(self.target, "original")] if self.target else []
        pictures += [self._labelled(self.image, "reconstruction"),
                     self._labelled(self.loss_plot, "loss")]
        super().__init__([self.control, widgets.HBox(pictures)])

    @staticmethod
    def _labelled(picture: widgets.Image, caption: str) -> widgets.VBox:
        return widgets.VBox([widgets.HTML(f"<b>{caption}</b>"), picture])

    def _update(self, change=None) -> None:
        self.image.value, self.loss_plot.value = render_layer_view(
            self.result, self.layers, self.control.value, loss=self._loss, log=self._log)


def layer_browser(result: OptimizationResult, layers: Sequence[str], *,
                  target: torch.Tensor | None = None, loss: str = "total", log: bool = True,
                  width: int = 256) -> LayerBrowser:
    """A layer selector that switches the reconstructed image and its loss curve.

    Args:
        result: one image per layer (``result.image[n]`` for ``layers[n]``), e.g. from
            :func:`~nstyle_helpers.transfer.reconstruct_content`.
        layers: the layer of each batch item.
        target: the original image (1, 3, H, W), shown alongside for comparison.
        loss: the loss term to plot; log: logarithmic loss axis.
        width: display width of the images in pixels (small images are scaled up).

    Returns:
        A :class:`LayerBrowser` (an ``ipywidgets.VBox``); end a notebook cell with it.
        The deepest layer is selected first.
    """
    return LayerBrowser(result, layers, target=target, loss=loss, log=log, width=width)


# --------------------------------------------------------------------------------------------
# Widgets that *run* an optimisation: style reconstruction (notebook 03) and style transfer
# (notebook 04). The render functions run the method and return PNG bytes; they are pure in
# the sense above (the white noise is seeded, so the same arguments give the same bytes, and
# no argument is modified). ``preview`` is an observer: it sees the image while it is
# optimised and cannot change the result.

#: The paper's style layers *before* their ReLU (our ``conv*_1``), for the conv/relu comparison.
CONV_STYLE_LAYERS = tuple(layer.replace("relu", "conv") for layer in STYLE_LAYERS)
#: Content layers offered by :func:`style_transfer_explorer`: the paper's Fig. 1 layers
#: (rectified) and ``conv4_2``, the paper's l_c before its ReLU.
TRANSFER_CONTENT_LAYERS = ("relu2_2", "relu3_2", "relu4_2", "relu5_2", "conv4_2")

#: A preview callback: PNG bytes of the current image and the optimiser's progress.
Preview = Callable[[bytes, Progress], None]


def png_image(png: bytes) -> torch.Tensor:
    """The inverse of :func:`image_png`: PNG bytes → a (1, 3, H, W) tensor in [0, 1].

    Example:
        >>> image = torch.rand(1, 3, 4, 5)
        >>> bool(((png_image(image_png(image)) - image).abs() <= 0.5 / 255 + 1e-6).all())
        True
    """
    with _PILImage.open(io.BytesIO(png)) as picture:
        array = np.asarray(picture.convert("RGB"), dtype=np.float32) / 255.0  # (H, W, 3)
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)


def _preview_callback(preview: Preview | None, every: int) -> Callable[[Progress], None] | None:
    """An ``optimize`` callback that hands ``preview`` the first image every ``every`` steps."""
    if preview is None or every <= 0:
        return None

    def callback(progress: Progress) -> None:
        if progress.step % every == 0:
            preview(image_png(progress.image[0]), progress)

    return callback


def layer_set_label(layers: Sequence[str]) -> str:
    """A short label for a layer set, with the paper's names in brackets.

    >>> layer_set_label(("relu1_1", "relu2_1", "relu3_1"))
    'relu1_1 … relu3_1 (paper: conv1_1 … conv3_1)'
    >>> layer_set_label(("relu1_1",))
    'relu1_1 (paper: conv1_1)'
    """
    layers = tuple(layers)
    ours = layers[0] if len(layers) == 1 else f"{layers[0]} … {layers[-1]}"
    paper = ours.replace("relu", "conv")
    return f"{ours} (paper: {paper})" if paper != ours else ours


def style_layer_weight_presets(layers: Sequence[str]) -> dict[str, dict[str, float]]:
    r"""The two weightings w_l the style widget offers for a layer set, each summing to 1.

    ``"equal"``: the paper's :math:`w_l = 1/|\lambda|`, the default (what
    :func:`~nstyle_helpers.transfer.reconstruct_style` uses); ``"1/N_l²"``:
    :math:`w_l \propto N_l^{-2}`, the weighting of the PyTorch tutorial's setting converted to
    the paper's formulas (:mod:`nstyle_helpers.core.defaults`).

    >>> presets = style_layer_weight_presets(("relu1_1", "relu2_1"))
    >>> presets["equal"]
    {'relu1_1': 0.5, 'relu2_1': 0.5}
    >>> round(presets["1/N_l²"]["relu1_1"] / presets["1/N_l²"]["relu2_1"])
    4
    """
    layers = tuple(layers)
    # N_l does not depend on the image size, so any size will do here.
    maps = {layer: feature_shape(layer, 64, 64)[0] for layer in layers}
    return {"equal": {layer: 1.0 / len(layers) for layer in layers},
            "1/N_l²": dict(tutorial_equivalent_weights(1, 1, maps).layer_weights)}


def render_style_reconstruction(style: torch.Tensor, layers: Sequence[str],
                                layer_weights: Mapping[str, float] | None = None, *,
                                steps: int, size: tuple[int, int] | None = None,
                                config: RunConfig = RunConfig(),
                                extractor: VGG19Features | None = None,
                                preview: Preview | None = None,
                                preview_every: int = 0) -> bytes:
    r"""Reconstruct the style of ``style`` from white noise over ``layers``: PNG bytes.

    Minimises :math:`L_{style} = \sum_{l \in \lambda} E_l` with
    :func:`~nstyle_helpers.transfer.reconstruct_style` (one image, one layer set).

    Args:
        style: (1, 3, H, W) the style image a in [0, 1].
        layers: the layer set λ, e.g. ``("relu1_1", "relu2_1")``.
        layer_weights: w_l per layer (default: the paper's, 1/|λ|).
            Layers of ``layer_weights`` outside ``layers`` are ignored.
        steps: optimiser steps; ``config`` gives the optimiser, seed, pooling and weights.
        size: (H, W) of the result (default: the style image's).
        extractor: reuse a feature extractor that computes every layer of ``layers``.
        preview: called as ``preview(png, progress)`` every ``preview_every`` steps.

    Returns:
        PNG bytes of the reconstruction, pixel for pixel.
    """
    layers = tuple(layers)
    weights = None if layer_weights is None else [{l: float(layer_weights[l]) for l in layers
                                                   if l in layer_weights}]
    result = reconstruct_style(style, [layers], dataclasses.replace(config, steps=steps),
                               size=size, layer_weights=weights, extractor=extractor,
                               progress=False,
                               callback=_preview_callback(preview, preview_every))
    return image_png(result.image[0])


class _RunnerMixin:
    """Run-button plumbing shared by the two explorers: progress, preview, errors."""

    steps: int
    preview_every: int
    run_button: widgets.Button
    progress: widgets.IntProgress
    status: widgets.Label
    image: widgets.Image

    def _make_run_controls(self, width: int) -> None:
        self.run_button = widgets.Button(description="Run", button_style="primary",
                                         icon="play", tooltip="optimise with these settings")
        self.progress = widgets.IntProgress(value=0, min=0, max=self.steps,
                                            description="steps")
        self.status = widgets.Label(value="press Run")
        self.image = widgets.Image(format="png", width=width)
        self.run_button.on_click(self._on_click)

    def _show_preview(self, png: bytes, progress: Progress) -> None:
        self.image.value = png
        self.progress.value = progress.step
        loss = float(progress.losses["total"][0])
        self.status.value = f"step {progress.step}/{self.steps}: loss {loss:.4g}"

    def _on_click(self, _button=None) -> None:
        self._reporting_errors(self.run)

    def _reporting_errors(self, action: Callable[[], object]) -> None:
        # Widget callbacks swallow exceptions: show every failure where the student looks.
        try:
            action()
        except NstyleError as error:  # bad input, a diverged run: the sentence says it all
            self.status.value = f"error: {error}"
        except Exception as error:  # anything else: its kind and text, never silence
            self.status.value = f"error ({type(error).__name__}): {error}"

    def _run_with_preview(self, render: Callable[..., bytes]) -> bytes:
        self.run_button.disabled = True
        self.run_button.description = "Running…"
        self.progress.value = 0
        self.status.value = "starting…"
        try:
            png = render(preview=self._show_preview, preview_every=self.preview_every)
        finally:
            self.run_button.disabled = False
            self.run_button.description = "Run"
        self.image.value = png
        self.progress.value = self.steps
        self.status.value = f"done: {self.steps} steps (the best image of the run)"
        return png


class StyleReconstructionExplorer(_RunnerMixin, widgets.VBox):
    """The widget :func:`style_reconstruction_explorer` returns.

    Attributes: ``layer_set`` (a dropdown of the growing layer sets), ``preset`` (the
    weighting that resets the sliders), ``weight_sliders`` (``{layer: FloatLogSlider}``, the
    w_l; those outside the set are disabled), ``run_button``, ``progress``, ``status``,
    ``image`` (the reconstruction, PNG, updated while it is optimised) and ``target`` (the
    style image). :meth:`values` gives the current choice, :meth:`render` the static picture
    of it, :meth:`run` what the Run button does.
    """

    def __init__(self, style: torch.Tensor, *, steps: int, size: tuple[int, int] | None = None,
                 layers: Sequence[str] = STYLE_LAYERS, config: RunConfig = RunConfig(),
                 preview_every: int | None = None, extractor: VGG19Features | None = None,
                 width: int = 256):
        self.style = validate_image(style, "style")
        self.steps = validate_steps(steps)
        self.size = size
        self.config = config
        self.preview_every = max(1, steps // 10) if preview_every is None else preview_every
        self.all_layers = validate_layer_names(layers)
        self._extractor = extractor
        sets = style_layer_sets(self.all_layers)
        self.layer_set = widgets.Dropdown(options=[(layer_set_label(s), s) for s in sets],
                                          value=sets[-1], description="layers λ",
                                          layout=widgets.Layout(width="max-content"))
        self.preset = widgets.ToggleButtons(options=["equal", "1/N_l²"], value="equal",
                                            description="reset w_l",
                                            tooltips=["the paper's w_l = 1/|λ| (the default)",
                                                      "the PyTorch tutorial's (∝ 1/N_l²)"])
        self.weight_sliders = {
            layer: widgets.FloatLogSlider(value=0.1, base=10, min=-4, max=0, step=0.1,
                                          description=f"w {layer}", readout_format=".2g",
                                          continuous_update=False)
            for layer in self.all_layers}
        self._make_run_controls(width)
        self.target = widgets.Image(value=image_png(style), format="png", width=width)
        self.layer_set.observe(self._reset_weights, names="value")
        self.preset.observe(self._reset_weights, names="value")
        self._reset_weights()
        pictures = widgets.HBox([
            widgets.VBox([widgets.HTML("<b>style image</b>"), self.target]),
            widgets.VBox([widgets.HTML("<b>reconstruction from white noise</b>"),
                          self.image])])
        super().__init__([self.layer_set, self.preset, *self.weight_sliders.values(),
                          widgets.HBox([self.run_button, self.progress, self.status]),
                          pictures])

    def _reset_weights(self, change=None) -> None:
        chosen = self.layer_set.value
        weights = style_layer_weight_presets(chosen)[self.preset.value]
        for layer, slider in self.weight_sliders.items():
            slider.disabled = layer not in chosen
            if layer in chosen:
                slider.value = weights[layer]

    def values(self) -> dict:
        """The current choice: ``{"layers": (...), "layer_weights": {layer: w_l}}``."""
        layers = tuple(self.layer_set.value)
        return {"layers": layers,
                "layer_weights": {layer: float(self.weight_sliders[layer].value)
                                  for layer in layers}}

    def _render_kwargs(self) -> dict:
        if self._extractor is None:  # built once, on the first run, for every layer offered
            self._extractor = build_extractor(self.all_layers, self.config,
                                              self.style.device, progress=False)
        return dict(self.values(), steps=self.steps, size=self.size, config=self.config,
                    extractor=self._extractor)

    def render(self) -> bytes:
        """The static picture of the current choice (:func:`render_style_reconstruction`)."""
        return render_style_reconstruction(self.style, **self._render_kwargs())

    def run(self) -> bytes:
        """Optimise for the current choice, previewing every ``preview_every`` steps."""
        kwargs = self._render_kwargs()
        return self._run_with_preview(
            lambda **preview: render_style_reconstruction(self.style, **kwargs, **preview))


def style_reconstruction_explorer(style: torch.Tensor, *, steps: int,
                                  size: tuple[int, int] | None = None,
                                  layers: Sequence[str] = STYLE_LAYERS,
                                  config: RunConfig = RunConfig(),
                                  preview_every: int | None = None,
                                  extractor: VGG19Features | None = None,
                                  width: int = 256) -> StyleReconstructionExplorer:
    """Choose a style layer set and its weights w_l, press Run, watch the texture appear.

    Args:
        style: (1, 3, H, W) the style image in [0, 1].
        steps: optimiser steps per run (``config`` gives the optimiser, seed, weights).
        size: (H, W) of the reconstruction (default: the style image's).
        layers: the layers the growing sets are built from (the paper's five by default).
        preview_every: show the current image every k steps (default: 10 previews a run).
        extractor: reuse a feature extractor that computes every layer of ``layers``
            (default: one is built on the first run).
        width: display width of the images in pixels.

    Returns:
        A :class:`StyleReconstructionExplorer`; end a notebook cell with it.
    """
    return StyleReconstructionExplorer(style, steps=steps, size=size, layers=layers,
                                       config=config, preview_every=preview_every,
                                       extractor=extractor, width=width)


def render_style_transfer(content: torch.Tensor, style: torch.Tensor, *,
                          ratio: float | None = None, content_layer: str = CONTENT_LAYER,
                          style_layers: Sequence[str] = STYLE_LAYERS, init: str = "content",
                          steps: int, config: TransferConfig = TransferConfig(),
                          extractor: VGG19Features | None = None,
                          preview: Preview | None = None, preview_every: int = 0) -> bytes:
    r"""Paint ``style`` onto ``content`` with :math:`\alpha/\beta` = ``ratio``: PNG bytes.

    β stays at its default (:func:`transfer_loss_weights`, for the run's balance,
    :func:`~nstyle_helpers.transfer.run_balance`) and α = ratio · β, so the ratio is the one
    number that moves; ``None`` takes the default α as well. The w_l are the defaults.

    Args:
        content: (1, 3, H, W) the content image p; style: (1, 3, H', W') the style image a.
        ratio: α/β. content_layer: l_c. style_layers: λ. init: ``"content"`` or ``"noise"``.
        steps: optimiser steps; ``config`` gives the optimiser, seed, pooling and weights.
        extractor: reuse a feature extractor that computes every layer needed.
        preview: called as ``preview(png, progress)`` every ``preview_every`` steps.

    Returns:
        PNG bytes of the result, pixel for pixel.
    """
    height, width = content.shape[-2:]
    defaults = transfer_loss_weights(height, width, content_layer, style_layers,
                                     balance=run_balance(config, extractor))
    alpha = defaults.content_weight if ratio is None else float(ratio) * defaults.style_weight
    chosen = config.replace(steps=steps, content_layer=content_layer,
                            style_layers=tuple(style_layers), init=init,
                            content_weight=alpha, style_weight=defaults.style_weight)
    result = style_transfer(content, style, chosen, extractor=extractor, progress=False,
                            callback=_preview_callback(preview, preview_every))
    return image_png(result.image[0])


#: Where the explorer's "save result" button writes, relative to the notebook's folder
#: (``outputs/`` is git-ignored, as for the command line).
OUTPUT_DIR = Path("outputs")


def uploaded_image(value, *, size: int | None = None) -> tuple[torch.Tensor, str]:
    """The image a student uploaded with an ``ipywidgets.FileUpload``, and its file name.

    Args:
        value: the upload widget's ``value``: a sequence of files, each a mapping with
            ``"name"`` and ``"content"`` (the bytes; ipywidgets 8). The last file counts.
        size: resize to this longer side in pixels, as
            :func:`~nstyle_helpers.core.images.load_image`.

    Returns:
        ``(image, name)``: a (1, 3, H, W) tensor in [0, 1], decoded and checked exactly as a
        file would be (:func:`~nstyle_helpers.core.images.load_image_bytes`), and the file's name.

    Raises:
        ImageError: nothing was uploaded, or the file is not a usable image.
    """
    if not value:
        raise ImageError("Nothing was uploaded; choose an image file with the upload button.")
    upload = value[-1]
    name = str(upload["name"])
    return load_image_bytes(upload["content"], name, size=size), name


def _file_stem(name: str) -> str:
    """A safe file-name stem from an uploaded file's name: letters, digits, ``-`` and ``_``."""
    stem = re.sub(r"[^\w-]+", "_", Path(name).stem).strip("_")
    return stem or "upload"


class StyleTransferExplorer(_RunnerMixin, widgets.VBox):
    """The widget :func:`style_transfer_explorer` returns.

    Attributes: ``ratio`` (a logarithmic α/β slider), ``content_layer``, ``style_layers``
    (relu or conv outputs), ``init`` (content or white noise), ``hint`` (the default ratio
    for the chosen layers), ``uploads`` (``{"content": FileUpload, "style": FileUpload}``: the
    student's own pictures replace the images), ``thumbnails`` (the same keys: the images
    in use), ``content`` and ``style`` (the (1, 3, H, W) tensors in use, uploads included),
    ``run_button``, ``progress``, ``status``, ``image`` (the result, updated while it is
    optimised) and ``save_button`` (writes the last result into ``output_dir``).
    :meth:`values` gives the current choice, :meth:`render` the static picture of it,
    :meth:`run` what the Run button does, :meth:`save` what the save button does.
    """

    def __init__(self, content: torch.Tensor, style: torch.Tensor, *, steps: int,
                 config: TransferConfig = TransferConfig(), preview_every: int | None = None,
                 decades: int = 6, extractor: VGG19Features | None = None, width: int = 320,
                 size: int | None = None, names: tuple[str, str] = ("content", "style"),
                 output_dir: str | Path = OUTPUT_DIR):
        self.content = validate_image(content, "content")
        self.style = validate_image(style, "style")
        self.steps = validate_steps(steps)
        self.config = config
        self.preview_every = max(1, steps // 10) if preview_every is None else preview_every
        self.size = max(self.content.shape[-2:]) if size is None else size
        self.names = {"content": names[0], "style": names[1]}
        self.output_dir = Path(output_dir)
        self._extractor = extractor
        self._result: bytes | None = None
        height, image_width = content.shape[-2:]
        default = transfer_loss_weights(height, image_width,
                                        balance=run_balance(config, extractor)).ratio
        centre = math.floor(math.log10(default))
        self.ratio = widgets.FloatLogSlider(value=default, base=10, min=centre - decades,
                                            max=centre + decades, step=0.25,
                                            description="α/β", readout_format=".1e",
                                            continuous_update=False)
        self.content_layer = widgets.Dropdown(options=list(TRANSFER_CONTENT_LAYERS),
                                              value=CONTENT_LAYER, description="content l_c")
        self.style_layers = widgets.Dropdown(
            options=[("relu1_1 … relu5_1 (after ReLU: the paper's)", STYLE_LAYERS),
                     ("conv1_1 … conv5_1 (before ReLU)", CONV_STYLE_LAYERS)],
            value=STYLE_LAYERS, description="style λ",
            layout=widgets.Layout(width="max-content"))
        self.init = widgets.ToggleButtons(options=list(INITS), value="content",
                                          description="start from")
        self.hint = widgets.HTML()
        self._make_run_controls(width)
        self.save_button = widgets.Button(description="Save result", icon="save",
                                          disabled=True, tooltip=f"write the result into "
                                                                 f"{self.output_dir}/")
        self.save_button.on_click(lambda _button: self._reporting_errors(self.save))
        self.content_layer.observe(self._update_hint, names="value")
        self.style_layers.observe(self._update_hint, names="value")
        self._update_hint()
        self.thumbnails = {role: widgets.Image(value=image_png(picture), format="png",
                                               width=width // 2)
                           for role, picture in (("content", self.content),
                                                 ("style", self.style))}
        self.uploads = {role: widgets.FileUpload(accept="image/*", multiple=False,
                                                 description=f"your {role}",
                                                 tooltip=f"upload your own {role} image")
                        for role in self.thumbnails}
        for role, upload in self.uploads.items():
            upload.observe(lambda change, role=role: self._reporting_errors(
                lambda: self.use_upload(role)), names="value")
        thumbs = [widgets.VBox([widgets.HTML(f"<b>{role}</b>"), self.thumbnails[role],
                                self.uploads[role]])
                  for role in self.thumbnails]
        super().__init__([self.ratio, self.hint, self.content_layer, self.style_layers,
                          self.init, widgets.HBox([self.run_button, self.progress, self.status]),
                          widgets.HBox([widgets.VBox(thumbs),
                                        widgets.VBox([widgets.HTML("<b>result</b>"),
                                                      self.image, self.save_button])])])

    def _update_hint(self, change=None) -> None:
        height, width = self.content.shape[-2:]
        default = transfer_loss_weights(height, width, self.content_layer.value,
                                        self.style_layers.value,
                                        balance=run_balance(self.config, self._extractor)).ratio
        self.hint.value = (f"<small>default α/β for {self.content_layer.value} at "
                           f"{width}×{height} px: {default:.1e} (the paper's 1e-3 is for its "
                           "own network, see the text)</small>")

    def use_upload(self, role: str) -> torch.Tensor:
        """Take the file in ``uploads[role]`` as the ``"content"`` or ``"style"`` image.

        The bytes are decoded and checked as a file would be, resized to a longer side of
        ``size`` pixels and checked against the deepest layer offered; the image, its
        thumbnail and the α/β hint change, and the last result is dropped (it belongs to the
        old images). Nothing is written anywhere. Returns the new (1, 3, H, W) image.
        """
        image, name = uploaded_image(self.uploads[role].value, size=self.size)
        layers = (*TRANSFER_CONTENT_LAYERS, *STYLE_LAYERS) if role == "content" else STYLE_LAYERS
        try:
            validate_image_size(layers, *image.shape[-2:])
        except NstyleError as error:
            raise type(error)(f"{name}: {error}") from None
        image = image.to(self.content.device)
        setattr(self, role, image)
        self.names[role] = _file_stem(name)
        self.thumbnails[role].value = image_png(image)
        self._result = None
        self.save_button.disabled = True
        self._update_hint()
        self.status.value = (f"{role}: {name}, {image.shape[-1]}×{image.shape[-2]} px; "
                             "press Run")
        return image

    def values(self) -> dict:
        """The current choice: ratio, content_layer, style_layers and init."""
        return {"ratio": float(self.ratio.value), "content_layer": self.content_layer.value,
                "style_layers": tuple(self.style_layers.value), "init": self.init.value}

    def _render_kwargs(self) -> dict:
        if self._extractor is None:  # built once, on the first run, for every layer offered
            layers = (*TRANSFER_CONTENT_LAYERS, *STYLE_LAYERS, *CONV_STYLE_LAYERS)
            self._extractor = build_extractor(layers, self.config, self.content.device,
                                              progress=False)
        return dict(self.values(), steps=self.steps, config=self.config,
                    extractor=self._extractor)

    def render(self) -> bytes:
        """The static picture of the current choice (:func:`render_style_transfer`)."""
        return render_style_transfer(self.content, self.style, **self._render_kwargs())

    def run(self) -> bytes:
        """Optimise for the current choice, previewing every ``preview_every`` steps."""
        kwargs = self._render_kwargs()
        content, style = self.content, self.style
        self._result = None  # a failed run must not leave the one before to be saved
        self.save_button.disabled = True
        self._result = self._run_with_preview(
            lambda **preview: render_style_transfer(content, style, **kwargs, **preview))
        self.save_button.disabled = False
        return self._result

    def save(self) -> Path:
        """Write the last result into ``output_dir`` under the first free name
        ``CONTENT_STYLE.png``, ``CONTENT_STYLE-2.png``, ... (never replacing a file, as the
        command line does); returns the path written."""
        if self._result is None:
            raise OutputError("There is no result to save yet; press Run first.")
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"Cannot create the folder {self.output_dir}/ for the result "
                              f"({error.strerror or error}).") from None
        written = save_new_image(png_image(self._result), self.output_dir,
                                 f"{self.names['content']}_{self.names['style']}")
        self.status.value = f"saved {written}"
        return written


def style_transfer_explorer(content: torch.Tensor, style: torch.Tensor, *, steps: int,
                            config: TransferConfig = TransferConfig(),
                            preview_every: int | None = None, decades: int = 6,
                            extractor: VGG19Features | None = None,
                            width: int = 320, size: int | None = None,
                            names: tuple[str, str] = ("content", "style"),
                            output_dir: str | Path = OUTPUT_DIR) -> StyleTransferExplorer:
    """A logarithmic α/β slider, layer choices, a Run button that previews as it optimises,
    upload buttons for your own pictures and a button that saves the result.

    Args:
        content: (1, 3, H, W) the content image; style: (1, 3, H', W') the style image.
        steps: optimiser steps per run (``config`` gives the optimiser, seed, weights).
        preview_every: show the current image every k steps (default: 10 previews a run).
        decades: the slider spans this many decades either side of the default α/β.
        extractor: reuse a feature extractor that computes every layer offered (relu2_2,
            relu3_2, relu4_2, relu5_2, conv4_2, relu*_1, conv*_1); default: one is built on
            the first run.
        width: display width of the result in pixels.
        size: longer side in pixels that uploaded images are resized to (default: the
            content image's longer side, i.e. the notebook's size).
        names: the content's and the style's names for the saved file (uploads use their
            file names).
        output_dir: the folder the save button writes into (created when needed).

    Returns:
        A :class:`StyleTransferExplorer`; end a notebook cell with it.
    """
    return StyleTransferExplorer(content, style, steps=steps, config=config,
                                 preview_every=preview_every, decades=decades,
                                 extractor=extractor, width=width, size=size, names=names,
                                 output_dir=output_dir)
