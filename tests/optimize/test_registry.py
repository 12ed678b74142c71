from __future__ import annotations

from typing import Final

import pytest

from modelrollout.api import optimization as api
from modelrollout.api.v1alpha1 import ModelFormat
from modelrollout.optimize import hardware
from modelrollout.optimize.candidates import registry

A = api.Accelerator


def keys(specs: list[api.CandidateSpec]) -> list[str]:
    return [s.key for s in specs]


@pytest.mark.parametrize(
    ("accelerator", "expected"),
    [
        (A.CPU, ["onnxruntime-fp32-graph-opt", "onnxruntime-int8-dynamic", "onnxruntime-int8-static-mixed",
                 "openvino-fp32-convert", "openvino-int8-nncf", "openvino-int8-nncf-accuracy"]),
        (A.NVIDIA_GPU, ["onnxruntime-fp32-graph-opt", "onnxruntime-fp16-convert"]),
        (A.INTEL_GPU, ["onnxruntime-fp32-graph-opt", "openvino-int8-nncf", "openvino-int8-nncf-accuracy",
                       "openvino-fp16-convert", "openvino-fp32-convert"]),
        (A.NPU, ["onnxruntime-fp32-graph-opt", "openvino-int8-nncf", "openvino-int8-nncf-accuracy",
                 "openvino-fp16-convert"]),
    ],
)  # fmt: skip
def test_auto_per_accelerator(accelerator: api.Accelerator, expected: list[str]) -> None:
    assert keys(registry.auto(accelerator, ModelFormat.ONNX, 1000)) == expected


@pytest.mark.parametrize("accelerator", list(A))
def test_auto_for_openvino_sources_has_no_onnxruntime(accelerator: api.Accelerator) -> None:
    specs = registry.auto(accelerator, ModelFormat.OPENVINO, 1000)
    assert specs[0].key == "openvino-fp32-convert"
    assert all(s.runtime is api.Runtime.OPENVINO for s in specs)
    assert len(set(keys(specs))) == len(specs)


def test_large_models_add_weight_compression() -> None:
    small = keys(registry.auto(A.CPU, ModelFormat.ONNX, registry.LARGE_MODEL_BYTES - 1))
    large = keys(registry.auto(A.CPU, ModelFormat.ONNX, registry.LARGE_MODEL_BYTES))
    assert "openvino-int8-weight-compression" not in small
    assert "openvino-int8-weight-compression" in large


def test_explicit_list_gets_the_reference_first_and_no_duplicates() -> None:
    listed = registry.parse(
        '[{"runtime":"openvino","precision":"int8","method":"nncf"},'
        ' {"runtime":"openvino","precision":"int8","method":"nncf"}]'
    )
    assert listed is not None
    assert keys(registry.with_reference(listed, ModelFormat.ONNX)) == [
        "onnxruntime-fp32-graph-opt",
        "openvino-int8-nncf",
    ]


def test_parse_auto() -> None:
    assert registry.parse(" auto ") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[", "JSON list expected"),
        ("[]", "non-empty JSON list"),
        ('{"runtime": "onnxruntime"}', "non-empty JSON list"),
        ('[{"runtime":"tensorrt","precision":"int8","method":"static"}]', "candidates[0].runtime"),
        ('[{"runtime":"openvino","precision":"int8"}]', "candidates[0].method"),
    ],
)
def test_parse_errors_name_the_field(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        registry.parse(text)


@pytest.mark.parametrize(
    ("flags", "reduce"),
    [
        (frozenset({"avx2"}), True),
        (frozenset({"avx2", "avx512f"}), True),
        (frozenset({"avx2", "avx_vnni"}), False),
        (frozenset({"avx512_vnni"}), False),
        (frozenset({"amx_int8"}), False),
    ],
)
def test_reduce_range_without_vnni(flags: frozenset[str], reduce: bool) -> None:
    assert registry.needs_reduce_range(hardware.Cpu("x", flags)) is reduce


def test_unknown_cpu_keeps_full_range_weights() -> None:
    assert registry.needs_reduce_range(hardware.Cpu()) is False


AVX2: Final = hardware.Cpu("AMD EPYC", frozenset({"avx", "avx2", "fma"}))
VNNI: Final = hardware.Cpu("Xeon", frozenset({"avx2", "avx512f", "avx512_vnni", "amx_int8"}))


def test_without_vnni_onnxruntime_int8_comes_first_and_openvino_int8_last() -> None:
    specs = keys(registry.auto(A.CPU, ModelFormat.ONNX, 1000, AVX2))
    assert specs[1:3] == ["onnxruntime-int8-dynamic", "onnxruntime-int8-static-mixed"]
    assert specs[-2:] == ["openvino-int8-nncf", "openvino-int8-nncf-accuracy"]


def test_with_vnni_openvino_int8_comes_first() -> None:
    specs = keys(registry.auto(A.CPU, ModelFormat.ONNX, 1000, VNNI))
    assert specs[1:3] == ["openvino-int8-nncf", "openvino-int8-nncf-accuracy"]


def test_transformers_add_weight_compression() -> None:
    plain = keys(registry.auto(A.CPU, ModelFormat.ONNX, 1000, AVX2))
    transformer = keys(registry.auto(A.CPU, ModelFormat.ONNX, 1000, AVX2, transformer=True))
    added = set(transformer) - set(plain)
    assert added == {"openvino-int8-weight-compression", "openvino-int4-weight-compression"}
    assert registry.is_transformer({"input_ids", "attention_mask"}) and not registry.is_transformer({"features"})


@pytest.mark.parametrize(
    ("accelerator", "ort", "ov"),
    [(A.CPU, "CPU", "CPU"), (A.NVIDIA_GPU, "CUDA", "CPU"), (A.INTEL_GPU, "CPU", "GPU"),
     (A.NPU, "CPU", "NPU")],
)  # fmt: skip
def test_device_for(accelerator: api.Accelerator, ort: str, ov: str) -> None:
    assert registry.device_for(accelerator, api.Runtime.ONNXRUNTIME) == ort
    assert registry.device_for(accelerator, api.Runtime.OPENVINO) == ov


@pytest.mark.parametrize(
    ("text", "runtime", "expected"),
    [
        (None, api.Runtime.ONNXRUNTIME, None),
        ("", api.Runtime.OPENVINO, None),
        ("CPU", api.Runtime.OPENVINO, "CPU"),
        ("onnxruntime=CUDA,openvino=GPU", api.Runtime.ONNXRUNTIME, "CUDA"),
        ("onnxruntime=CUDA,openvino=GPU", api.Runtime.OPENVINO, "GPU"),
        ("onnxruntime=CUDA", api.Runtime.OPENVINO, None),
    ],
)
def test_device_override(text: str | None, runtime: api.Runtime, expected: str | None) -> None:
    assert registry.device_override(text, runtime) == expected
