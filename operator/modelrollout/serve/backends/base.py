"""The interface every runtime backend implements."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Protocol

import numpy as np
import numpy.typing as npt

from modelrollout.serve import datatypes


@dataclasses.dataclass(frozen=True, slots=True)
class TensorSpec:
    """A model input or output as the protocol describes it (-1 for a dynamic dimension)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    @property
    def dtype(self) -> np.dtype[np.generic]:
        return datatypes.TO_NUMPY[self.datatype]

    def metadata(self) -> dict[str, object]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


class BackendError(RuntimeError):
    """The runtime could not load or run the model."""


class Backend(Protocol):
    """A loaded model. `run` is called from several threads at once."""

    platform: str  # the protocol's platform name, e.g. onnxruntime_onnx
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def run(self, feeds: Mapping[str, npt.NDArray[np.generic]]) -> dict[str, npt.NDArray[np.generic]]: ...

    def close(self) -> None: ...


def warmup_feeds(inputs: tuple[TensorSpec, ...]) -> dict[str, npt.NDArray[np.generic]]:
    """Zeros for every input, each dynamic dimension set to 1."""
    feeds: dict[str, npt.NDArray[np.generic]] = {}
    for spec in inputs:
        shape = tuple(1 if d < 0 else d for d in spec.shape)
        if spec.datatype == "BYTES":
            feeds[spec.name] = np.full(shape, "", dtype=np.object_)
        else:
            feeds[spec.name] = np.zeros(shape, dtype=spec.dtype)
    return feeds
