"""Where the model artifact is: a URI becomes a local file and a runtime.

`locate` is the one place that turns a model URI into a local path. Plain paths are
handled here; file:// is resolved and confined in place by storage (no copy); other
schemes (s3://, pvc://, http(s)://, models:/) go through `modelrollout.storage.fetch`.
`verify` checks the expected SHA-256 before anything is loaded.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from modelrollout import storage
from modelrollout.api import optimization as api

ONNX_FILE = "model.onnx"
OPENVINO_FILE = "model.xml"


class ArtifactError(ValueError):
    """The model URI does not lead to a servable artifact; the message says why."""


def locate(uri: str, dest_dir: Path) -> Path:
    """A local path for `uri`, fetching it into `dest_dir` when it is remote."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "" or len(parsed.scheme) == 1:  # a plain path (or a drive letter)
        return Path(uri)
    try:
        if parsed.scheme == "file":
            return storage.local_path(uri)
        return storage.fetch(uri, dest_dir)
    except storage.StorageError as error:
        raise ArtifactError(str(error)) from None


def verify(path: Path, sha256: str | None) -> None:
    """Refuse the model file when its SHA-256 is not the expected one."""
    if not sha256:
        return
    try:
        storage.verify(path, sha256=sha256)
    except storage.StorageError as error:
        raise ArtifactError(str(error)) from None


def model_file(path: Path) -> Path:
    """The model file at `path`: the file itself, or model.onnx / model.xml in a directory."""
    if path.is_dir():
        candidates = [path / ONNX_FILE, path / OPENVINO_FILE]
        found = [c for c in candidates if c.is_file()]
        if not found:
            raise ArtifactError(f"model directory {path} holds neither {ONNX_FILE} nor {OPENVINO_FILE}")
        if len(found) > 1:
            raise ArtifactError(f"model directory {path} holds both {ONNX_FILE} and {OPENVINO_FILE}: give the file")
        return found[0]
    if not path.is_file():
        raise ArtifactError(f"model file {path} does not exist")
    return path


def runtime_for(path: Path, requested: api.Runtime | None) -> api.Runtime:
    """The runtime to load `path` with: the requested one, else by file extension.

    OpenVINO reads ONNX as well, so `openvino` with a .onnx file is valid; ONNX Runtime
    cannot read OpenVINO IR.
    """
    suffix = path.suffix.lower()
    if requested is None:
        if suffix == ".onnx":
            return api.Runtime.ONNXRUNTIME
        if suffix == ".xml":
            return api.Runtime.OPENVINO
        raise ArtifactError(f"cannot tell the runtime of {path.name}: give --runtime")
    if requested is api.Runtime.ONNXRUNTIME and suffix != ".onnx":
        raise ArtifactError(f"runtime onnxruntime needs a .onnx file, got {path.name}")
    return requested
