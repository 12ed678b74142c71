"""How every model is opened, for measuring and for serving alike (pure).

One policy, because the optimizer's promise is that the artifact in production is the
one it measured: the same providers, precision, hints and threads on both sides.

- ONNX Runtime: all graph optimizations (the optimizer saves provider-independent
  graphs; the rest is applied at load), a device's providers in preference order, the
  runtime's warnings off (they repeat per session and say nothing actionable).
- OpenVINO: the LATENCY hint (one request at a time per stream: the server's
  default and the optimizer's single-request benchmark), and on CPU f32 inference
  precision for every artifact precision. Without it a CPU with AMX or AVX512-BF16
  computes the float parts of FP32, FP16 and INT8 IRs in bf16, which changes their
  outputs, so an artifact's measured accuracy would depend on which CPU generation
  the optimizer Job and each serving pod happened to land on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Final

from modelrollout.api import optimization as api


class OptionsError(ValueError):
    """A device this runtime does not know, or one this host lacks; the message says which."""


# Each ONNX Runtime device's providers in preference order; ONNX Runtime falls back
# along the list for nodes a provider cannot run.
ORT_PROVIDERS: Final[Mapping[str, tuple[str, ...]]] = {
    "CPU": ("CPUExecutionProvider",),
    "CUDA": ("CUDAExecutionProvider", "CPUExecutionProvider"),
    "TensorRT": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
}
# OpenVINO device families; `GPU.1` and `AUTO:GPU,CPU` forms are accepted.
OPENVINO_DEVICES: Final = ("CPU", "GPU", "NPU", "AUTO")
DEVICES: Final[Mapping[api.Runtime, tuple[str, ...]]] = {
    api.Runtime.ONNXRUNTIME: tuple(ORT_PROVIDERS),
    api.Runtime.OPENVINO: OPENVINO_DEVICES,
}

ORT_GRAPH_OPTIMIZATION: Final = "ORT_ENABLE_ALL"
ORT_LOG_SEVERITY: Final = 3  # errors only
OPENVINO_HINT: Final = "LATENCY"
OPENVINO_CPU_PRECISION: Final = "f32"


@dataclasses.dataclass(frozen=True, slots=True)
class OnnxRuntimeOptions:
    providers: tuple[str, ...]
    graph_optimization: str
    intra_op_threads: int  # 0: the runtime's choice
    log_severity: int


@dataclasses.dataclass(frozen=True, slots=True)
class OpenVinoOptions:
    device: str
    config: Mapping[str, str | int]


def onnxruntime_options(device: str, threads: int, available: Sequence[str]) -> OnnxRuntimeOptions:
    """The session options for `device`; an error when this build lacks its first provider.

    A GPU pool that silently served on CPU would pass every health check while missing
    its latency goal, so a missing accelerator provider is refused.
    """
    if device not in ORT_PROVIDERS:
        raise OptionsError(f"device {device!r} is not one of {', '.join(ORT_PROVIDERS)} for onnxruntime")
    wanted = ORT_PROVIDERS[device]
    if wanted[0] not in available:
        raise OptionsError(
            f"device {device} needs {wanted[0]}, which this onnxruntime lacks (available: {', '.join(available)})"
        )
    return OnnxRuntimeOptions(
        providers=tuple(p for p in wanted if p in available),
        graph_optimization=ORT_GRAPH_OPTIMIZATION,
        intra_op_threads=threads,
        log_severity=ORT_LOG_SEVERITY,
    )


def openvino_family(device: str) -> str:
    return device.split(":", 1)[0].split(".", 1)[0]


def openvino_options(device: str, threads: int, available: Sequence[str]) -> OpenVinoOptions:
    """The compile config for `device` when this host has it."""
    family = openvino_family(device)
    if family not in OPENVINO_DEVICES:
        raise OptionsError(f"device {device!r} is not one of {', '.join(OPENVINO_DEVICES)} for openvino")
    if family != "AUTO" and not any(a.split(".", 1)[0] == family for a in available):
        raise OptionsError(f"device {device} is not present on this host (openvino sees: {', '.join(available)})")
    config: dict[str, str | int] = {"PERFORMANCE_HINT": OPENVINO_HINT}
    if family == "CPU":
        config["INFERENCE_PRECISION_HINT"] = OPENVINO_CPU_PRECISION
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    return OpenVinoOptions(device=device, config=config)
