from __future__ import annotations

import pytest

from modelrollout.api import optimization as api
from modelrollout.optimize import selecting

REF = "onnxruntime-fp32-graph-opt"


def result(
    key: str, throughput: float | None, drop: float | None, size: int = 100, reason: str = ""
) -> api.CandidateResult:
    runtime, precision, method = key.split("-", 2)
    return api.CandidateResult(
        runtime=api.Runtime(runtime),
        precision=api.Precision(precision),
        method=api.Method(method),
        throughput=throughput,
        accuracyDrop=drop,
        sizeBytes=size,
        passed=False,
        reason=reason,
    )


def test_fastest_within_budget_wins() -> None:
    s = selecting.select([result(REF, 100, 0.0), result("onnxruntime-int8-dynamic", 150, 0.005)], REF, 0.01)
    assert s.winner is not None and s.winner.key == "onnxruntime-int8-dynamic"
    ref = s.results[0]
    assert ref.passed and ref.reason == "not chosen: slower than onnxruntime-int8-dynamic"


def test_faster_but_over_budget_never_wins() -> None:
    s = selecting.select([result(REF, 100, 0.0), result("onnxruntime-int8-static", 300, 0.02)], REF, 0.01)
    assert s.winner is not None and s.winner.key == REF
    over = s.results[1]
    assert not over.passed and "exceeds maxDrop 0.01" in over.reason


def test_drop_exactly_at_budget_passes() -> None:
    s = selecting.select([result(REF, 100, 0.0), result("openvino-int8-nncf", 120, 0.01)], REF, 0.01)
    assert s.winner is not None and s.winner.key == "openvino-int8-nncf"


@pytest.mark.parametrize(("fast_size", "winner"), [(50, "onnxruntime-int8-dynamic"), (500, REF)])
def test_tie_goes_to_smaller_artifact(fast_size: int, winner: str) -> None:
    # 1% apart is inside the tie tolerance: size decides.
    s = selecting.select(
        [result(REF, 100, 0.0, size=100), result("onnxruntime-int8-dynamic", 101, 0.0, fast_size)],
        REF,
        0.01,
    )
    assert s.winner is not None and s.winner.key == winner
    loser = next(r for r in s.results if r.key != winner)
    assert loser.passed and loser.reason.startswith("not chosen: tied with")


def test_tie_on_size_goes_to_smaller_drop() -> None:
    s = selecting.select(
        [
            result(REF, 50, 0.0),
            result("openvino-int8-nncf", 100, 0.004, 10),
            result("onnxruntime-int8-dynamic", 100, 0.001, 10),
        ],
        REF,
        0.01,
    )
    assert s.winner is not None and s.winner.key == "onnxruntime-int8-dynamic"


def test_reference_always_qualifies_even_with_a_drop() -> None:
    # Under labelled accuracy the reference's own score is not perfect; it still qualifies.
    s = selecting.select([result(REF, 100, 0.5)], REF, 0.01)
    assert s.winner is not None and s.winner.key == REF and s.results[0].passed


def test_failed_candidates_keep_their_reason() -> None:
    s = selecting.select(
        [
            result(REF, 100, 0.0),
            result("onnxruntime-fp16-convert", None, None, reason="load failed: x"),
        ],
        REF,
        0.01,
    )
    assert s.results[1].reason == "load failed: x" and not s.results[1].passed


def test_unmeasured_candidate_fails() -> None:
    s = selecting.select([result(REF, 100, 0.0), result("openvino-fp32-convert", None, 0.0)], REF, 0.01)
    assert s.results[1].reason == "not measured" and not s.results[1].passed


def test_no_winner_when_reference_failed() -> None:
    s = selecting.select(
        [result(REF, None, None, reason="load failed"), result("openvino-fp32-convert", 500, 0.0)],
        REF,
        0.01,
    )
    assert s.winner is None
