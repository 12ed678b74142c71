"""The models this server holds, by name: loading, warm-up and readiness."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from modelrollout.api import optimization as api
from modelrollout.runtimes import sessions, tensors
from modelrollout.serve import artifacts


@dataclasses.dataclass(slots=True)
class Model:
    name: str
    version: str
    backend: sessions.Session
    inputs: dict[str, tensors.TensorSpec]
    load_seconds: float
    ready: bool = True


def load(
    *,
    name: str,
    version: str,
    uri: str,
    runtime: api.Runtime | None,
    device: str,
    threads: int,
    work_dir: Path,
) -> Model:
    """Fetch, load and warm up a model; the time taken includes all three."""
    started = time.perf_counter()
    path = artifacts.model_file(artifacts.locate(uri, work_dir))
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
    )


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
