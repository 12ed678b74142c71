"""Model input signatures: names, element types and shapes (None for a dynamic dim)."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: np.dtype[np.generic]
    shape: tuple[int | None, ...]

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}: {self.dtype}[{dims}]"


Signature = tuple[InputSpec, ...]

_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


def from_ort_type(type_name: str, what: str) -> np.dtype[np.generic]:
    if type_name not in _ORT_TYPES:
        raise ValueError(f"{what}: unsupported input type {type_name}")
    return np.dtype(_ORT_TYPES[type_name])


def batch_capacity(signature: Signature) -> int | None:
    """How many samples one call may take: None when every input's first dim is dynamic."""
    fixed = {spec.shape[0] for spec in signature if spec.shape and spec.shape[0] is not None}
    if not fixed:
        return None
    return min(d for d in fixed if d is not None)
