"""What the shell must read for one pass: a pure function of spec, status and clock.

The shell reads exactly this, calls the analysis provider when asked, and hands the
results to `machine.decide`; it decides nothing about what to look at itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from modelrollout.api.v1alpha1 import ModelDeploymentSpec, ModelDeploymentStatus, Phase
from modelrollout.rollout import machine
from modelrollout.rollout.revisions import revision_of

_ROLLING_PHASES = frozenset({Phase.PENDING, Phase.OPTIMIZING, Phase.DEPLOYING})


@dataclass(frozen=True)
class Reads:
    placement: bool  # can some node host the pool? (only while a version is being placed)
    job_revision: str | None  # the revision whose optimization Job (and its pods) to read
    job_attempt: int  # which attempt at that revision (a retry after a failure is a new Job)
    analysis: bool  # query the metrics provider for this pass's checks


def rolling(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> bool:
    """A version is on its way in: the spec moved on, or the rollout has not placed it yet."""
    return status.target_revision != revision_of(spec) or status.phase in _ROLLING_PHASES


def plan(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> Reads:
    moving = rolling(spec, status)
    optimizing = spec.optimization.enabled and (moving or status.phase is Phase.OPTIMIZING)
    return Reads(
        placement=moving,
        job_revision=revision_of(spec) if optimizing else None,
        job_attempt=machine.optimization_attempt(status, revision_of(spec)),
        analysis=spec.rollout.analysis is not None
        and status.canary is not None
        and machine.analysis_due(spec, status, now),
    )
