"""The models this server holds, by name: loading, warm-up and readiness."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from modelrollout.serve import artifacts
from modelrollout.serve.backends import base


@dataclasses.dataclass(slots=True)
class Model:
    name: str
    version: str
    backend: base.Backend
    inputs: dict[str, base.TensorSpec]
    load_seconds: float
    ready: bool = True


def open_backend(path: Path, runtime: str, device: str, threads: int) -> base.Backend:
    """Load `path` with `runtime`; each runtime is imported only when used."""
    if runtime == "onnxruntime":
        from modelrollout.serve.backends import onnxruntime as ort_backend  # noqa: PLC0415

        return ort_backend.OnnxRuntimeBackend(path, device, threads)
    from modelrollout.serve.backends import openvino as ov_backend  # noqa: PLC0415

    return ov_backend.OpenVinoBackend(path, device, threads)


def load(
    *,
    name: str,
    version: str,
    uri: str,
    runtime: str | None,
    device: str,
    threads: int,
    work_dir: Path,
) -> Model:
    """Fetch, load and warm up a model; the time taken includes all three."""
    started = time.perf_counter()
    path = artifacts.model_file(artifacts.locate(uri, work_dir))
    chosen = artifacts.runtime_for(path, runtime)
    backend = open_backend(path, chosen, device, threads)
    try:
        backend.run(base.warmup_feeds(backend.inputs))
    except Exception as error:  # the runtime's own exception types
        raise base.BackendError(f"warm-up inference failed (zeros, dynamic dimensions set to 1): {error}") from error
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
