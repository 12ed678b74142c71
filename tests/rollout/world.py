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
from modelrollout.metrics import queries
from modelrollout.rollout import actions, machine, verdicts
from modelrollout.rollout.observations import DeploymentState, JobPhase, JobState, Observations, Placement
from modelrollout.rollout.revisions import revision_of
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
    """The cluster as the machine sees it, moved by its actions one tick later.

    Like the real controllers: a Job of a given name is created once (a second create is
    a conflict, not a fresh Job), and a Deployment whose template or size changes is ready
    only `rollout_ticks` ticks later (`broken` versions never become ready).
    """

    spec: v1alpha1.ModelDeploymentSpec
    status: v1alpha1.ModelDeploymentStatus = field(default_factory=v1alpha1.ModelDeploymentStatus)
    now: datetime = T0
    generation: int = 1
    annotations: dict[str, str] = field(default_factory=dict)
    jobs: dict[str, JobState] = field(default_factory=dict)
    job_fails: bool = False
    deployments: dict[str, DeploymentState] = field(default_factory=dict)
    rollout_ticks: int = 1
    broken: set[str] = field(default_factory=set)
    placement: Placement = field(default_factory=Placement)
    # role -> HPA targeting its Deployment; `hpa_replicas` is what such an HPA scales it to.
    autoscalers: dict[str, str] = field(default_factory=dict)
    hpa_replicas: int = 1
    # What the provider will measure: a function of the canary version.
    measure: Callable[[str], list[verdicts.Evidence]] = lambda version: []
    # The shell could not connect at all (reason, message): no query runs.
    unavailable: tuple[str, str] | None = None
    log: list[machine.Decision] = field(default_factory=list)
    queried: int = 0
    # Each look's canary weight and the side the shell would read beside the canary (None: no side).
    compared: list[tuple[int, queries.Side | None]] = field(default_factory=list)
    _ready_in: dict[str, int] = field(default_factory=dict)

    def set_spec(self, spec: v1alpha1.ModelDeploymentSpec) -> None:
        self.spec = spec
        self.generation += 1

    @property
    def job(self) -> JobState:
        """The Job the shell would read for this pass: the current revision's current attempt."""
        revision = revision_of(self.spec)
        attempt = machine.optimization_attempt(self.status, revision)
        return self.jobs.get(job_key(revision, attempt), JobState(JobPhase.ABSENT, attempt=attempt))

    def observations(self) -> Observations:
        found: tuple[verdicts.Verdict, ...] | None = None
        analysis = self.spec.rollout.analysis
        if machine.analysis_due(self.spec, self.status, self.now) and analysis is not None:
            assert self.status.canary is not None
            self.queried += 1
            round_ = verdicts.plan(self.spec.rollout, self.status, self.now)
            stable = self.status.stable
            side = queries.compared_side(round_.against, stable.version if stable else None)
            self.compared.append((self.status.canary_weight, side))
            if self.unavailable is not None:
                found = tuple(verdicts.unavailable(round_.checks, *self.unavailable))
            else:
                found = tuple(
                    verdicts.judge_all(
                        round_.checks, self.measure(self.status.canary.version), round_.look, round_.planned
                    )
                )
        return Observations(
            now=self.now,
            generation=self.generation,
            annotations=dict(self.annotations),
            job=self.job,
            stable=self.deployments.get(names.ROLE_STABLE),
            canary=self.deployments.get(names.ROLE_CANARY),
            baseline=self.deployments.get(names.ROLE_BASELINE),
            placement=self.placement,
            verdicts=found,
            autoscalers=dict(self.autoscalers),
        )

    def tick(self, seconds: float = 5) -> machine.Decision:
        obs = self.observations()
        decision = machine.decide(self.spec, self.status, obs)
        self.log.append(decision)
        self.status = decision.status
        self.apply(decision.actions)
        self.now += timedelta(seconds=seconds)
        return decision

    def apply(self, todo: tuple[actions.Action, ...]) -> None:
        self.converge()
        for action in todo:
            match action:
                case actions.EnsureOptimizationJob():
                    key = job_key(action.revision, action.attempt)
                    if self.placement.possible and key not in self.jobs:
                        self.jobs[key] = JobState(JobPhase.RUNNING, name=f"optimize-{key}", attempt=action.attempt)
                case actions.EnsureDeployment():
                    current = self.deployments.get(action.role)
                    ref = action.ref
                    # A count left out is the HPA's (in a real cluster the HPA may
                    # take a sync period to get there: no matter for the machine).
                    replicas = self.hpa_replicas if action.replicas is None else action.replicas
                    if current is None or (current.revision, current.replicas) != (ref.revision, replicas):
                        ready = current.ready if current is not None and current.revision == ref.revision else 0
                        self.deployments[action.role] = DeploymentState(
                            ref.version, ref.revision, replicas, min(ready, replicas), updated=False
                        )
                        self._ready_in[action.role] = self.rollout_ticks
                case actions.RemoveDeployment():
                    self.deployments.pop(action.role, None)
                    self._ready_in.pop(action.role, None)
                case _:
                    pass

    def converge(self) -> None:
        """What the Job and Deployment controllers did since the last tick."""
        for key, job in list(self.jobs.items()):
            if job.phase is JobPhase.RUNNING:
                report = report_for(self.spec.model.version, ok=not self.job_fails)
                phase = JobPhase.FAILED if self.job_fails else JobPhase.SUCCEEDED
                self.jobs[key] = JobState(
                    phase, name=job.name, report=report, reason=report.reason, attempt=job.attempt
                )
        for role, ticks in list(self._ready_in.items()):
            dep = self.deployments[role]
            left = min(ticks, self.rollout_ticks)  # a test may speed up a rollout under way
            if left > 1:
                self._ready_in[role] = left - 1
                continue
            del self._ready_in[role]
            schedulable = self.placement.possible and dep.version not in self.broken
            ready = dep.replicas if schedulable else 0
            self.deployments[role] = DeploymentState(dep.version, dep.revision, dep.replicas, ready, updated=True)

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


def job_key(revision: str, attempt: int) -> str:
    return revision if attempt == 1 else f"{revision}-{attempt}"


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
