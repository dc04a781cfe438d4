r"""Figures for the notebooks: image grids, channel and feature maps, loss curves, Gram matrices.

Every function here *draws* and computes nothing of the method itself: the losses, features
and Gram matrices come from the other modules, already computed. Each returns a
:class:`matplotlib.figure.Figure` and never calls ``plt.show()``.

Why the figures are closed before they are returned: the notebooks' inline backend shows
every *open* pyplot figure at the end of a cell, and Jupyter also shows the value of the
cell's last expression, so an open figure would appear twice. A closed figure is shown once,
when the cell ends with it (or by ``display(fig)``); ``fig.savefig(path)`` works as usual.

Tensors may live on any device and may require gradients: they are detached and copied to
the CPU for drawing. Images are (N, 3, H, W), (3, H, W) or (1, 3, H, W) in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ..base.errors import ImageError, SettingsError

__all__ = [
    "show_images",
    "pixel_grid",
    "channel_maps",
    "feature_maps",
    "value_histogram",
    "loss_curves",
    "snapshot_strip",
    "snapshot_movie",
    "gram_heatmap",
]

ImageLike = torch.Tensor | np.ndarray

#: Widest figure, in inches: wider ones are scaled down (keeps notebooks small and readable).
MAX_WIDTH = 10.0


#: Pictures up to this many pixels on their longer side are drawn pixel for pixel (nearest
#: neighbour): they are shown larger than they are, and smooth upscaling would invent detail
#: the optimiser never made, and make each saved figure about three times larger.
PIXELATED_MAX = 256


def _interpolation(picture: np.ndarray) -> str:
    return "nearest" if max(picture.shape[:2]) <= PIXELATED_MAX else "antialiased"


def _fit(width: float, height: float) -> tuple[float, float]:
    scale = min(1.0, MAX_WIDTH / width)
    return width * scale, height * scale


def _figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float],
            **kwargs):
    """A new figure and a 2-D array of axes, already closed (see the module docstring)."""
    import matplotlib.pyplot as plt  # imported here: nothing is set up at import time

    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, **kwargs)
    plt.close(fig)
    return fig, axes


def _bare_figure(*, figsize: tuple[float, float]):
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=figsize)
    plt.close(fig)
    return fig


def _numpy(values: ImageLike) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().float().cpu().numpy()
    return np.asarray(values, dtype=np.float32)


def _image_list(images: ImageLike | Sequence[ImageLike]) -> list[np.ndarray]:
    """Turn a batch or a list of images into a list of (H, W, 3) arrays in [0, 1]."""
    if isinstance(images, (torch.Tensor, np.ndarray)):
        array = _numpy(images)
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4 or array.shape[1] != 3:
            raise ImageError(f"expected images of shape (N, 3, H, W) or (3, H, W), got "
                             f"{tuple(array.shape)}.")
        return [np.clip(a.transpose(1, 2, 0), 0.0, 1.0) for a in array]
    result = []
    for image in images:
        result.extend(_image_list(image))
    return result


def _hide_ticks(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def show_images(images: ImageLike | Sequence[ImageLike], titles: Sequence[str] | None = None,
                *, ncols: int | None = None, size: float = 3.0,
                suptitle: str | None = None):
    """A grid of images, one per axes, with optional titles.

    Args:
        images: an (N, 3, H, W) batch, one (3, H, W) / (1, 3, H, W) image, or a list of
            those; values in [0, 1] (clipped for display).
        titles: one title per image.
        ncols: images per row (default: all in one row, at most 6).
        size: height of one row in inches.

    Returns:
        A figure with one axes per image (unused grid cells are removed).

    Example:
        >>> fig = show_images(torch.rand(3, 3, 8, 8), ["a", "b", "c"])
        >>> len(fig.axes)
        3
    """
    pictures = _image_list(images)
    if not pictures:
        raise SettingsError("show_images needs at least one image.")
    if titles is not None and len(titles) != len(pictures):
        raise SettingsError(f"got {len(titles)} titles for {len(pictures)} images.")
    ncols = ncols or min(len(pictures), 6)
    nrows = math.ceil(len(pictures) / ncols)
    aspect = pictures[0].shape[1] / pictures[0].shape[0]
    fig, axes = _figure(nrows, ncols, figsize=_fit(size * aspect * ncols, size * nrows + 0.4),
                        layout="constrained")
    for k, ax in enumerate(axes.flat):
        if k >= len(pictures):
            ax.remove()
            continue
        ax.imshow(pictures[k], interpolation=_interpolation(pictures[k]))
        _hide_ticks(ax)
        if titles is not None:
            ax.set_title(titles[k])
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def pixel_grid(values: ImageLike, *, title: str | None = None, fmt: str = "{:.0f}",
               cmap: str = "gray", vmin: float | None = None, vmax: float | None = None,
               size: float = 4.0):
    """A small 2-D map x_ij drawn as a picture with each value written on its pixel.

    Args:
        values: (H, W), a few pixels on each side (the numbers must fit).
        fmt: how to write each value, e.g. ``"{:.2f}"`` for values in [0, 1].
        vmin, vmax: the values drawn black and white (default: the array's range).

    Returns:
        A figure with two axes: the picture and its colour bar.
    """
    array = _numpy(values)
    if array.ndim != 2:
        raise ImageError(f"pixel_grid takes a 2-D map (H, W), got shape {tuple(array.shape)}.")
    fig, axes = _figure(figsize=(size * 1.15, size), layout="constrained")
    ax = axes[0, 0]
    low = float(array.min()) if vmin is None else vmin
    high = float(array.max()) if vmax is None else vmax
    shown = ax.imshow(array, cmap=cmap, vmin=low, vmax=high, interpolation="nearest")
    middle = (low + high) / 2
    for (i, j), value in np.ndenumerate(array):
        # Dark text on light pixels, light text on dark ones.
        ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=8,
                color="black" if value > middle else "white")
    ax.set_xticks(range(array.shape[1]))
    ax.set_yticks(range(array.shape[0]))
    ax.set_xlabel("j (column)")
    ax.set_ylabel("i (row)")
    if title:
        ax.set_title(title)
    fig.colorbar(shown, ax=ax, shrink=0.8)
    return fig


def channel_maps(image: ImageLike, *, cmap: str = "gray", size: float = 3.0,
                 show_image: bool = True):
    """The red, green and blue maps x_ij1, x_ij2, x_ij3 of one colour image, side by side.

    Each map is drawn as a grey picture (black = 0, white = 1): a colour image is three grey
    images stacked.

    Args:
        image: (3, H, W) or (1, 3, H, W) in [0, 1].
        show_image: also draw the colour image first.

    Returns:
        A figure with 3 axes (R, G, B), or 4 with the colour image first.
    """
    (picture,) = _image_list(image[:1] if getattr(image, "ndim", 0) == 4 else image)
    panels = ([("colour image", picture, None)] if show_image else []) + [
        (f"{name}: $x_{{ij{k + 1}}}$", picture[:, :, k], cmap)
        for k, name in enumerate(("red", "green", "blue"))]
    aspect = picture.shape[1] / picture.shape[0]
    fig, axes = _figure(1, len(panels), figsize=_fit(size * aspect * len(panels), size + 0.4),
                        layout="constrained")
    for ax, (title, data, colours) in zip(axes.flat, panels):
        ax.imshow(data, cmap=colours, vmin=0.0, vmax=1.0)
        ax.set_title(title)
        _hide_ticks(ax)
    return fig


def feature_maps(features: ImageLike, count: int = 8, *, indices: Sequence[int] | None = None,
                 layer: str | None = None, annotate: bool | None = None, size: float = 2.0,
                 cmap: str = "viridis"):
    r"""Some feature maps of one layer as 2-D grids, and the same maps as rows of F^l.

    The top row draws maps i (each H_l × W_l); the bottom strip draws the matrix
    F^l (N_l × M_l, M_l = H_l·W_l) restricted to those maps: row i is map i stretched into a
    vector, read row by row, so F^l_ij is the value at position j of map i.

    Args:
        features: (C, H, W) or (1, C, H, W), e.g. ``extractor(image)["relu1_2"]``.
        count: how many maps to draw (the first ``count``), unless ``indices`` are given.
        layer: the layer name, for the titles.
        annotate: write the values on the cells (default: only when a map has at most
            64 positions, e.g. a small teaching example).

    Returns:
        A figure with ``count + 1`` axes: one per map, then the flattened strip.
    """
    array = _numpy(features)
    if array.ndim == 4:
        array = array[0]
    if array.ndim != 3:
        raise ImageError(f"feature_maps takes (C, H, W) or (1, C, H, W), got "
                         f"{tuple(array.shape)}.")
    chosen = list(indices) if indices is not None else list(range(min(count, array.shape[0])))
    maps = array[chosen]  # (k, H, W)
    flat = maps.reshape(len(chosen), -1)  # (k, H*W): the rows of F^l
    annotate = maps[0].size <= 64 if annotate is None else annotate
    low, high = float(maps.min()), float(maps.max())
    name = f"{layer} " if layer else ""
    aspect = maps.shape[2] / maps.shape[1]
    fig = _bare_figure(figsize=_fit(max(size * aspect * len(chosen), 6.0), size * 1.9 + 0.8))
    grid = fig.add_gridspec(2, len(chosen), height_ratios=[1.0, 0.8])
    for k, i in enumerate(chosen):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(maps[k], cmap=cmap, vmin=low, vmax=high, interpolation="nearest")
        if annotate:
            _write_values(ax, maps[k], (low + high) / 2)
        ax.set_title(f"{name}map {i}", fontsize=9)
        _hide_ticks(ax)
    strip = fig.add_subplot(grid[1, :])
    strip.imshow(flat, cmap=cmap, vmin=low, vmax=high, aspect="auto", interpolation="nearest")
    if annotate and flat.size <= 256:
        _write_values(strip, flat, (low + high) / 2)
    strip.set_yticks(range(len(chosen)), [f"i={i}" for i in chosen])
    strip.set_xlabel(f"j = position in the map, read row by row (M = {flat.shape[1]})")
    strip.set_title(f"the same maps as rows of $F^l$ (shown: {len(chosen)} of "
                    f"N = {array.shape[0]} rows)", fontsize=10)
    fig.set_layout_engine("constrained")
    return fig


def _write_values(ax, values: np.ndarray, middle: float) -> None:
    for (i, j), value in np.ndenumerate(values):
        ax.text(j, i, f"{value:.3g}", ha="center", va="center", fontsize=7,
                color="black" if value > middle else "white")


def value_histogram(values: ImageLike | Mapping[str, ImageLike], *, bins: int = 64,
                    value_range: tuple[float, float] | None = (0.0, 1.0),
                    title: str | None = None, size: float = 3.0):
    """Histogram of the values of one tensor, or of several (``{label: tensor}``) overlaid.

    Returns:
        A figure with one axes.
    """
    series = dict(values) if isinstance(values, Mapping) else {None: values}
    fig, axes = _figure(figsize=(size * 1.8, size), layout="constrained")
    ax = axes[0, 0]
    for label, data in series.items():
        ax.hist(_numpy(data).ravel(), bins=bins, range=value_range, alpha=0.6,
                label=label, histtype="stepfilled")
    if any(label is not None for label in series):
        ax.legend()
    ax.set_xlabel("value")
    ax.set_ylabel("number of values")
    if title:
        ax.set_title(title)
    return fig


def loss_curves(history: Mapping[str, torch.Tensor], names: Sequence[str] | None = None, *,
                labels: Sequence[str] | None = None, log: bool = True,
                highlight: int | None = None, size: float = 3.0):
    """Loss against step, one axes per loss term, one line per image of the batch.

    Args:
        history: ``OptimizationResult.history``: ``{name: (steps + 1, N) tensor}``.
        names: the terms to draw (default: ``"total"``, and every other term if there are
            several, e.g. content and style; every term if there is no ``"total"``).
        labels: one label per batch item (e.g. the layer names), for the legend.
        log: logarithmic loss axis (losses fall over several decades).
        highlight: draw batch item ``highlight`` thick and the others faint.

    Returns:
        A figure with one axes per name.
    """
    if names is None:
        others = [name for name in history if name != "total"]
        if "total" not in history:
            names = others
        else:
            names = ["total"] + (others if len(others) > 1 else [])
    missing = [name for name in names if name not in history]
    if missing:
        raise SettingsError(f"no loss term {missing[0]!r} in the history; it has "
                         f"{', '.join(history)}.")
    fig, axes = _figure(1, len(names), figsize=_fit(size * 1.6 * len(names), size),
                        layout="constrained")
    for ax, name in zip(axes.flat, names):
        curves = _numpy(history[name])
        curves = curves.reshape(curves.shape[0], -1)  # (steps + 1, N)
        for n in range(curves.shape[1]):
            label = labels[n] if labels is not None else (f"image {n}" if curves.shape[1] > 1
                                                          else None)
            faint = highlight is not None and n != highlight
            ax.plot(np.arange(curves.shape[0]), curves[:, n], label=label,
                    linewidth=1.0 if faint else 2.0, alpha=0.3 if faint else 1.0,
                    color=f"C{n % 10}")
        if log and (curves > 0).any():
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(name)
        if labels is not None or curves.shape[1] > 1:
            ax.legend(fontsize=8)
    return fig


def snapshot_strip(snapshots: Sequence[tuple[int, torch.Tensor]], index: int = 0, *,
                   ncols: int | None = None, size: float = 2.2):
    """The images kept by ``optimize(..., snapshot_every=k)``, captioned with their step.

    Args:
        snapshots: ``OptimizationResult.snapshots``: ``[(step, (N, 3, H, W)), ...]``.
        index: which image of the batch to follow.

    Returns:
        A figure with one axes per snapshot.
    """
    if not snapshots:
        raise SettingsError("there are no snapshots; run optimize(..., snapshot_every=k).")
    images = [batch[index] for _, batch in snapshots]
    titles = [f"step {step}" for step, _ in snapshots]
    return show_images(images, titles, ncols=ncols or min(len(images), 8), size=size)


def snapshot_movie(snapshots: Sequence[tuple[int, torch.Tensor]], index: int = 0, *,
                   size: int | None = None, max_frames: int | None = None,
                   width: int | None = None):
    """The images kept by ``optimize(..., snapshot_every=k)`` as an animated GIF, looping.

    The one display object here that is not a matplotlib figure: an
    ``IPython.display.Image`` holding the GIF of :func:`~nstyle_helpers.teaching.movie.gif_bytes`,
    shown inline when a notebook cell ends with it (JupyterLab, GitHub and nbviewer all
    play GIFs). :func:`snapshot_strip` draws the same snapshots as a static figure.

    Args:
        snapshots: ``OptimizationResult.snapshots``: ``[(step, (N, 3, H, W)), ...]``.
        index: which image of the batch to follow.
        size: longer side of the frames in pixels (default: the snapshots' own); smaller
            frames keep a saved notebook small.
        max_frames: at most this many frames, evenly spread, with the first and the last.
        width: display width in pixels (default: the frames' own).
    """
    from IPython.display import Image  # imported here: nothing is set up at import time

    from .movie import gif_bytes

    return Image(data=gif_bytes(snapshots, index, size=size, max_frames=max_frames),
                 format="gif", width=width)


def _square_matrix(gram: ImageLike, caller: str) -> np.ndarray:
    # (C, C) or (1, C, C) → a (C, C) array.
    array = _numpy(gram)
    if array.ndim == 3:
        array = array[0]
    if array.ndim != 2 or array.shape[0] != array.shape[1]:
        raise ImageError(f"{caller} takes a square (C, C) matrix, got {tuple(array.shape)}.")
    return array


def gram_heatmap(gram: ImageLike, *, title: str | None = None, cmap: str = "viridis",
                 size: float = 4.0):
    """A Gram matrix G^l (N_l × N_l) as a heat map.

    Args:
        gram: (C, C) or (1, C, C), e.g. ``gram_matrix(features)[0]``.

    Returns:
        A figure with two axes: the heat map and its colour bar.
    """
    array = _square_matrix(gram, "gram_heatmap")
    fig, axes = _figure(figsize=(size * 1.2, size), layout="constrained")
    ax = axes[0, 0]
    shown = ax.imshow(array, cmap=cmap, interpolation="nearest")
    ax.set_xlabel("j (feature map)")
    ax.set_ylabel("i (feature map)")
    ax.set_title(title or f"Gram matrix ({array.shape[0]} × {array.shape[0]})")
    fig.colorbar(shown, ax=ax, shrink=0.8)
    return fig


# --------------------------------------------------------------------------------------------
# Figures of notebooks 03 and 04: a labelled grid (the paper's Fig. 3), runs compared
# against steps and wall time, and a small Gram matrix with its numbers written on it.

__all__ += ["image_grid", "compare_runs", "gram_table"]


def image_grid(images: ImageLike | Sequence[ImageLike], row_labels: Sequence[str],
               col_labels: Sequence[str], *, size: float = 2.2, row_title: str | None = None,
               col_title: str | None = None, suptitle: str | None = None):
    """Images in a grid with a label for every row and every column (the paper's Fig. 3).

    Args:
        images: R · C images in row-major order (row 0 first): an (R·C, 3, H, W) batch or a
            list of images.
        row_labels: R labels, written left of the rows; col_labels: C labels, above.
        row_title, col_title: what the rows and columns vary, e.g. ``"content layer"``.
        size: height of one row in inches.

    Returns:
        A figure with R · C axes.

    Example:
        >>> fig = image_grid(torch.rand(6, 3, 8, 8), ["a", "b"], ["1", "2", "3"])
        >>> len(fig.axes)
        6
    """
    pictures = _image_list(images)
    rows, cols = len(row_labels), len(col_labels)
    if len(pictures) != rows * cols:
        raise SettingsError(f"got {len(pictures)} images for a grid of {rows} rows × {cols} "
                         f"columns ({rows * cols} images).")
    aspect = pictures[0].shape[1] / pictures[0].shape[0]
    fig, axes = _figure(rows, cols,
                        figsize=_fit(size * aspect * cols + 0.6, size * rows + 0.6),
                        layout="constrained")
    for k, ax in enumerate(axes.flat):
        ax.imshow(pictures[k], interpolation=_interpolation(pictures[k]))
        _hide_ticks(ax)
        row, col = divmod(k, cols)
        if row == 0:
            ax.set_title(col_labels[col], fontsize=9)
        if col == 0:
            ax.set_ylabel(row_labels[row], fontsize=9)
    if row_title:
        fig.supylabel(row_title)
    if col_title or suptitle:
        fig.suptitle(" — ".join(t for t in (suptitle, col_title) if t))
    return fig


def compare_runs(results: Mapping[str, object], *, term: str = "total",
                         index: int = 0, size: float = 3.0):
    """One loss term of several runs against steps and against wall-clock seconds.

    E.g. L-BFGS against Adam, or noise against content initialisation.

    Args:
        results: ``{label: OptimizationResult}``, e.g. ``{"L-BFGS": a, "Adam": b}``.
        term: the loss term to draw (a key of ``result.history``).
        index: which image of each batch.

    The time axis spreads ``result.seconds`` evenly over the steps: every step costs one
    loss evaluation for both optimisers here (L-BFGS without line search), so the steps of
    one run take about equally long; the set-up before the first step is not counted.

    Returns:
        A figure with two axes: loss against step, loss against seconds (log loss axis).
    """
    if not results:
        raise SettingsError("compare_runs needs at least one result.")
    fig, axes = _figure(1, 2, figsize=(size * 3.2, size), layout="constrained")
    by_step, by_time = axes[0]
    for n, (label, result) in enumerate(results.items()):
        if term not in result.history:
            raise SettingsError(f"no loss term {term!r} in the history of {label!r}; it has "
                             f"{', '.join(result.history)}.")
        curve = _numpy(result.history[term])
        curve = curve.reshape(curve.shape[0], -1)[:, index]
        steps = np.arange(curve.shape[0])
        seconds = steps * (result.seconds / max(curve.shape[0] - 1, 1))
        by_step.plot(steps, curve, label=label, color=f"C{n % 10}")
        by_time.plot(seconds, curve, label=f"{label} ({result.seconds:.1f} s)",
                     color=f"C{n % 10}")
    for ax, xlabel in ((by_step, "step"), (by_time, "seconds")):
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"loss ({term})")
        ax.legend(fontsize=8)
    by_step.set_title("against steps")
    by_time.set_title("against wall-clock time")
    return fig


def gram_table(gram: ImageLike, names: Sequence[str] | None = None, *,
               title: str | None = None, fmt: str = "{:.3g}", cmap: str = "viridis",
               size: float = 3.2):
    """A small Gram matrix as a heat map with every entry written on it.

    For teaching examples of a few maps; :func:`gram_heatmap` draws large ones.

    Args:
        gram: (C, C) or (1, C, C).
        names: a name for each feature map i (default ``map 0``, ``map 1``, ...).
        fmt: how to write each entry.

    Returns:
        A figure with two axes: the heat map and its colour bar.
    """
    array = _square_matrix(gram, "gram_table")
    names = list(names) if names is not None else [f"map {i}" for i in range(array.shape[0])]
    fig, axes = _figure(figsize=(size * 1.25, size), layout="constrained")
    ax = axes[0, 0]
    shown = ax.imshow(array, cmap=cmap, interpolation="nearest")
    middle = (float(array.min()) + float(array.max())) / 2
    for (i, j), value in np.ndenumerate(array):
        ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=9,
                color="black" if value > middle else "white")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("j")
    ax.set_ylabel("i")
    ax.set_title(title or "$G_{ij} = \\langle F_i, F_j \\rangle$")
    fig.colorbar(shown, ax=ax, shrink=0.8)
    return fig
