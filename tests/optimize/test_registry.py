from __future__ import annotations

import pathlib

import pytest

from modelrollout.api import optimization as api
from modelrollout.optimize.candidates import registry

A = registry.Accelerator


def keys(specs: list[api.CandidateSpec]) -> list[str]:
    return [s.key for s in specs]


@pytest.mark.parametrize(
    ("accelerator", "expected"),
    [
        (A.CPU, ["onnxruntime-fp32-graph-opt", "onnxruntime-int8-dynamic", "onnxruntime-int8-static",
                 "openvino-fp32-convert", "openvino-int8-nncf"]),
        (A.NVIDIA_GPU, ["onnxruntime-fp32-graph-opt", "onnxruntime-fp16-convert"]),
        (A.INTEL_GPU, ["onnxruntime-fp32-graph-opt", "openvino-fp32-convert",
                       "openvino-fp16-convert", "openvino-int8-nncf"]),
        (A.NPU, ["onnxruntime-fp32-graph-opt", "openvino-fp16-convert", "openvino-int8-nncf"]),
    ],
)  # fmt: skip
def test_auto_per_accelerator(accelerator: registry.Accelerator, expected: list[str]) -> None:
    assert keys(registry.auto(accelerator, "onnx", 1000)) == expected


@pytest.mark.parametrize("accelerator", list(A))
def test_auto_for_openvino_sources_has_no_onnxruntime(accelerator: registry.Accelerator) -> None:
    specs = registry.auto(accelerator, "openvino", 1000)
    assert specs[0].key == "openvino-fp32-convert"
    assert all(s.runtime is api.Runtime.OPENVINO for s in specs)
    assert len(set(keys(specs))) == len(specs)


def test_large_models_add_weight_compression() -> None:
    small = keys(registry.auto(A.CPU, "onnx", registry.LARGE_MODEL_BYTES - 1))
    large = keys(registry.auto(A.CPU, "onnx", registry.LARGE_MODEL_BYTES))
    assert "openvino-int8-weight-compression" not in small
    assert "openvino-int8-weight-compression" in large


def test_explicit_list_gets_the_reference_first_and_no_duplicates() -> None:
    listed = registry.parse(
        '[{"runtime":"openvino","precision":"int8","method":"nncf"},'
        ' {"runtime":"openvino","precision":"int8","method":"nncf"}]'
    )
    assert listed is not None
    assert keys(registry.with_reference(listed, "onnx")) == [
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
    assert registry.needs_reduce_range(flags) is reduce


def test_cpu_flags_reads_cpuinfo(tmp_path: pathlib.Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 fma\n")
    assert registry.cpu_flags(info) == frozenset({"fpu", "avx2", "fma"})
    assert registry.cpu_flags(tmp_path / "missing") == frozenset()


@pytest.mark.parametrize(
    ("accelerator", "ort", "ov"),
    [(A.CPU, "CPU", "CPU"), (A.NVIDIA_GPU, "CUDA", "CPU"), (A.INTEL_GPU, "CPU", "GPU"),
     (A.NPU, "CPU", "NPU")],
)  # fmt: skip
def test_device_for(accelerator: registry.Accelerator, ort: str, ov: str) -> None:
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
