"""The error that fails the optimization Job; its message is the report's one-line reason."""

from __future__ import annotations


class OptimizeError(Exception):
    """The Job cannot go on; `str(error)` is a one-line reason."""
