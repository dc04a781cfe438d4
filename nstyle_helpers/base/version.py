"""The package's version, in one place: ``nh.__version__``, ``nstyle info`` and the wheel's
metadata (``pyproject.toml`` reads it from here) all take it from this module."""

__version__ = "0.1.0"
