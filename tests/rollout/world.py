"""A tiny simulated cluster for driving the pure state machine through whole rollouts.

It only applies the actions the machine asks for, the way the Job and Deployment
controllers would, one tick later; nothing here decides anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from modelrollout import names
from modelrollout.api import v1alpha1
from modelrollout.api.optimization import (
    CandidateResult,
    Method,
    Metric,
    OptimizationReport,
    Precision,
    Runtime,
    SelectedArtifact,
)
from modelrollout.rollout import actions, machine, verdicts
from modelrollout.rollout.observations import DeploymentState, JobPhase, JobState, Observations, Placement
from modelrollout.rollout.statistics import Histogram
from modelrollout.serve.metrics import LATENCY_BUCKETS
from tests import specs

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def spec_with(**patch: Any) -> v1alpha1.ModelDeploymentSpec:
    raw = specs.merge(specs.base_spec(), patch)
    raw = specs.merge(
        raw,
        {
            "serving": {"replicas": 4},
            "rollout": {
                "steps": [{"weight": 25, "pause": "1m"}, {"weight": 50, "pause": "1m"}, {"weight": 100}],
                "analysis": {"interval": "30s", "failureLimit": 2, "inconclusiveLimit": 3},
            },
        },
    )
    raw = specs.merge(raw, patch)
    return v1alpha1.ModelDeploymentSpec.model_validate(raw)


def report_for(version: str, *, ok: bool = True) -> OptimizationReport:
    candidate = CandidateResult(
        runtime=Runtime.ONNXRUNTIME, precision=Precision.INT8, method=Method.DYNAMIC, passed=True, throughput=150.0
    )
    return OptimizationReport(
        model="minilm",
        version=version,
        metric=Metric.COSINE,
        maxDrop=0.01,
        succeeded=ok,
        reason="" if ok else "model.onnx: protobuf parsing failed",
        selected=SelectedArtifact(
            runtime=Runtime.ONNXRUNTIME,
            precision=Precision.INT8,
            method=Method.DYNAMIC,
            uri=f"file:///artifacts/{version}/model.onnx",
            throughputRatio=1.5,
        )
        if ok
        else None,
        candidates=[candidate],
    )


@dataclass
class World:
    spec: v1alpha1.ModelDeploymentSpec
    status: v1alpha1.ModelDeploymentStatus = field(default_factory=v1alpha1.ModelDeploymentStatus)
    now: datetime = T0
    generation: int = 1
    annotations: dict[str, str] = field(default_factory=dict)
    job: JobState = field(default_factory=lambda: JobState(JobPhase.ABSENT))
    job_fails: bool = False
    deployments: dict[str, DeploymentState] = field(default_factory=dict)
    placement: Placement = field(default_factory=Placement)
    # What the provider will measure: a function of the canary version.
    measure: Callable[[str], list[verdicts.Evidence]] = lambda version: []
    log: list[machine.Decision] = field(default_factory=list)
    queried: int = 0

    def set_spec(self, spec: v1alpha1.ModelDeploymentSpec) -> None:
        self.spec = spec
        self.generation += 1
        if self.job.phase is not JobPhase.ABSENT:
            self.job = JobState(JobPhase.ABSENT)  # a new revision has its own Job

    def observations(self) -> Observations:
        found: tuple[verdicts.Verdict, ...] | None = None
        analysis = self.spec.rollout.analysis
        if machine.analysis_due(self.spec, self.status, self.now) and analysis is not None:
            assert self.status.canary is not None
            self.queried += 1
            round_ = verdicts.plan(self.spec.rollout, self.status, self.now)
            found = tuple(
                verdicts.judge_all(round_.checks, self.measure(self.status.canary.version), round_.look, round_.planned)
            )
        return Observations(
            now=self.now,
            generation=self.generation,
            annotations=dict(self.annotations),
            job=self.job,
            stable=self.deployments.get(names.ROLE_STABLE),
            canary=self.deployments.get(names.ROLE_CANARY),
            placement=self.placement,
            verdicts=found,
        )

    def tick(self, seconds: float = 5) -> machine.Decision:
        decision = machine.decide(self.spec, self.status, self.observations())
        self.log.append(decision)
        self.status = decision.status
        self.apply(decision.actions)
        self.now += timedelta(seconds=seconds)
        return decision

    def apply(self, todo: tuple[actions.Action, ...]) -> None:
        # Controllers converge between ticks: what was asked is what is seen next time.
        if self.job.phase is JobPhase.RUNNING:
            report = report_for(self.spec.model.version, ok=not self.job_fails)
            phase = JobPhase.FAILED if self.job_fails else JobPhase.SUCCEEDED
            self.job = JobState(phase, name=self.job.name, report=report, reason=report.reason)
        for action in todo:
            match action:
                case actions.EnsureOptimizationJob():
                    if self.placement.possible:
                        self.job = JobState(JobPhase.RUNNING, name=f"optimize-{action.revision}")
                case actions.EnsureDeployment():
                    ready = action.replicas if self.placement.possible else 0
                    self.deployments[action.role] = DeploymentState(
                        action.ref.version, action.ref.revision, action.replicas, ready
                    )
                case actions.RemoveDeployment():
                    self.deployments.pop(action.role, None)
                case _:
                    pass

    def run_until(self, phase: v1alpha1.Phase, *, limit: int = 200, seconds: float = 5) -> None:
        for _ in range(limit):
            self.tick(seconds)
            if self.status.phase is phase:
                return
        raise AssertionError(f"never reached {phase}; stuck at {self.status.phase}: {self.status.message}")

    def events(self) -> list[str]:
        return [a.reason for d in self.log for a in d.actions if isinstance(a, actions.EmitEvent)]

    def actions_of(self, kind: type) -> list[Any]:
        return [a for d in self.log for a in d.actions if isinstance(a, kind)]


def latencies(n: float, at_ms: float) -> Histogram:
    """`n` requests, all in the bucket just under `at_ms` (the server's own buckets)."""
    bounds = LATENCY_BUCKETS
    index = next(i for i, b in enumerate(bounds) if b * 1000 >= at_ms)
    counts = [0.0] * (len(bounds) + 1)
    counts[index] = n
    return Histogram.of(bounds, counts)


def healthy(version: str) -> list[verdicts.Evidence]:
    return [
        verdicts.Evidence("latency", latency=latencies(5000, 20.0)),
        verdicts.Evidence("errorRate", counts=verdicts.Counts(0, 5000)),
    ]


def slow(version: str) -> list[verdicts.Evidence]:
    return [
        verdicts.Evidence("latency", latency=latencies(5000, 150.0)),
        verdicts.Evidence("errorRate", counts=verdicts.Counts(0, 5000)),
    ]


def quiet(version: str) -> list[verdicts.Evidence]:
    return [
        verdicts.Evidence("latency", latency=latencies(3, 20.0)),
        verdicts.Evidence("errorRate", counts=verdicts.Counts(0, 3)),
    ]


def unsure(version: str) -> list[verdicts.Evidence]:
    """Enough requests for the floor, too few to bound the error share under 1%."""
    return [
        verdicts.Evidence("latency", latency=latencies(5000, 20.0)),
        verdicts.Evidence("errorRate", counts=verdicts.Counts(1, 100)),
    ]


def unreachable(version: str) -> list[verdicts.Evidence]:
    return [
        verdicts.Evidence("latency", error="connection refused"),
        verdicts.Evidence("errorRate", error="connection refused"),
    ]
