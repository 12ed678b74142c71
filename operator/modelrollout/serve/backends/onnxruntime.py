"""ONNX Runtime backend: CPU, CUDA or TensorRT execution provider from `--device`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from modelrollout.serve import datatypes
from modelrollout.serve.backends import base

# Each device's providers in preference order; ONNX Runtime falls back along the list
# for nodes a provider cannot run.
PROVIDERS: dict[str, tuple[str, ...]] = {
    "CPU": ("CPUExecutionProvider",),
    "CUDA": ("CUDAExecutionProvider", "CPUExecutionProvider"),
    "TensorRT": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
}


def providers_for(device: str, available: Sequence[str]) -> list[str]:
    """The execution providers for `device`; an error when this build lacks the first.

    A GPU pool that silently served on CPU would pass every health check while missing
    its latency goal, so a missing accelerator provider is refused.
    """
    if device not in PROVIDERS:
        raise base.BackendError(f"device {device!r} is not one of {', '.join(PROVIDERS)} for onnxruntime")
    wanted = PROVIDERS[device]
    if wanted[0] not in available:
        raise base.BackendError(
            f"device {device} needs {wanted[0]}, which this onnxruntime lacks (available: {', '.join(available)})"
        )
    return [p for p in wanted if p in available]


def _dims(shape: Sequence[object]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) and d >= 0 else -1 for d in shape)


class OnnxRuntimeBackend:
    platform = "onnxruntime_onnx"

    def __init__(self, path: Path, device: str, threads: int) -> None:
        providers = providers_for(device, ort.get_available_providers())
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        try:
            self._session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as error:  # ORT raises its own untyped exceptions
            raise base.BackendError(f"onnxruntime cannot load {path.name}: {error}") from error
        self.inputs = tuple(
            base.TensorSpec(i.name, datatypes.from_onnx(i.type), _dims(i.shape)) for i in self._session.get_inputs()
        )
        self.outputs = tuple(
            base.TensorSpec(o.name, datatypes.from_onnx(o.type), _dims(o.shape)) for o in self._session.get_outputs()
        )
        self._output_names = [o.name for o in self.outputs]

    def run(self, feeds: Mapping[str, npt.NDArray[np.generic]]) -> dict[str, npt.NDArray[np.generic]]:
        results = self._session.run(self._output_names, dict(feeds))
        return dict(zip(self._output_names, results, strict=True))

    def close(self) -> None:
        del self._session
