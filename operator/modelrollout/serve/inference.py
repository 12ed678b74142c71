"""Canonical infer requests and responses: what every transport decodes to and encodes from.

REST (`bodies.py`) and gRPC (`messages.py`) turn their wire formats into these and back;
the data plane sees nothing of either.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


class InferenceError(Exception):
    """A failure a client is told about: an HTTP status and a message naming the field at fault."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad(message: str) -> InferenceError:
    return InferenceError(400, message)


@dataclasses.dataclass(frozen=True, slots=True)
class RequestTensor:
    """One input as sent: either `data` (JSON values, flat or nested) or `raw` bytes."""

    name: str
    datatype: str
    shape: Sequence[int]
    data: object = None
    raw: bytes | memoryview | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class InferRequest:
    inputs: Sequence[RequestTensor]
    id: str | None = None
    outputs: Sequence[str] | None = None  # names asked for; None: all, in model order
    binary_outputs: frozenset[str] = frozenset()  # REST: outputs wanted as raw bytes


@dataclasses.dataclass(frozen=True, slots=True)
class InferResponse:
    model_name: str
    model_version: str
    id: str
    outputs: Sequence[tuple[str, npt.NDArray[np.generic]]]
    binary_outputs: frozenset[str] = frozenset()
    # What the feedback hook adds to the response (the transports copy it into the
    # response's `parameters`); empty unless the recorder returns something.
    parameters: dict[str, str | int | bool] = dataclasses.field(default_factory=dict)
