"""The winner rule (pure).

A candidate passes when it was built, ran, and its accuracy drop is within `maxDrop`;
the FP32 reference passes whenever it ran. Among those that pass the fastest (highest
batch throughput) wins; candidates within `TIE_TOLERANCE` of the fastest are tied, and a
tie goes to the smaller artifact, then to the smaller accuracy drop.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from modelrollout.api import optimization as api

TIE_TOLERANCE: Final = 0.02  # relative throughput difference that is measurement noise
DROP_EPSILON: Final = 1e-9  # float noise in a drop computed from equal scores


@dataclasses.dataclass(frozen=True)
class Selection:
    results: list[api.CandidateResult]
    winner: api.CandidateResult | None


def judge(result: api.CandidateResult, reference_key: str, max_drop: float) -> api.CandidateResult:
    """Set `passed` and `reason` from what was measured."""
    if result.reason:
        return result.model_copy(update={"passed": False})
    if result.throughput is None or result.accuracyDrop is None:
        return result.model_copy(update={"passed": False, "reason": "not measured"})
    if result.key != reference_key and result.accuracyDrop > max_drop + DROP_EPSILON:
        reason = f"accuracy drop {result.accuracyDrop:.4g} exceeds maxDrop {max_drop:g}"
        return result.model_copy(update={"passed": False, "reason": reason})
    return result.model_copy(update={"passed": True, "reason": ""})


def select(results: list[api.CandidateResult], reference_key: str, max_drop: float) -> Selection:
    judged = [judge(r, reference_key, max_drop) for r in results]
    passed = [r for r in judged if r.passed]
    if not any(r.key == reference_key for r in passed):
        # Without a working reference there is nothing to judge the others by.
        return Selection(judged, None)
    best = max(r.throughput or 0.0 for r in passed)
    tied = [r for r in passed if (r.throughput or 0.0) >= best * (1 - TIE_TOLERANCE)]
    winner = min(
        tied,
        key=lambda r: (r.sizeBytes if r.sizeBytes is not None else 2**63, r.accuracyDrop or 0.0),
    )
    out = []
    for r in judged:
        if r.passed and r.key != winner.key:
            why = "tied with" if r in tied else "slower than"
            out.append(r.model_copy(update={"reason": f"not chosen: {why} {winner.key}"}))
        else:
            out.append(r)
    return Selection(out, winner)
