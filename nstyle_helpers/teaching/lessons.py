"""Each tutorial notebook's image sizes and step counts, in one place.

A notebook reads its settings with ``lessons.settings("02", device)`` in its first code cell,
and its header's cost table states the same numbers: ``tests/test_lessons.py`` checks that the
two agree (a column headed ``size`` states :attr:`size`, and so on). Each notebook has three
settings: a CPU, a GPU and quick mode (``NSTYLE_QUICK=1``, read through
:func:`~nstyle_helpers.core.defaults.quick_or`: tiny images and a few steps, for the tests).

Why the CPU settings are what they are: every notebook must finish within ten minutes on a
quiet 2-core CPU. Notebook 02 at 192 px with 200 L-BFGS steps on its five images took
7.5 minutes there; a step costs time in proportion to the pixels of the whole batch, so the
batched runs of 02 and 03 use 160 px (0.7 × the pixels) and notebook 04's comparisons 128 px.
On a GPU the notebooks keep the larger settings.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.defaults import CPU_SIZE, GPU_SIZE, GPU_STEPS, quick_or

__all__ = ["ImagesAsTensors", "PixelReconstruction", "ContentReconstruction",
           "StyleReconstruction", "StyleTransfer", "ControllingTheResult", "Lesson", "LESSONS",
           "settings"]


@dataclass(frozen=True)
class ImagesAsTensors:
    """00: no network runs; only the images' sizes."""

    size: int                 #: longer side of the images we look at, in pixels
    sizes: tuple[int, ...]    #: the resizing demo
    vector_size: int          #: the image stretched into the rows of a matrix


@dataclass(frozen=True)
class PixelReconstruction:
    """01: gradient descent and Adam on the pixel loss."""

    size: int             #: longer side of the target image
    gd_steps: int         #: plain gradient descent steps
    adam_steps: int       #: Adam steps
    snapshot_every: int   #: keep a picture every k Adam steps


@dataclass(frozen=True)
class ContentReconstruction:
    """02: five content reconstructions in one batch."""

    size: int    #: longer side of the content image
    steps: int   #: L-BFGS steps of the batched run


@dataclass(frozen=True)
class StyleReconstruction:
    """03: five style reconstructions in one batch, and a widget."""

    size: int           #: longer side of the style image
    steps: int          #: L-BFGS steps of the batched run
    widget_steps: int   #: steps per press of the widget's Run button


@dataclass(frozen=True)
class StyleTransfer:
    """04: one main run, then comparisons on smaller images."""

    size: int                      #: main run: longer side
    steps: int                     #: main run: L-BFGS steps
    small: int                     #: the comparisons' longer side
    lbfgs_steps: int               #: steps per comparison run and batch (grid, conv/relu)
    widget_steps: int              #: steps per press of the widget's Run button
    grid_layers: tuple[str, ...]   #: the grid's rows: content layers


@dataclass(frozen=True)
class ControllingTheResult:
    """05: about fifteen runs, one per control."""

    size: int                      #: longer side of the content image
    scale_size: int                #: section 3's images (style scale 0.5 halves the style)
    steps: int                     #: L-BFGS steps per run (the total-variation batch too)
    scales: tuple[int, ...]        #: coarse-to-fine sizes
    scale_steps: tuple[int, ...]   #: L-BFGS steps per coarse-to-fine stage


@dataclass(frozen=True)
class Lesson:
    """One notebook's settings on a CPU, on a GPU and in quick mode (all of one type)."""

    cpu: object
    gpu: object
    quick: object


_GRID_ROWS = ("relu2_2", "relu4_2")

#: The settings of every tutorial notebook, by its number.
LESSONS: dict[str, Lesson] = {
    "00": Lesson(cpu=ImagesAsTensors(192, (32, 64, 192), 24),
                 gpu=ImagesAsTensors(192, (32, 64, 192), 24),
                 quick=ImagesAsTensors(48, (16, 32, 48), 16)),
    "01": Lesson(cpu=PixelReconstruction(256, 30, 300, 10),
                 gpu=PixelReconstruction(256, 30, 300, 10),
                 quick=PixelReconstruction(32, 5, 10, 2)),
    "02": Lesson(cpu=ContentReconstruction(160, 200),
                 gpu=ContentReconstruction(512, 500),
                 quick=ContentReconstruction(32, 3)),
    "03": Lesson(cpu=StyleReconstruction(160, 200, 100),
                 gpu=StyleReconstruction(512, 500, 300),
                 quick=StyleReconstruction(32, 5, 3)),
    # The main run at the command line's CPU size, with 200 instead of its 300 steps.
    "04": Lesson(cpu=StyleTransfer(CPU_SIZE, 200, 128, 150, 60, _GRID_ROWS),
                 gpu=StyleTransfer(GPU_SIZE, GPU_STEPS, 384, 300, 200,
                                   ("relu2_2", "relu3_2", "relu4_2", "relu5_2")),
                 quick=StyleTransfer(32, 5, 32, 5, 4, _GRID_ROWS)),
    "05": Lesson(cpu=ControllingTheResult(160, 160, 100, (80, 160), (100, 50)),
                 gpu=ControllingTheResult(512, 512, 300, (256, 512), (200, 100)),
                 quick=ControllingTheResult(48, 64, 3, (32, 48), (4, 2))),
}


def settings(notebook: str, device: torch.device):
    """Notebook ``notebook``'s settings for ``device``, or its quick ones in quick mode.

    >>> settings("02", torch.device("cuda")) in (LESSONS["02"].gpu, LESSONS["02"].quick)
    True
    """
    lesson = LESSONS[notebook]
    return quick_or(lesson.cpu if device.type == "cpu" else lesson.gpu, lesson.quick)
