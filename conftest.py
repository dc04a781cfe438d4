"""Shared test set-up.

Tests and the notebooks run under nbval use random VGG19 weights, chosen explicitly here,
because pretrained weights cannot be downloaded on the test machines. Quick mode keeps the
notebooks to seconds. Both are environment variables, so nbval's kernels inherit them.
"""

import os

os.environ["NSTYLE_WEIGHTS"] = "random"
os.environ["NSTYLE_QUICK"] = "1"
os.environ.setdefault("NSTYLE_DEVICE", "cpu")
