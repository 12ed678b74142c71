"""A loaded model behind one small interface, opened under the one options policy."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from modelrollout.api import optimization as api
from modelrollout.runtimes import tensors


class SessionError(RuntimeError):
    """The runtime could not load or run the model, or lacks the device; the message says why."""


class Session(Protocol):
    """A loaded model. `run` may be called from several threads at once."""

    platform: str  # the protocol's platform name, e.g. onnxruntime_onnx
    inputs: tuple[tensors.TensorSpec, ...]
    outputs: tuple[tensors.TensorSpec, ...]

    def run(self, feeds: Mapping[str, npt.NDArray[np.generic]]) -> dict[str, npt.NDArray[np.generic]]: ...

    def effective_options(self) -> dict[str, str]:
        """What the runtime reports it runs with, read back from the loaded session."""
        ...

    def close(self) -> None: ...


def open_session(path: Path, runtime: api.Runtime, device: str, threads: int = 0) -> Session:
    """Load `path` with `runtime` on `device`; each runtime is imported only when used.

    `threads` is the runtime's intra-op thread count, 0 for its own choice.
    """
    if runtime is api.Runtime.ONNXRUNTIME:
        from modelrollout.runtimes import onnxruntime  # noqa: PLC0415

        return onnxruntime.OnnxRuntimeSession(path, device, threads)
    from modelrollout.runtimes import openvino  # noqa: PLC0415

    return openvino.OpenVinoSession(path, device, threads)


def first_line(error: BaseException) -> str:
    """The first line of an error's text (runtimes raise pages), or its type when it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
