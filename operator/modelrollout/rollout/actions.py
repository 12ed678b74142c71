"""Actions: what the shell must make true in the cluster. Plain immutable values."""

from __future__ import annotations

from dataclasses import dataclass

from modelrollout.api.v1alpha1 import VersionRef


@dataclass(frozen=True)
class EnsureOptimizationJob:
    """The optimization Job for this revision and attempt exists (created once, never updated).

    A retry after a failed optimization is a new attempt with a Job of its own: the failed
    Job is kept (for its logs, until its TTL) and would otherwise answer "failed" again.
    """

    revision: str
    version: str
    attempt: int = 1


@dataclass(frozen=True)
class EnsureDeployment:
    """The Deployment of a role runs this version with this many replicas.

    `replicas` None: the count is not the operator's (an HPA owns it), so the applied
    manifest leaves it out.
    """

    role: str
    ref: VersionRef
    replicas: int | None


@dataclass(frozen=True)
class RemoveDeployment:
    """The Deployment of a role is gone (its pods drain through their grace period)."""

    role: str


@dataclass(frozen=True)
class SetTraffic:
    """The router sends `canary_weight` percent to the canary, `baseline_weight` to the baseline, the rest to stable."""

    canary_weight: int
    baseline_weight: int = 0


@dataclass(frozen=True)
class EmitEvent:
    """A Kubernetes Event on the ModelDeployment."""

    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True)
class CountRollback:
    """One rollback, for the operator's metrics."""

    reason: str


Action = EnsureOptimizationJob | EnsureDeployment | RemoveDeployment | SetTraffic | EmitEvent | CountRollback
