"""Observations: what the shell read from the cluster and Prometheus for one pass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from modelrollout.api.optimization import OptimizationReport
from modelrollout.rollout.verdicts import Verdict


class JobPhase(StrEnum):
    ABSENT = "absent"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class JobState:
    phase: JobPhase
    name: str = ""
    report: OptimizationReport | None = None
    reason: str = ""  # why it failed, or why its pod cannot start
    attempt: int = 1  # which attempt at the revision the Job belongs to (see EnsureOptimizationJob)


@dataclass(frozen=True)
class DeploymentState:
    version: str
    revision: str
    replicas: int  # desired
    ready: int  # ready replicas of the current template
    updated: bool = True  # the controller has rolled out the current template
    pending_reason: str = ""  # why a pod of it cannot be scheduled, from the scheduler


@dataclass(frozen=True)
class Placement:
    """Whether some node can host the target pool; reason says why not."""

    possible: bool = True
    reason: str = ""


@dataclass(frozen=True)
class Observations:
    now: datetime
    generation: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    job: JobState = field(default_factory=lambda: JobState(JobPhase.ABSENT))
    stable: DeploymentState | None = None
    canary: DeploymentState | None = None
    baseline: DeploymentState | None = None  # the stable version beside the canary (compareWith: baseline)
    placement: Placement = field(default_factory=Placement)
    verdicts: tuple[Verdict, ...] | None = None  # None: no analysis ran in this pass
    # role -> the HorizontalPodAutoscaler whose scaleTargetRef is that role's Deployment
    autoscalers: Mapping[str, str] = field(default_factory=dict)
