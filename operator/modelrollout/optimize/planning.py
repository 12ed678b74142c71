"""The search plan (pure): which candidate to try next, and which to skip, and why.

Candidates are tried in order of the throughput gain expected on this hardware, so that
a Job whose `optimization.timeout` cannot fit them all still measures the likely winners.
Before each one the Job asks `admit`: a candidate whose expected cost (a multiple of what
the FP32 reference took to build, evaluate and benchmark) would run past the deadline is
skipped with a reason, and a cheaper one after it may still fit.

The expected gains are priors, not results: they only order the search. They come from
measurements of a BERT-like encoder (MiniLM-L6) batch 32: on an AVX2 CPU without VNNI
ONNX Runtime dynamic INT8 reaches about 1.5x FP32, static QDQ 1.6x (outside a 0.01
cosine budget) and OpenVINO INT8 0.8x; on a VNNI/AMX Xeon OpenVINO INT8 (NNCF) about 5x.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from modelrollout.api import optimization as api
from modelrollout.optimize import hardware

_R, _P, _M = api.Runtime, api.Precision, api.Method

# (runtime, precision, method) -> (gain without int8 dot products, gain with VNNI/AMX)
_CPU_GAIN: Final[dict[tuple[api.Runtime, api.Precision, api.Method], tuple[float, float]]] = {
    (_R.ONNXRUNTIME, _P.FP32, _M.GRAPH_OPT): (1.0, 1.0),
    # Below plain static: the nodes kept in FP32 cost some of its speed.
    (_R.ONNXRUNTIME, _P.INT8, _M.STATIC_MIXED): (1.45, 2.4),
    (_R.ONNXRUNTIME, _P.INT8, _M.STATIC): (1.6, 2.6),
    (_R.ONNXRUNTIME, _P.INT8, _M.DYNAMIC): (1.5, 2.0),
    (_R.ONNXRUNTIME, _P.FP16, _M.CONVERT): (0.5, 0.5),  # no FP16 kernels on most CPUs
    (_R.OPENVINO, _P.FP32, _M.CONVERT): (1.05, 1.05),
    (_R.OPENVINO, _P.FP16, _M.CONVERT): (1.0, 1.0),  # computed in FP32 on CPU
    (_R.OPENVINO, _P.INT8, _M.NNCF): (0.8, 5.0),
    (_R.OPENVINO, _P.INT8, _M.NNCF_ACCURACY): (0.75, 4.5),
    (_R.OPENVINO, _P.INT8, _M.WEIGHT_COMPRESSION): (0.95, 1.1),
    (_R.OPENVINO, _P.INT4, _M.WEIGHT_COMPRESSION): (0.9, 1.05),
}
# On accelerators the lower precision that the device runs natively is the likely win.
_DEVICE_GAIN: Final[dict[tuple[api.Precision, api.Method], float]] = {
    (_P.FP16, _M.CONVERT): 2.0,
    (_P.INT8, _M.NNCF): 2.5,
    (_P.INT8, _M.NNCF_ACCURACY): 2.3,
    (_P.INT8, _M.WEIGHT_COMPRESSION): 1.2,
    (_P.INT4, _M.WEIGHT_COMPRESSION): 1.1,
}
# Expected work of a candidate as a multiple of the reference's build + evaluation + benchmark.
_COST: Final[dict[api.Method, float]] = {
    _M.GRAPH_OPT: 1.0,
    _M.CONVERT: 1.5,
    _M.DYNAMIC: 2.0,
    _M.STATIC: 3.0,
    _M.STATIC_MIXED: 4.0,  # calibration, then trials bounded by the search time (optimizing)
    _M.NNCF: 4.0,
    _M.NNCF_ACCURACY: 10.0,
    _M.WEIGHT_COMPRESSION: 2.0,
}
# Large models (memory-bandwidth bound) gain from smaller weights even without INT8 compute.
LARGE_MODEL_GAIN: Final = 1.3


def expected_gain(spec: api.CandidateSpec, cpu: hardware.Cpu, on_cpu: bool = True, large: bool = False) -> float:
    """Throughput expected relative to FP32 on this hardware (a prior, for ordering only)."""
    if large and spec.method is _M.WEIGHT_COMPRESSION:
        return LARGE_MODEL_GAIN
    if not on_cpu:
        return 1.0 if spec.precision is _P.FP32 else _DEVICE_GAIN.get((spec.precision, spec.method), 1.0)
    without, with_dot = _CPU_GAIN.get((spec.runtime, spec.precision, spec.method), (1.0, 1.0))
    return with_dot if cpu.int8_dot else without


def expected_cost(spec: api.CandidateSpec) -> float:
    return _COST.get(spec.method, 3.0)


def ordered(
    specs: list[api.CandidateSpec], cpu: hardware.Cpu, on_cpu: bool = True, large: bool = False
) -> list[api.CandidateSpec]:
    """The first spec (the reference) stays first; the rest by expected gain, ties in given order."""
    if not specs:
        return []
    head, rest = specs[0], specs[1:]
    order = sorted(range(len(rest)), key=lambda i: (-expected_gain(rest[i], cpu, on_cpu, large), i))
    return [head, *(rest[i] for i in order)]


@dataclasses.dataclass(frozen=True)
class Clock:
    """Seconds since the Job started, its deadline, and what the reference took."""

    elapsed: float
    deadline: float | None  # None: no deadline
    reference_seconds: float
    reserve: float = 0.0  # kept for the upload and the report


def admit(spec: api.CandidateSpec, clock: Clock) -> str:
    """Empty when the candidate fits before the deadline; else why it is skipped."""
    if clock.deadline is None:
        return ""
    need = expected_cost(spec) * max(clock.reference_seconds, 0.0)
    left = clock.deadline - clock.reserve - clock.elapsed
    if need <= left:
        return ""
    return f"not tried: about {need:.0f}s needed and {max(left, 0.0):.0f}s left before the optimization timeout"


def remaining(clock: Clock) -> float | None:
    """Seconds left for work before the deadline (None without one)."""
    if clock.deadline is None:
        return None
    return max(0.0, clock.deadline - clock.reserve - clock.elapsed)
