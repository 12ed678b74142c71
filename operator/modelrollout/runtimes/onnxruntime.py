"""ONNX Runtime sessions: CPU, CUDA or TensorRT execution providers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from modelrollout.runtimes import datatypes, options, sessions, tensors


def session_options(chosen: options.OnnxRuntimeOptions) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, chosen.graph_optimization)
    opts.log_severity_level = chosen.log_severity
    if chosen.intra_op_threads:
        opts.intra_op_num_threads = chosen.intra_op_threads
    return opts


class OnnxRuntimeSession:
    platform = "onnxruntime_onnx"

    def __init__(self, path: Path, device: str, threads: int) -> None:
        try:
            chosen = options.onnxruntime_options(device, threads, ort.get_available_providers())
        except options.OptionsError as error:
            raise sessions.SessionError(str(error)) from None
        try:
            self._session = ort.InferenceSession(str(path), session_options(chosen), providers=list(chosen.providers))
        except Exception as error:  # ORT raises its own untyped exceptions
            raise sessions.SessionError(f"onnxruntime cannot load {path.name}: {sessions.first_line(error)}") from error
        self.inputs = tuple(
            tensors.TensorSpec(i.name, datatypes.from_onnx(i.type), tensors.dims(i.shape))
            for i in self._session.get_inputs()
        )
        self.outputs = tuple(
            tensors.TensorSpec(o.name, datatypes.from_onnx(o.type), tensors.dims(o.shape))
            for o in self._session.get_outputs()
        )
        self._output_names = [o.name for o in self.outputs]

    def run(self, feeds: Mapping[str, npt.NDArray[np.generic]]) -> dict[str, npt.NDArray[np.generic]]:
        results = self._session.run(self._output_names, dict(feeds))
        return dict(zip(self._output_names, results, strict=True))

    def effective_options(self) -> dict[str, str]:
        opts = self._session.get_session_options()
        read = {
            "providers": ",".join(self._session.get_providers()),
            "provider_options": repr(sorted(self._session.get_provider_options().items())),
        }
        for name in (
            "graph_optimization_level",
            "intra_op_num_threads",
            "inter_op_num_threads",
            "execution_mode",
            "execution_order",
            "enable_cpu_mem_arena",
            "enable_mem_pattern",
            "enable_mem_reuse",
            "log_severity_level",
            "use_deterministic_compute",
        ):
            read[name] = str(getattr(opts, name))
        return read

    def close(self) -> None:
        del self._session
