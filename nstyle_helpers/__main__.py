"""``python -m nstyle_helpers``: see :mod:`nstyle_helpers.cli`."""

from .cli import console_main

if __name__ == "__main__":
    console_main()
