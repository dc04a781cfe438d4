r"""Checks for the assignment notebooks: run a student's function, compare it, explain.

Each ``check_*`` function runs a student's function on small seeded inputs, compares the
result with the reference implementation (:mod:`nstyle_helpers.core.losses`, or the small
references in :mod:`.a1` and :mod:`.a3` for the exercises that are not losses) and either
prints one line (``✓ gram_matrix matches the paper's formula ...``) or raises
:class:`CheckFailed`. That is an :class:`AssertionError`, so a failing check fails its
notebook cell for the student, for nbgrader's autograder and for nbval alike.

Inputs are float64, the tolerance is :data:`TOLERANCE` (relative 1e-6). What is checked, in
this order, and what a failure message says:

1. the function raises: not written yet (``NotImplementedError``), ``.numpy()`` on a tensor
   that requires grad, an in-place operation on a leaf, a missing ``.requires_grad_()``;
2. it changes one of its inputs in place (values or PyTorch's version counter);
3. it returns no tensor (``.item()``, ``float()``, ``.numpy()``, a forgotten ``return``) or
   the wrong shape, with a hint (which dimensions to sum over; F Fᵀ against Fᵀ F; ...);
4. its values differ. Known mistakes are recognised by computing them: the ½ forgotten, a
   mean for a sum, the Gram matrix divided by N·M, α and β swapped, no ``zero_grad()``, ...
   Any other constant factor is named as a ratio;
5. its result is cut off from autograd (no ``grad_fn``), or its gradient differs (part of
   the computation detached);
6. it loops in Python where one vectorised expression does.

How loops are detected (6): :func:`count_torch_calls` counts the PyTorch operations the
function performs (through a ``TorchFunctionMode``), on a small input and on a larger one. A
vectorised expression performs the same few operations whatever the size; a Python loop over
channels or pixels performs more on the larger input. Counting is exact and independent of
the machine's speed, so it gives the same answer on a loaded 2-core laptop as on a GPU
server, where timing against the reference would need a factor so generous that it misses
small loops, or would fail at random. The larger input has more images too, so a loop over
the batch is a loop as well: the assignments ask for none.

Every check takes the student's function and, optionally, the Marks of its graded cell.
Without Marks it raises CheckFailed at the first failure (a student's own call, and
:func:`yours_or_reference`); with Marks each part (values, gradient, no Python loop, ...) is
recorded on its own, so the parts that work still earn their share of the points.

One module per assignment (:mod:`.a1`, :mod:`.a2`, :mod:`.a3`), and :mod:`.common` for the
steps every check shares; this package's namespace is what the notebooks use
(``from nstyle_helpers import checks``).
"""

from ..marks import CheckFailed, Marks, expect, full_traceback
from .common import TOLERANCE, count_torch_calls, yours_or_reference
from .a1 import check_content_loss, check_gradient_step, check_pixel_loss, reference_gradient_step
from .a2 import check_gram_matrix, check_style_loss
from .a3 import (check_combined_loss, check_optimization_loop, check_total_variation,
                 reference_combined_loss, reference_optimize_image)

__all__ = [
    "TOLERANCE",
    "CheckFailed",
    "Marks",
    "expect",
    "full_traceback",
    "count_torch_calls",
    "check_pixel_loss",
    "check_gradient_step",
    "check_content_loss",
    "check_gram_matrix",
    "check_style_loss",
    "check_total_variation",
    "check_combined_loss",
    "check_optimization_loop",
    "reference_gradient_step",
    "reference_combined_loss",
    "reference_optimize_image",
    "yours_or_reference",
]
