"""Model input signatures: names, element types and shapes (None for a dynamic dim)."""

from __future__ import annotations

import dataclasses

import numpy as np

from modelrollout.runtimes import tensors


@dataclasses.dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: np.dtype[np.generic]
    shape: tuple[int | None, ...]

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}: {self.dtype}[{dims}]"


Signature = tuple[InputSpec, ...]


def from_tensors(specs: tuple[tensors.TensorSpec, ...]) -> Signature:
    """The optimizer's view of a loaded model's inputs (described once, in `runtimes`)."""
    return tuple(InputSpec(t.name, t.dtype, tuple(None if d == tensors.DYNAMIC else d for d in t.shape)) for t in specs)


def batch_capacity(signature: Signature) -> int | None:
    """How many samples one call may take: None when every input's first dim is dynamic."""
    fixed = {spec.shape[0] for spec in signature if spec.shape and spec.shape[0] is not None}
    if not fixed:
        return None
    return min(d for d in fixed if d is not None)
