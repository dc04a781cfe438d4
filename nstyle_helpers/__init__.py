"""nstyle_helpers: the helper package of the nstyle notebooks (Gatys et al., neural style).

The package in six folders by concept and audience, and the style transfer and command line
above them. Each module imports only modules listed above it in this table (at the top of the
file or inside a function: ``tests/test_layers.py`` parses every import), so there is no import
cycle and this table is the map of the package (``docs/DESIGN.md`` draws it):

===================================  ======================================================
**base/**: plumbing every layer uses
``base.version``                     the package's version, in one place
``base.errors``                      the exceptions for bad input, one clear sentence each
``base.environment``                 every environment variable read (NSTYLE_*, TQDM_DISABLE)
``base.validation``                  input checks shared by the library and the command line
``base.devices``                     CUDA, then MPS, then CPU; overridable
**core/**: the paper's pipeline
``core.images``                      files ↔ (N, 3, H, W) tensors in [0, 1]; white noise
``core.examples``                    the example images by name (manifest, download, sha256)
``core.weights``                     where VGG19's weights come from (torchvision, file, random)
``core.features``                    VGG19 layer names and the frozen, truncated extractor
``core.memory``                      will a run fit: its peak memory, refused before it starts
``core.losses``                      the paper's losses as pure functions
``core.objective``                   features + losses + weights → named loss terms
``core.lbfgs``                       L-BFGS for a batch of independent problems
``core.optimize``                    one Adam / L-BFGS loop: history, snapshots, progress bar
``core.defaults``                    default settings for torchvision's weights, derived
**accel/**: speed, same results
``accel.winograd``                   3×3 convolutions with Winograd's algorithm on a CPU
``accel.acceleration``               bfloat16 / channels_last on a GPU, Winograd on a CPU
**controls/**: beyond the paper
``controls.color``                   colour preservation: YIQ, luminance-only, histograms
``controls.multistyle``              several styles blended, style scale, spatial masks
``controls.multiscale``              coarse-to-fine optimisation for high resolutions
**the one entry point**
``transfer``                         style transfer with every control; the reconstructions
**teaching/**: what the notebooks show
``teaching.session``                 what a notebook runs with (device, weights, quick mode)
``teaching.lessons``                 each notebook's sizes and step counts
``teaching.movie``                   the optimisation as an animated GIF, written whole
``teaching.display``                 matplotlib figures (compute nothing, return figures)
``teaching.widgets``                 ipywidgets built from pure render functions
**classroom/**: assignments and grading
``classroom.marks``                  partial credit of a graded cell, CheckFailed's message
``classroom.checks.common``          what every check shares (shapes, mistakes, loops)
``classroom.checks.a1``              assignment 1's checks (pixels, content)
``classroom.checks.a2``              assignment 2's checks (Gram matrix, style)
``classroom.checks.a3``              assignment 3's checks (TV, combined loss, the loop)
``classroom.checks``                 the checks the notebooks use, from the three above
``classroom.integrity``              graded cells check with the package's own code
``classroom.submissions``            who handed in what: students and assignments of files
``classroom.grading``                grading submissions without nbgrader
``classroom.assignments``            the student versions, and the build / grade commands
``classroom.__main__``               ``python -m nstyle_helpers.classroom build|grade``
**the command line**
``cli``                              ``nstyle transfer|reconstruct|info``
``__main__``                         the ``nstyle`` command and ``python -m nstyle_helpers``
===================================  ======================================================

Nothing heavy runs at import: ``import nstyle_helpers`` does not even import torch; each public
name loads its module when first used, and no network is built until asked.

**The public API** is what ``__all__`` exports, the top level a student uses
(``nh.load_image``, ``nh.style_transfer``, ...), and the modules in :data:`PUBLIC_MODULES`,
which the notebooks import as namespaces (``from nstyle_helpers import display, widgets``).
Everything else is the package's own; ``tests/test_api.py`` fails when a notebook, the README
or a guide reaches past the public API.
"""

import importlib

from .base.version import __version__

#: Where each name of ``__all__`` lives. ``nh.NAME`` imports its module on first use, so
#: ``import nstyle_helpers`` stays light (no torch): the command line answers a Ctrl-C in one
#: line from its first instant, and ``classroom build`` needs no torch at all.
_NAMES = {
    "base.errors": ("DeviceError", "DivergedError", "ImageError", "ImageTooSmallError",
                    "LayerError", "MaskError", "NstyleError", "OutputError", "SettingsError",
                    "WeightsError"),
    "base.devices": ("resolve_device",),
    "core.images": ("load_image", "load_image_bytes", "resize", "save_image", "to_pil",
                    "white_noise"),
    "core.examples": ("example_image_path", "example_names"),
    "core.features": ("CONTENT_LAYER", "CONTENT_LAYERS_FIG1", "STYLE_LAYERS", "VGG19_LAYERS",
                      "VGG19Features", "feature_shape", "style_layer_sets"),
    "core.losses": ("combined_loss", "content_loss", "gram_matrix", "pixel_loss",
                    "style_layer_loss", "total_variation"),
    "core.objective": ("Objective",),
    "core.optimize": ("OptimizationResult", "optimize"),
    "core.defaults": ("default_size", "default_steps", "quick_mode", "quick_or",
                      "tutorial_equivalent_weights"),
    # beyond the paper
    "controls.color": ("combine_luminance", "match_color_histogram", "rgb_to_yiq", "yiq_to_rgb"),
    "controls.multistyle": ("MultiStyleObjective", "guided_gram_matrix"),
    "controls.multiscale": ("MultiScaleResult", "coarse_to_fine"),
    "transfer": ("RunConfig", "TransferConfig", "build_extractor", "reconstruct_content",
                 "reconstruct_style", "style_transfer", "transfer_loss_weights"),
    "teaching.session": ("describe_session",),
    "classroom.integrity": ("graded_checks",),
}
_MODULE_OF = {name: module for module, names in _NAMES.items() for name in names}
__all__ = list(_MODULE_OF)

#: The modules notebooks and guides import as namespaces (``from nstyle_helpers import
#: display``), beside the names in ``__all__``, and where each lives. They load when first used.
PUBLIC_MODULES = {
    "checks": "classroom.checks",
    "color": "controls.color",
    "display": "teaching.display",
    "lessons": "teaching.lessons",
    "multiscale": "controls.multiscale",
    "multistyle": "controls.multistyle",
    "widgets": "teaching.widgets",
}


def __getattr__(name: str):
    # A public name or module, imported on first use and kept (module __getattr__, PEP 562).
    if name in _MODULE_OF:
        value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    elif name in PUBLIC_MODULES:
        value = importlib.import_module(f"{__name__}.{PUBLIC_MODULES[name]}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # What Jupyter completes after ``nh.``: every public name, loaded or not.
    return sorted(set(globals()) | set(__all__) | set(PUBLIC_MODULES))
