"""Model inputs and outputs as the Open Inference Protocol describes them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from modelrollout.runtimes import datatypes

DYNAMIC = -1  # a dimension of any size


@dataclasses.dataclass(frozen=True, slots=True)
class TensorSpec:
    """A model input or output: name, protocol datatype, shape (-1 for a dynamic dimension)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    @property
    def dtype(self) -> np.dtype[np.generic]:
        return datatypes.TO_NUMPY[self.datatype]

    @property
    def batched(self) -> bool:
        """Whether the first dimension is dynamic, so several requests can share one run."""
        return bool(self.shape) and self.shape[0] == DYNAMIC

    def metadata(self) -> dict[str, object]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


def dims(shape: Sequence[object]) -> tuple[int, ...]:
    """A runtime's shape (ints, names, None or -1 for unknown) with -1 for every dynamic dim."""
    return tuple(d if isinstance(d, int) and d >= 0 else DYNAMIC for d in shape)


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
