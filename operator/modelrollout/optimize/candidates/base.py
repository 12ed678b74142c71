"""What every backend shares: the build context, the runner interface, their errors."""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Protocol

import numpy as np

from modelrollout.api import optimization as api
from modelrollout.optimize import datasets, signatures


class CandidateError(Exception):
    """A candidate could not be built or run; the message becomes its reason."""


@dataclasses.dataclass(frozen=True)
class BuildContext:
    source: pathlib.Path  # the fetched model file (.onnx, or .xml with its .bin)
    source_format: str  # "onnx" | "openvino"
    out_dir: pathlib.Path  # this candidate's own directory
    calibration: datasets.Dataset | None
    reduce_range: bool  # quantize weights to 7 bits: for CPUs without VNNI


class Runner(Protocol):
    """A loaded model: takes a feed of named arrays, returns the outputs in model order."""

    @property
    def signature(self) -> signatures.Signature: ...

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]: ...


class Backend(Protocol):
    """A backend module: builds the specs it supports and loads what it built."""

    def supports(self, spec: api.CandidateSpec, source_format: str) -> bool: ...

    def build(self, spec: api.CandidateSpec, ctx: BuildContext) -> pathlib.Path: ...

    def load(self, path: pathlib.Path, device: str, precision: api.Precision) -> Runner: ...


def artifact_size(path: pathlib.Path) -> int:
    """Bytes of a model file plus its companions (an IR's .bin, external data)."""
    return sum(p.stat().st_size for p in path.parent.iterdir() if p.is_file())
