"""Which candidates to build (pure) and which backend builds each."""

from __future__ import annotations

import json
from typing import Final

import pydantic

from modelrollout.api import optimization as api
from modelrollout.api.v1alpha1 import ModelFormat
from modelrollout.optimize import hardware, planning
from modelrollout.optimize.candidates import base

# Above this size weight-only compression joins the OpenVINO candidates: for large
# models memory bandwidth, not compute, bounds the latency.
LARGE_MODEL_BYTES: Final = 1 << 30

_R, _P, _M = api.Runtime, api.Precision, api.Method


def spec(runtime: api.Runtime, precision: api.Precision, method: api.Method) -> api.CandidateSpec:
    return api.CandidateSpec(runtime=runtime, precision=precision, method=method)


def reference(source_format: ModelFormat) -> api.CandidateSpec:
    """The FP32 reference every candidate is compared with; it always qualifies."""
    if source_format is ModelFormat.OPENVINO:
        return spec(_R.OPENVINO, _P.FP32, _M.CONVERT)
    return spec(_R.ONNXRUNTIME, _P.FP32, _M.GRAPH_OPT)


def auto(
    accelerator: api.Accelerator,
    source_format: ModelFormat,
    model_bytes: int,
    cpu: hardware.Cpu | None = None,
    transformer: bool = False,
) -> list[api.CandidateSpec]:
    """The candidates worth trying on `accelerator`, the reference first, the rest by expected gain."""
    large = model_bytes >= LARGE_MODEL_BYTES
    # Mixed-precision static QDQ starts from every node quantized and keeps nodes in FP32
    # only when the budget needs it, so it covers plain static QDQ too.
    ort_cpu = [spec(_R.ONNXRUNTIME, _P.INT8, _M.DYNAMIC), spec(_R.ONNXRUNTIME, _P.INT8, _M.STATIC_MIXED)]
    # Accuracy control runs only when plain NNCF misses the budget (see optimizing).
    ov_int8 = [spec(_R.OPENVINO, _P.INT8, _M.NNCF), spec(_R.OPENVINO, _P.INT8, _M.NNCF_ACCURACY)]
    if large or transformer:
        # Weight-only compression: for large models memory bandwidth bounds the latency;
        # transformers' weights are most of their bytes.
        ov_int8 += [
            spec(_R.OPENVINO, _P.INT8, _M.WEIGHT_COMPRESSION),
            spec(_R.OPENVINO, _P.INT4, _M.WEIGHT_COMPRESSION),
        ]
    per_accelerator: dict[api.Accelerator, list[api.CandidateSpec]] = {
        api.Accelerator.CPU: [*ort_cpu, spec(_R.OPENVINO, _P.FP32, _M.CONVERT), *ov_int8],
        # INT8 on CUDA needs TensorRT calibration; FP16 is the win that always exists.
        api.Accelerator.NVIDIA_GPU: [spec(_R.ONNXRUNTIME, _P.FP16, _M.CONVERT)],
        api.Accelerator.INTEL_GPU: [
            spec(_R.OPENVINO, _P.FP32, _M.CONVERT),
            spec(_R.OPENVINO, _P.FP16, _M.CONVERT),
            *ov_int8,
        ],
        api.Accelerator.NPU: [spec(_R.OPENVINO, _P.FP16, _M.CONVERT), *ov_int8],
    }
    specs = with_reference(per_accelerator[accelerator], source_format)
    return planning.ordered(specs, cpu or hardware.Cpu(), accelerator is api.Accelerator.CPU, large)


def with_reference(specs: list[api.CandidateSpec], source_format: ModelFormat) -> list[api.CandidateSpec]:
    """The reference first, then `specs` without duplicates or ones the format cannot make."""
    ref = reference(source_format)
    out = [ref]
    for s in specs:
        if s not in out and (source_format is ModelFormat.ONNX or s.runtime is api.Runtime.OPENVINO):
            out.append(s)
    return out


def parse(text: str) -> list[api.CandidateSpec] | None:
    """`auto` gives None; otherwise a JSON list of {runtime, precision, method}."""
    if text.strip() == "auto":
        return None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"candidates: 'auto' or a JSON list expected ({e.msg})") from e
    if not isinstance(raw, list) or not raw:
        raise ValueError("candidates: 'auto' or a non-empty JSON list of {runtime, precision, method}")
    specs = []
    for i, item in enumerate(raw):
        try:
            specs.append(api.CandidateSpec.model_validate(item))
        except pydantic.ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"candidates[{i}].{where}: {first['msg']}") from e
    return specs


def device_for(accelerator: api.Accelerator, runtime: api.Runtime) -> str:
    """The device a runtime uses on a pool (ONNX Runtime has no Intel GPU/NPU provider here)."""
    if runtime is api.Runtime.ONNXRUNTIME:
        return "CUDA" if accelerator is api.Accelerator.NVIDIA_GPU else "CPU"
    return {
        api.Accelerator.CPU: "CPU",
        api.Accelerator.INTEL_GPU: "GPU",
        api.Accelerator.NPU: "NPU",
        api.Accelerator.NVIDIA_GPU: "CPU",
    }[accelerator]


def device_override(text: str | None, runtime: api.Runtime) -> str | None:
    """The device `--device` names for a runtime: "CPU" for all, or "onnxruntime=CUDA,openvino=CPU"."""
    if not text:
        return None
    if "=" not in text:
        return text
    pairs = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
    return pairs.get(runtime.value)


# Input names that mark a transformer encoder or decoder.
TRANSFORMER_INPUTS: Final = frozenset({"input_ids", "attention_mask", "token_type_ids"})


def is_transformer(input_names: set[str]) -> bool:
    return bool(input_names & TRANSFORMER_INPUTS)


def needs_reduce_range(cpu: hardware.Cpu) -> bool:
    """7-bit weights avoid the saturation of u8*s8 pairs in AVX2/AVX512 without VNNI.

    An unknown CPU gets full-range weights, as before features were read.
    """
    return cpu.known and not cpu.int8_dot


def backend(runtime: api.Runtime) -> base.Backend:
    # Imported on demand: a Job that never builds an OpenVINO candidate skips its import.
    if runtime is api.Runtime.ONNXRUNTIME:
        from modelrollout.optimize.candidates import onnxruntime  # noqa: PLC0415

        return onnxruntime
    from modelrollout.optimize.candidates import openvino  # noqa: PLC0415

    return openvino
