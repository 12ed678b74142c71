"""The one error storage raises: its message is a one-line reason fit for a report."""

from __future__ import annotations


class StorageError(Exception):
    """A model or artifact could not be fetched or stored."""
