"""Open Inference Protocol tensor datatypes and their numpy counterparts."""

from __future__ import annotations

from typing import Final

import numpy as np

# The protocol's datatype names, in the order its specification lists them.
TO_NUMPY: Final[dict[str, np.dtype[np.generic]]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}

FROM_NUMPY: Final[dict[np.dtype[np.generic], str]] = {v: k for k, v in TO_NUMPY.items()}

# ONNX Runtime names its element types `tensor(<onnx type>)`.
FROM_ONNX: Final[dict[str, str]] = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}


def from_numpy(dtype: np.dtype[np.generic]) -> str:
    """The protocol datatype of a numpy dtype; strings and objects are BYTES."""
    if dtype.kind in "OUS":
        return "BYTES"
    try:
        return FROM_NUMPY[dtype]
    except KeyError:
        raise ValueError(f"numpy dtype {dtype} has no Open Inference Protocol datatype") from None


def from_onnx(onnx_type: str) -> str:
    """The protocol datatype of an ONNX Runtime element type such as `tensor(float)`."""
    try:
        return FROM_ONNX[onnx_type]
    except KeyError:
        raise ValueError(f"ONNX type {onnx_type} is not supported by the server") from None


def itemsize(datatype: str) -> int:
    """Bytes per element in the binary tensor extension (BYTES is length-prefixed: 0)."""
    return 0 if datatype == "BYTES" else TO_NUMPY[datatype].itemsize
