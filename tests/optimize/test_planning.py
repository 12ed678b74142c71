"""The CPU's features, the search plan under a deadline, and what an inference costs."""

from __future__ import annotations

import pathlib
from typing import Final

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelrollout.api import optimization as api
from modelrollout.api.v1alpha1 import ModelFormat
from modelrollout.optimize import economics, hardware, planning
from modelrollout.optimize.candidates import registry

EPYC: Final = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 avx f16c fma avx2 bmi2 sha_ni
processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 avx f16c fma avx2 bmi2 sha_ni
"""
SAPPHIRE: Final = "model name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t: avx2 avx512f avx512_vnni amx_tile amx_int8\n"
GRAVITON: Final = "processor\t: 0\nFeatures\t: fp asimd aes sha2 asimddp\n"

M = api.Method


def spec(runtime: str, precision: str, method: str) -> api.CandidateSpec:
    return api.CandidateSpec.model_validate({"runtime": runtime, "precision": precision, "method": method})


@pytest.mark.parametrize(
    ("text", "model", "features", "int8_dot"),
    [
        (EPYC, "AMD EPYC 7B13", ["avx2"], False),
        (SAPPHIRE, "Intel(R) Xeon(R) Platinum 8480+", ["avx2", "avx512", "vnni", "amx"], True),
        (GRAVITON, "", [], False),
        ("", "", [], False),
    ],
)
def test_cpu_features_from_cpuinfo(text: str, model: str, features: list[str], int8_dot: bool) -> None:
    cpu = hardware.parse_cpuinfo(text)
    assert cpu.model == model and cpu.feature_names() == features and cpu.int8_dot is int8_dot


def test_avx_vnni_alone_counts_as_vnni() -> None:
    assert hardware.Cpu("Alder Lake", frozenset({"avx2", "avx_vnni"})).int8_dot


def test_cpu_reads_the_file_and_survives_its_absence(tmp_path: pathlib.Path) -> None:
    (tmp_path / "cpuinfo").write_text(EPYC)
    assert hardware.cpu(tmp_path / "cpuinfo").feature_names() == ["avx2"]
    missing = hardware.cpu(tmp_path / "missing")
    assert not missing.known and registry.needs_reduce_range(missing) is False


def test_devices_name_runtime_and_device() -> None:
    found = hardware.devices()
    assert "onnxruntime:CPU" in found and "openvino:CPU" in found


AVX2 = hardware.parse_cpuinfo(EPYC)
AMX = hardware.parse_cpuinfo(SAPPHIRE)
DYN = spec("onnxruntime", "int8", "dynamic")
NNCF = spec("openvino", "int8", "nncf")
ACC = spec("openvino", "int8", "nncf-accuracy")


def test_gain_priors_follow_the_int8_dot_product() -> None:
    assert planning.expected_gain(DYN, AVX2) > planning.expected_gain(NNCF, AVX2)
    assert planning.expected_gain(NNCF, AMX) > planning.expected_gain(DYN, AMX)
    wc = spec("openvino", "int4", "weight-compression")
    assert planning.expected_gain(wc, AVX2, large=True) == planning.LARGE_MODEL_GAIN


def test_ordered_keeps_the_reference_first() -> None:
    ref = registry.reference(ModelFormat.ONNX)
    assert planning.ordered([ref, NNCF, DYN], AVX2) == [ref, DYN, NNCF]
    assert planning.ordered([ref, DYN, NNCF], AMX) == [ref, NNCF, DYN]
    assert planning.ordered([], AVX2) == []


def test_admit_without_a_deadline_admits_everything() -> None:
    assert planning.admit(ACC, planning.Clock(10_000, None, 500)) == ""
    assert planning.remaining(planning.Clock(10, None, 5)) is None


def test_admit_skips_what_cannot_finish_and_says_why() -> None:
    clock = planning.Clock(elapsed=100, deadline=400, reference_seconds=30, reserve=30)
    assert planning.admit(DYN, clock) == ""  # 60s needed, 270s left
    why = planning.admit(ACC, clock)  # 300s needed
    assert why == "not tried: about 300s needed and 270s left before the optimization timeout"


@given(
    elapsed=st.floats(0, 1e4),
    deadline=st.floats(1, 1e4),
    reference=st.floats(0, 1e3),
    method=st.sampled_from([M.DYNAMIC, M.STATIC, M.STATIC_MIXED, M.NNCF, M.NNCF_ACCURACY, M.CONVERT]),
)
def test_an_admitted_candidate_is_expected_to_finish_before_the_deadline(
    elapsed: float, deadline: float, reference: float, method: api.Method
) -> None:
    candidate = spec("openvino" if method in (M.NNCF, M.NNCF_ACCURACY, M.CONVERT) else "onnxruntime", "int8", method)
    clock = planning.Clock(elapsed, deadline, reference)
    fits = planning.expected_cost(candidate) * reference <= deadline - elapsed
    assert (planning.admit(candidate, clock) == "") is fits


def test_cost_per_million() -> None:
    # 0.36 per hour serving 100 inferences/s: 360,000 an hour, so 1.00 per million.
    assert economics.cost_per_million(0.36, 100.0) == pytest.approx(1.0)
    assert economics.cost_per_million(None, 100.0) is None
    assert economics.cost_per_million(0.36, None) is None
    assert economics.cost_per_million(0.36, 0.0) is None


@given(price=st.floats(0.001, 1000), slow=st.floats(0.1, 1e5), faster=st.floats(1.0, 100))
def test_faster_is_never_costlier(price: float, slow: float, faster: float) -> None:
    a, b = economics.cost_per_million(price, slow), economics.cost_per_million(price, slow * faster)
    assert a is not None and b is not None and b <= a
