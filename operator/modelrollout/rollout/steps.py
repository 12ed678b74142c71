"""Steps, weights and the replica split: what traffic each version should get."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from modelrollout.api import v1alpha1


def weight_of(rollout: v1alpha1.Rollout, step: int | None) -> int:
    """Canary weight at a step index; None (not started) is zero."""
    if step is None:
        return 0
    return rollout.steps[min(step, len(rollout.steps) - 1)].weight


def is_last(rollout: v1alpha1.Rollout, step: int) -> bool:
    return step >= len(rollout.steps) - 1


def is_promotion_gate(rollout: v1alpha1.Rollout, step: int) -> bool:
    """The last step that still compares with stable (or the only one): the canary must prove itself here.

    Earlier steps limit the harm of a clear regression while evidence grows; they move
    on once no check fails on enough evidence. Promotion needs every check passed.
    """
    return step >= len(rollout.steps) - 2


def pause_elapsed(rollout: v1alpha1.Rollout, step: int, started: datetime | None, now: datetime) -> bool:
    """Whether a step's pause is over (a step without pause has none to wait for)."""
    pause = rollout.steps[step].pause
    if pause is None:
        return True
    if started is None:
        return False
    return now - started >= pause


def replica_split(total: int, weight: int, router: v1alpha1.Router) -> tuple[int, int]:
    """(stable, canary) replicas for a canary weight.

    With the replicas router the split of one Service's endpoints *is* the traffic
    split, so the counts follow the weight and add up to the total; the canary gets at
    least one replica as soon as it has any weight, and stable keeps one until the
    canary has everything. With gateway-api the route carries the split, so stable
    stays whole and the canary only needs capacity for its share.
    """
    if weight <= 0:
        return total, 0
    canary = max(1, math.ceil(total * weight / 100))
    if router is v1alpha1.Router.GATEWAY_API:
        return total, min(canary, total)
    if weight >= 100:
        return 0, total
    canary = min(canary, total - 1) if total > 1 else 1
    return max(total - canary, 1), canary


def canary_beside(stable: int, weight: int, router: v1alpha1.Router) -> int:
    """Canary replicas next to a stable whose count is an autoscaler's, not the operator's.

    The stable keeps whatever its HPA gives it. With gateway-api the canary needs
    capacity for its share of that. With the replicas router its share of the
    endpoints is c / (stable + c), so c = stable * w / (100 - w); it is bounded by the
    stable's count (the stable cannot be drained while an HPA holds it), so a weight
    past 50 gets about half the traffic until promotion.
    """
    if weight <= 0:
        return 0
    stable = max(stable, 1)
    if router is v1alpha1.Router.GATEWAY_API:
        return min(max(1, math.ceil(stable * weight / 100)), stable)
    if weight >= 100:
        return stable
    return min(max(1, math.ceil(stable * weight / (100 - weight))), stable)


def baseline_split(total: int, weight: int, router: v1alpha1.Router) -> tuple[int, int, int]:
    """(stable, baseline, canary) replicas for a canary weight when a baseline runs beside the canary.

    The baseline has the canary's replica count and, through the router, the canary's
    share of traffic, taken out of stable's (the spec keeps weights at 50 or below).
    With the replicas router every pod behind the Service gets an equal share, so the
    baseline's pods come out of stable's count; stable keeps one, so that a rollback
    never has to start the stable version from nothing (at 50% the canary then gets a
    little less than half). With gateway-api the route carries the split and stable
    stays whole.
    """
    stable, canary = replica_split(total, weight, router)
    if weight <= 0 or weight >= 100:
        return stable, 0, canary
    if router is v1alpha1.Router.GATEWAY_API:
        return stable, canary, canary
    return max(1, total - 2 * canary), canary, canary


def extension_over(
    rollout: v1alpha1.Rollout, step: int, started: datetime | None, now: datetime, extension: timedelta
) -> bool:
    """Whether a step has run its pause and the longest extension an inconclusive analysis may take."""
    if started is None:
        return False
    pause = rollout.steps[step].pause
    return now - started >= (pause or timedelta(0)) + extension
