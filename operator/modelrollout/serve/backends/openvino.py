"""OpenVINO backend: device CPU, GPU, NPU or AUTO from `--device`."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import openvino as ov

from modelrollout.serve import datatypes
from modelrollout.serve.backends import base

DEVICES = ("CPU", "GPU", "NPU", "AUTO")


def check_device(device: str, available: Sequence[str]) -> str:
    """`device` when this host has it. `GPU.1` and `AUTO:GPU,CPU` forms are accepted."""
    family = device.split(":", 1)[0].split(".", 1)[0]
    if family not in DEVICES:
        raise base.BackendError(f"device {device!r} is not one of {', '.join(DEVICES)} for openvino")
    if family != "AUTO" and not any(a.split(".", 1)[0] == family for a in available):
        raise base.BackendError(f"device {device} is not present on this host (openvino sees: {', '.join(available)})")
    return device


def _spec(port: ov.Output) -> base.TensorSpec:
    element = port.get_element_type()
    datatype = "BYTES" if element == ov.Type.string else datatypes.from_numpy(element.to_dtype())
    shape = tuple(d.get_length() if d.is_static else -1 for d in port.get_partial_shape())
    return base.TensorSpec(port.get_any_name(), datatype, shape)


class OpenVinoBackend:
    platform = "openvino_ir"

    def __init__(self, path: Path, device: str, threads: int) -> None:
        core = ov.Core()
        check_device(device, core.available_devices)
        config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"}
        if device == "CPU":
            # CPUs with bf16 units otherwise compute in bf16, which changes the answers of
            # an artifact whose accuracy the optimizer measured at its own precision.
            config["INFERENCE_PRECISION_HINT"] = "f32"
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            self._compiled = core.compile_model(core.read_model(str(path)), device, config)
        except RuntimeError as error:
            raise base.BackendError(f"openvino cannot load {path.name}: {error}") from error
        self.platform = "openvino_onnx" if path.suffix.lower() == ".onnx" else "openvino_ir"
        self.inputs = tuple(_spec(p) for p in self._compiled.inputs)
        self.outputs = tuple(_spec(p) for p in self._compiled.outputs)
        # An infer request is not thread-safe: one per worker thread.
        self._local = threading.local()

    def run(self, feeds: Mapping[str, npt.NDArray[np.generic]]) -> dict[str, npt.NDArray[np.generic]]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        request.infer(dict(feeds))
        return {
            spec.name: np.array(request.get_output_tensor(i).data, copy=True) for i, spec in enumerate(self.outputs)
        }

    def close(self) -> None:
        del self._compiled
