"""nstyle_helpers: the helper package of the nstyle notebooks (Gatys et al., neural style).

The pipeline, one module per concept, each depending only on those above it:

================  ==============================================================
``version``       the package's version, in one place
``errors``        the exceptions for bad input, one clear sentence each
``environment``   every environment variable the package reads (NSTYLE_*, TQDM_DISABLE)
``validation``    input checks shared by the library and the command line
``devices``       CUDA, then MPS, then CPU; overridable
``images``        files ↔ (N, 3, H, W) tensors in [0, 1]; white noise
``examples``      the example images by name (manifest, download, sha256, cache)
``weights``       where VGG19's weights come from (torchvision, a file, random)
``features``      VGG19 layer names and the frozen, truncated feature extractor
``memory``        will a run fit: its peak memory estimated, refused before it starts
``winograd``      3×3 convolutions with Winograd's algorithm on a CPU (NNPACK)
``acceleration``  the extractor in bfloat16 / channels_last on a GPU, Winograd on a CPU
``losses``        the paper's losses as pure functions
``objective``     features + losses + weights → named loss terms for a batch
``lbfgs``         L-BFGS for a batch of independent problems: a memory per image
``optimize``      one Adam / L-BFGS loop with history, snapshots, progress bar
``defaults``      default settings for torchvision's weights, and their derivation
``color``         colour preservation: YIQ, luminance-only transfer, histogram matching
``multistyle``    several styles blended, style scale, spatial masks (guided Grams)
``multiscale``    coarse-to-fine optimisation for high resolutions
``transfer``      style transfer (with every control above) and the reconstructions
``session``       what a notebook runs with (device, weights, precision, quick mode)
``lessons``       each notebook's sizes and step counts (its cost table states them)
``movie``         the optimisation as an animated GIF (snapshots → frames), written whole
``display``       matplotlib figures (compute nothing, return figures)
``widgets``       ipywidgets built from pure render functions
``marks``         partial credit of a graded cell, and the short CheckFailed message
``checks``        assignment checks: a student's function against the reference
``integrity``     graded cells check with the package's own code, whatever a cell changed
``grading``       grading submissions without nbgrader (hidden tests put back, run, scored)
``assignments``   student versions of the assignment notebooks, and the grade command
``cli``           the command line
``__main__``      ``python -m nstyle_helpers``, the same command line
================  ==============================================================

Nothing heavy runs at import: no network is built and no weights are loaded until asked.

**The public API** is what ``__all__`` exports, the top level a student uses
(``nh.load_image``, ``nh.style_transfer``, ...), and the modules in :data:`PUBLIC_MODULES`,
which the notebooks import as namespaces (``from nstyle_helpers import display, widgets``).
Everything else is the package's own; ``tests/test_api.py`` fails when a notebook, the README
or a guide reaches past the public API.
"""

from .defaults import default_size, default_steps, quick_mode, quick_or, tutorial_equivalent_weights
from .devices import resolve_device
from .errors import (DeviceError, DivergedError, ImageError, ImageTooSmallError, LayerError,
                     MaskError, NstyleError, OutputError, SettingsError, WeightsError)
from .examples import example_image_path, example_names
from .features import (CONTENT_LAYER, CONTENT_LAYERS_FIG1, STYLE_LAYERS, VGG19_LAYERS,
                       VGG19Features, feature_shape, style_layer_sets)
from .images import load_image, load_image_bytes, resize, save_image, to_pil, white_noise
from .losses import (combined_loss, content_loss, gram_matrix, pixel_loss, style_layer_loss,
                     total_variation)
from .objective import Objective
from .optimize import OptimizationResult, optimize
from .transfer import (RunConfig, TransferConfig, build_extractor, reconstruct_content,
                       reconstruct_style, style_transfer, transfer_loss_weights)
from .color import combine_luminance, match_color_histogram, rgb_to_yiq, yiq_to_rgb
from .multistyle import MultiStyleObjective, guided_gram_matrix
from .multiscale import MultiScaleResult, coarse_to_fine
from .session import describe_session
from .integrity import graded_checks
from . import lessons
from .version import __version__


#: The modules notebooks and guides import as namespaces, beside the names in ``__all__``.
PUBLIC_MODULES = ("checks", "color", "display", "lessons", "multiscale", "multistyle",
                  "widgets")

__all__ = [
    "CONTENT_LAYER", "CONTENT_LAYERS_FIG1", "STYLE_LAYERS", "VGG19_LAYERS",
    "DeviceError", "DivergedError", "ImageError", "ImageTooSmallError", "LayerError",
    "NstyleError", "OutputError", "SettingsError", "WeightsError",
    "Objective", "OptimizationResult", "RunConfig", "TransferConfig", "VGG19Features",
    "build_extractor", "default_size", "default_steps", "describe_session", "graded_checks",
    "transfer_loss_weights",
    "combined_loss", "content_loss", "example_image_path", "example_names", "feature_shape",
    "gram_matrix", "load_image", "load_image_bytes", "optimize", "pixel_loss", "quick_mode",
    "quick_or",
    "reconstruct_content", "reconstruct_style", "resize", "resolve_device", "save_image",
    "style_layer_loss", "style_layer_sets", "style_transfer", "to_pil", "total_variation",
    "tutorial_equivalent_weights", "white_noise",
    # beyond the paper
    "MaskError", "MultiScaleResult", "MultiStyleObjective", "coarse_to_fine",
    "combine_luminance", "guided_gram_matrix", "match_color_histogram",
    "rgb_to_yiq", "yiq_to_rgb",
]
