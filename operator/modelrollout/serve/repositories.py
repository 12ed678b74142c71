"""The models this server holds, by name: loading, warm-up and readiness."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import numpy as np

from modelrollout.api import optimization as api
from modelrollout.runtimes import sessions, tensors
from modelrollout.serve import artifacts, batching

log = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True)
class Model:
    name: str
    version: str
    backend: sessions.Session
    inputs: dict[str, tensors.TensorSpec]
    load_seconds: float
    ready: bool = True
    policy: batching.Policy = batching.OFF  # the batching it is served with
    scheduler: batching.Scheduler | None = None  # set once the server's workers exist


def load(
    *,
    name: str,
    version: str,
    uri: str,
    runtime: api.Runtime | None,
    device: str,
    threads: int,
    work_dir: Path,
    policy: batching.Policy = batching.OFF,
    sha256: str | None = None,
) -> Model:
    """Fetch, verify, load and warm up a model; the time taken includes all of it."""
    started = time.perf_counter()
    path = artifacts.model_file(artifacts.locate(uri, work_dir))
    artifacts.verify(path, sha256)
    chosen = artifacts.runtime_for(path, runtime)
    backend = sessions.open_session(path, chosen, device, threads)
    try:
        backend.run(tensors.warmup_feeds(backend.inputs))
    except Exception as error:  # the runtime's own exception types
        raise sessions.SessionError(
            f"warm-up inference failed (zeros, dynamic dimensions set to 1): {error}"
        ) from error
    return Model(
        name=name,
        version=version,
        backend=backend,
        inputs={spec.name: spec for spec in backend.inputs},
        load_seconds=time.perf_counter() - started,
        policy=batching_for(backend, policy),
    )


def batching_for(backend: sessions.Session, asked: batching.Policy) -> batching.Policy:
    """`asked`, when the model can batch: a dynamic first dimension on every input and
    output, and outputs that keep the rows apart (checked by running two rows of zeros)."""
    if not asked.batches:
        return asked
    if not all(s.batched for s in (*backend.inputs, *backend.outputs)):
        log.info("batching off: not every input and output has a dynamic first dimension")
        return batching.OFF
    two = {n: np.concatenate([a, a]) for n, a in tensors.warmup_feeds(backend.inputs).items()}
    try:
        outputs = backend.run(two)
    except Exception as error:  # the runtime's own exception types
        log.info("batching off: the model does not run two rows at once (%s)", error)
        return batching.OFF
    if any(o.ndim == 0 or o.shape[0] != 2 for o in outputs.values()):
        log.info("batching off: an output's first dimension is not the batch")
        return batching.OFF
    return asked


class ModelRepository:
    def __init__(self) -> None:
        self._models: dict[str, Model] = {}

    def add(self, model: Model) -> None:
        self._models[model.name] = model

    def get(self, name: str) -> Model | None:
        return self._models.get(name)

    def all(self) -> list[Model]:
        return list(self._models.values())

    def ready(self) -> bool:
        return bool(self._models) and all(m.ready for m in self._models.values())

    def close(self) -> None:
        for model in self._models.values():
            model.ready = False
            model.backend.close()
        self._models.clear()
