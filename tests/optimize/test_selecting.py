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


def timed(key: str, throughput: float, p99: float, drop: float = 0.0, cost: float | None = None) -> api.CandidateResult:
    return result(key, throughput, drop).model_copy(update={"p50Ms": p99 / 2, "p99Ms": p99, "costPerMillion": cost})


DYN, OV = "onnxruntime-int8-dynamic", "openvino-int8-nncf"


@pytest.mark.parametrize(
    ("objective", "winner"),
    [(api.Objective.THROUGHPUT, DYN), (api.Objective.LATENCY, OV), (api.Objective.COST, DYN)],
)
def test_objective_picks_the_winner(objective: api.Objective, winner: str) -> None:
    # The dynamic INT8 model has the best batch throughput; OpenVINO the best batch-1 p99.
    results = [timed(REF, 100, 20, cost=2.0), timed(DYN, 160, 15, cost=1.25), timed(OV, 120, 8, cost=1.6)]
    s = selecting.select(results, REF, 0.01, objective)
    assert s.winner is not None and s.winner.key == winner
    worse = {api.Objective.THROUGHPUT: "slower", api.Objective.LATENCY: "higher p99", api.Objective.COST: "costlier"}
    assert all(
        r.reason.startswith(f"not chosen: {worse[objective]} than {winner}") for r in s.results if r.key != winner
    )


def test_cost_without_a_price_falls_back_to_throughput() -> None:
    s = selecting.select([timed(REF, 100, 20), timed(DYN, 160, 15)], REF, 0.01, api.Objective.COST)
    assert s.winner is not None and s.winner.key == DYN
    assert s.results[0].reason == f"not chosen: slower than {DYN}"


def test_max_latency_excludes_slow_candidates_even_the_fastest() -> None:
    results = [timed(REF, 100, 20), timed(DYN, 160, 15), timed(OV, 120, 8)]
    s = selecting.select(results, REF, 0.01, api.Objective.THROUGHPUT, max_latency_ms=10)
    assert s.winner is not None and s.winner.key == OV
    dyn = next(r for r in s.results if r.key == DYN)
    assert not dyn.passed and dyn.reason == "p99 at batch 1 15 ms exceeds maxLatencyMs 10"


def test_no_candidate_meets_max_latency() -> None:
    s = selecting.select([timed(REF, 100, 20), timed(DYN, 160, 15)], REF, 0.01, max_latency_ms=5)
    assert s.winner is None
    assert s.reason == "no candidate meets maxLatencyMs 5 (lowest p99 measured 15 ms)"
    assert not any(r.passed for r in s.results)


def test_skipped_candidates_keep_their_reason() -> None:
    skipped = result("openvino-int8-nncf-accuracy", None, None, reason="not tried: about 90s needed")
    s = selecting.select([result(REF, 100, 0.0), skipped], REF, 0.01)
    assert s.results[1].reason == "not tried: about 90s needed" and not s.results[1].passed


def test_a_failed_reference_has_no_winner_and_says_why() -> None:
    s = selecting.select([result(REF, None, None, reason="load failed: bad file"), result(DYN, 150, 0.0)], REF, 0.01)
    assert s.winner is None and s.reason == f"reference {REF} failed: load failed: bad file"
