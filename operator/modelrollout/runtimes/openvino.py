"""OpenVINO sessions: device CPU, GPU, NPU or AUTO."""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
import openvino as ov

from modelrollout.runtimes import datatypes, options, sessions, tensors


@functools.cache
def core() -> ov.Core:
    """One Core per process, as OpenVINO recommends."""
    return ov.Core()


def spec(port: ov.Output) -> tensors.TensorSpec:
    element = port.get_element_type()
    datatype = "BYTES" if element == ov.Type.string else datatypes.from_numpy(element.to_dtype())
    shape = tuple(d.get_length() if d.is_static else tensors.DYNAMIC for d in port.get_partial_shape())
    return tensors.TensorSpec(port.get_any_name(), datatype, shape)


class OpenVinoSession:
    platform = "openvino_ir"

    def __init__(self, path: Path, device: str, threads: int) -> None:
        try:
            chosen = options.openvino_options(device, threads, core().available_devices)
        except options.OptionsError as error:
            raise sessions.SessionError(str(error)) from None
        try:
            self._compiled = core().compile_model(core().read_model(str(path)), chosen.device, dict(chosen.config))
            self.inputs = tuple(spec(p) for p in self._compiled.inputs)
            self.outputs = tuple(spec(p) for p in self._compiled.outputs)
        except (RuntimeError, ValueError) as error:
            raise sessions.SessionError(f"openvino cannot load {path.name}: {sessions.first_line(error)}") from error
        self.platform = "openvino_onnx" if path.suffix.lower() == ".onnx" else "openvino_ir"
        # An infer request is not thread-safe: one per calling thread.
        self._local = threading.local()

    def run(self, feeds: Mapping[str, npt.NDArray[np.generic]]) -> dict[str, npt.NDArray[np.generic]]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        request.infer(dict(feeds))
        # The request's output buffers are reused by its next inference: copy them out.
        return {out.name: np.array(request.get_output_tensor(i).data, copy=True) for i, out in enumerate(self.outputs)}

    def effective_options(self) -> dict[str, str]:
        read = {}
        for name in self._compiled.get_property("SUPPORTED_PROPERTIES"):
            try:
                value = self._compiled.get_property(name)
            except RuntimeError:  # listed but not readable on this device
                continue
            read[str(name)] = _text(value)
        return read

    def close(self) -> None:
        del self._compiled


def _text(value: object) -> str:
    """A property as the config spells it: `f32`, not `<Type: 'float32'>`; `LATENCY`, not an enum."""
    if isinstance(value, ov.Type):
        return str(value.get_type_name())
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else str(value)
