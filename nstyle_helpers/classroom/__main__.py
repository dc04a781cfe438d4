"""``python -m nstyle_helpers.classroom build|grade``: see :mod:`.assignments`."""

import sys

from .assignments import main

if __name__ == "__main__":
    sys.exit(main())
