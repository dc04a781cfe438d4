"""``python -m nstyle_helpers``: see :mod:`nstyle_helpers.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
