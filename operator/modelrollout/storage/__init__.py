"""Model and artifact storage: fetch a model from its URI, upload an artifact atomically.

Shared by the optimization Job (fetch the source model, upload the winner) and the
inference server (fetch the optimized artifact).
"""

from __future__ import annotations

from modelrollout.storage.errors import StorageError, redact
from modelrollout.storage.fetching import Limits, fetch, local_path, verify
from modelrollout.storage.uploading import upload

__all__ = ["Limits", "StorageError", "fetch", "local_path", "redact", "upload", "verify"]
