"""What every backend shares: the build context, the runner interface, their errors."""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable
from typing import Protocol

import numpy as np

from modelrollout.api import optimization as api
from modelrollout.api.v1alpha1 import ModelFormat
from modelrollout.optimize import datasets, signatures
from modelrollout.runtimes import sessions


class CandidateError(Exception):
    """A candidate could not be built or run; the message becomes its reason."""


@dataclasses.dataclass(frozen=True)
class BuildContext:
    source: pathlib.Path  # the fetched model file (.onnx, or .xml with its .bin)
    source_format: ModelFormat
    out_dir: pathlib.Path  # this candidate's own directory
    calibration: datasets.Dataset | None
    reduce_range: bool  # quantize weights to 7 bits: for CPUs without VNNI
    # For the candidates that search inside the accuracy budget (mixed precision, NNCF
    # accuracy control): the drop of a model file on a subset of the evaluation data.
    judge: Callable[[pathlib.Path], float] | None = None
    max_drop: float = 0.01
    search_seconds: float | None = None  # time the search may take; None: unbounded
    # For NNCF accuracy control, which validates compiled models itself: the evaluation
    # subset, the index of the judged output, and the score of that output for the
    # samples at the given indices of the subset (higher is better).
    evaluation: datasets.Dataset | None = None
    output: int = 0
    scorer: Callable[[np.ndarray, list[int]], float] | None = None
    threads: int = 0


class Runner(Protocol):
    """A loaded model: takes a feed of named arrays, returns the outputs in model order."""

    @property
    def signature(self) -> signatures.Signature: ...

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]: ...


class Backend(Protocol):
    """A backend module: builds the specs it supports and loads what it built."""

    def supports(self, spec: api.CandidateSpec, source_format: ModelFormat) -> bool: ...

    def build(self, spec: api.CandidateSpec, ctx: BuildContext) -> pathlib.Path: ...

    def load(self, path: pathlib.Path, device: str, precision: api.Precision, threads: int = 0) -> Runner: ...


class SessionRunner:
    """A candidate opened as the server opens it (`runtimes`), outputs in model order."""

    def __init__(self, session: sessions.Session) -> None:
        self.session = session
        self._signature = signatures.from_tensors(session.inputs)

    @property
    def signature(self) -> signatures.Signature:
        return self._signature

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        outputs = self.session.run(feeds)
        return [np.asarray(outputs[o.name]) for o in self.session.outputs]


def open_runner(path: pathlib.Path, runtime: api.Runtime, device: str, threads: int = 0) -> SessionRunner:
    """Every backend's `load`: the runtime's session, its failure a CandidateError."""
    try:
        return SessionRunner(sessions.open_session(path, runtime, device, threads))
    except sessions.SessionError as e:
        raise CandidateError(str(e)) from e


def artifact_size(path: pathlib.Path) -> int:
    """Bytes of a model file plus its companions (an IR's .bin, external data)."""
    return sum(p.stat().st_size for p in path.parent.iterdir() if p.is_file())
