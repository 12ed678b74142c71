"""The winner rule (pure).

A candidate passes when it was built, ran, its accuracy drop is within `maxDrop` and,
when `maxLatencyMs` is set, its p99 at batch 1 is within it; the FP32 reference is inside
the accuracy budget by definition. Among those that pass the objective decides:
`throughput` (highest batch throughput per replica), `latency` (lowest p99 at batch 1) or
`cost` (lowest cost per million inferences; the throughput rule when the pool has no
price, as cost on one pool is its inverse). Candidates within `TIE_TOLERANCE` of the best
are tied, and a tie goes to the smaller artifact, then to the smaller accuracy drop.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from modelrollout.api import optimization as api

TIE_TOLERANCE: Final = 0.02  # relative difference that is measurement noise
DROP_EPSILON: Final = 1e-9  # float noise in a drop computed from equal scores


@dataclasses.dataclass(frozen=True)
class Selection:
    results: list[api.CandidateResult]
    winner: api.CandidateResult | None
    reason: str = ""  # why there is no winner


def judge(
    result: api.CandidateResult, reference_key: str, max_drop: float, max_latency_ms: float | None = None
) -> api.CandidateResult:
    """Set `passed` and `reason` from what was measured."""
    if result.reason:
        return result.model_copy(update={"passed": False})
    if result.throughput is None or result.accuracyDrop is None:
        return result.model_copy(update={"passed": False, "reason": "not measured"})
    if result.key != reference_key and result.accuracyDrop > max_drop + DROP_EPSILON:
        reason = f"accuracy drop {result.accuracyDrop:.4g} exceeds maxDrop {max_drop:g}"
        return result.model_copy(update={"passed": False, "reason": reason})
    if max_latency_ms is not None and (result.p99Ms is None or result.p99Ms > max_latency_ms):
        p99 = "unmeasured" if result.p99Ms is None else f"{result.p99Ms:.4g} ms"
        reason = f"p99 at batch 1 {p99} exceeds maxLatencyMs {max_latency_ms:g}"
        return result.model_copy(update={"passed": False, "reason": reason})
    return result.model_copy(update={"passed": True, "reason": ""})


def value(result: api.CandidateResult, objective: api.Objective) -> float:
    """Higher is better, under the objective."""
    if objective is api.Objective.LATENCY:
        return 1.0 / result.p99Ms if result.p99Ms else 0.0
    if objective is api.Objective.COST and result.costPerMillion is not None:
        return 1.0 / result.costPerMillion if result.costPerMillion > 0 else float("inf")
    return result.throughput or 0.0


def _ran(result: api.CandidateResult) -> bool:
    return result.throughput is not None and result.accuracyDrop is not None


def select(
    results: list[api.CandidateResult],
    reference_key: str,
    max_drop: float,
    objective: api.Objective = api.Objective.THROUGHPUT,
    max_latency_ms: float | None = None,
) -> Selection:
    judged = [judge(r, reference_key, max_drop, max_latency_ms) for r in results]
    reference = next((r for r in judged if r.key == reference_key), None)
    if reference is None or not _ran(reference):
        # Without a working reference there is nothing to judge the others by.
        why = reference.reason if reference is not None else "not measured"
        return Selection(judged, None, f"reference {reference_key} failed: {why}")
    passed = [r for r in judged if r.passed]
    if not passed:
        fastest = min((r.p99Ms for r in judged if r.p99Ms is not None), default=None)
        detail = f" (lowest p99 measured {fastest:.4g} ms)" if fastest is not None else ""
        bound = f"maxLatencyMs {max_latency_ms:g}" if max_latency_ms is not None else "the budget"
        return Selection(judged, None, f"no candidate meets {bound}{detail}")
    best = max(value(r, objective) for r in passed)
    tied = [r for r in passed if value(r, objective) >= best * (1 - TIE_TOLERANCE)]
    winner = min(
        tied,
        key=lambda r: (r.sizeBytes if r.sizeBytes is not None else 2**63, r.accuracyDrop or 0.0),
    )
    worse = {
        api.Objective.THROUGHPUT: "slower than",
        api.Objective.LATENCY: "higher p99 than",
        api.Objective.COST: "costlier than",
    }[objective]
    if objective is api.Objective.COST and winner.costPerMillion is None:
        worse = "slower than"
    out = []
    for r in judged:
        if r.passed and r.key != winner.key:
            why = "tied with" if r in tied else worse
            out.append(r.model_copy(update={"reason": f"not chosen: {why} {winner.key}"}))
        else:
            out.append(r)
    return Selection(out, winner)
