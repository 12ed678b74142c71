"""Whole rollouts through the pure core, with Prometheus answers simulated the way Prometheus makes them.

No I/O: a rollout is `machine.decide()` ticking every analysis interval, fed by a tiny
cluster that does what the actions ask, and by evidence drawn here:

- requests per pod and interval: Poisson at the service rate times the step's weight,
  split over the side's pods (the gateway-api router carries the weight exactly);
- per-request latency: lognormal (sigma 0.5: p99 is 3.2x the median), binned into the
  server's own buckets (`serve.metrics.LATENCY_BUCKETS`) and read back by interpolation
  inside a bucket, as `histogram_quantile` does;
- per-pod, per-interval multiplicative noise (lognormal, sigma `NOISE`) on latency and on
  the error share: pods and moments differ, and that is not a version's effect;
- errors: binomial per request; feedback on a fraction of requests, correct at the
  version's accuracy.

The new judge sees the step's cumulative counts (what `increase(...[step])` returns);
today's judge sees the last `window` of them, as its queries did.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from bench.decisions import today

from modelrollout import names
from modelrollout.api import v1alpha1
from modelrollout.rollout import actions, machine, verdicts
from modelrollout.rollout.observations import DeploymentState, Observations
from modelrollout.rollout.statistics import Histogram
from modelrollout.serve.metrics import LATENCY_BUCKETS

T0: Final = datetime(2026, 1, 1, tzinfo=UTC)
BOUNDS: Final = tuple(LATENCY_BUCKETS)
SIGMA: Final = 0.5  # of log latency
STABLE_P99_MS: Final = 22.0
NOISE: Final = 0.15  # per-pod per-interval multiplicative noise (log sd): at least 10%
FEEDBACK_SHARE: Final = 0.5
STABLE_ERRORS: Final = 0.002
STABLE_ACCURACY: Final = 0.92
LIMIT: Final = timedelta(minutes=45)
_Z99: Final = 2.3263478740408408


@dataclass(frozen=True)
class Version:
    """How a version behaves: latency scale (every quantile alike), error share, accuracy."""

    slower: float = 1.0
    errors: float = STABLE_ERRORS
    accuracy: float = STABLE_ACCURACY


CLASSES: Final = {
    "equal": Version(),
    "slower-1.5x": Version(slower=1.5),
    "slower-1.1x": Version(slower=1.1),
    "accuracy-2pt": Version(accuracy=STABLE_ACCURACY - 0.02),
    "errors+2pt": Version(errors=STABLE_ERRORS + 0.02),
}
STABLE: Final = Version()


def spec(*, replicas: int = 4) -> v1alpha1.ModelDeploymentSpec:
    """The README's rollout (10%/2m, 50%/5m, 100%), p99, every 30s; weights carried exactly."""
    return v1alpha1.ModelDeploymentSpec.model_validate(
        {
            "model": {"name": "minilm", "version": "1", "uri": "file:///models/minilm/1/model.onnx"},
            "optimization": {"enabled": False},
            "serving": {"replicas": replicas},
            "rollout": {
                "steps": [{"weight": 10, "pause": "2m"}, {"weight": 50, "pause": "5m"}, {"weight": 100}],
                "traffic": {"router": "gateway-api", "gateway": {"parentRefs": [{"name": "web"}]}},
                "progressDeadline": "1h",
                "analysis": {
                    "prometheus": {"url": "http://prometheus:9090"},
                    "interval": "30s",
                    "window": "1m",
                    "failureLimit": 2,
                    "minSamples": 50,
                    "confidence": 0.99,
                    "maxStepExtension": "10m",
                    "slos": {
                        "latency": {"quantile": 0.99, "maxMs": 50, "maxRatioToStable": 1.2},
                        "errorRate": {"max": 0.01, "maxIncreaseToStable": 0.005},
                        "accuracy": {"min": 0.85, "minFeedback": 20, "maxDropToStable": 0.015},
                    },
                },
            },
        }
    )


def _normal_cdf(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Phi(x), vectorized (Abramowitz and Stegun 26.2.17, error under 1e-7)."""
    t = 1.0 / (1.0 + 0.2316419 * np.abs(x))
    poly = t * (0.319381530 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))))
    tail = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi) * poly
    return np.where(x >= 0, 1.0 - tail, tail)


_LOG_BOUNDS: Final = np.log(np.array(BOUNDS))
_MEDIAN_S: Final = STABLE_P99_MS / 1000 / math.exp(SIGMA * _Z99)


def bucket_probabilities(scale: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """P(each bucket) for latencies `scale` times stable's, one row per scale; last column +Inf."""
    mu = np.log(_MEDIAN_S * scale)[:, None]
    cdf = _normal_cdf((_LOG_BOUNDS[None, :] - mu) / SIGMA)
    cdf = np.concatenate([cdf, np.ones((len(scale), 1))], axis=1)
    return np.diff(cdf, prepend=0.0, axis=1).clip(0.0, 1.0)


@dataclass
class Counts:
    """One side's counts for one interval (or summed over several)."""

    buckets: npt.NDArray[np.float64]  # per bucket, +Inf last
    requests: float = 0.0
    errors: float = 0.0
    feedback: float = 0.0
    correct: float = 0.0

    @staticmethod
    def zero() -> Counts:
        return Counts(np.zeros(len(BOUNDS) + 1))

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.buckets + other.buckets,
            self.requests + other.requests,
            self.errors + other.errors,
            self.feedback + other.feedback,
            self.correct + other.correct,
        )

    def histogram(self) -> Histogram:
        return Histogram.of(BOUNDS, self.buckets.tolist())


def interval_counts(rng: np.random.Generator, sides: list[tuple[Version, float, int]], seconds: float) -> list[Counts]:
    """What each side's pods serve in one interval: (version, requests/s of the side, pods).

    Requests are a Poisson process per pod; buckets, errors and feedback are independent
    marks of it, so each count is Poisson on its own (thinning) and one draw does all.
    """
    width = len(BOUNDS) + 1
    rows, owners = [], []
    for index, (version, rate, pods) in enumerate(sides):
        if pods <= 0 or rate <= 0:
            continue
        noise = np.exp(rng.normal(0.0, NOISE, size=(2, pods)))
        expected = rate / pods * seconds
        buckets = expected * bucket_probabilities(version.slower * noise[0])
        errors = expected * np.clip(version.errors * noise[1], 0.0, 1.0)
        correct = np.full(pods, expected * FEEDBACK_SHARE * version.accuracy)
        wrong = np.full(pods, expected * FEEDBACK_SHARE * (1.0 - version.accuracy))
        rows.append(np.column_stack([buckets, errors, correct, wrong]))
        owners += [index] * pods
    out = [Counts.zero() for _ in sides]
    if not rows:
        return out
    drawn = rng.poisson(np.vstack(rows)).astype(float)
    who = np.array(owners)
    for index in set(owners):
        mine = drawn[who == index].sum(axis=0)
        buckets = mine[:width]
        out[index] = Counts(
            buckets, float(buckets.sum()), mine[width], mine[width + 1] + mine[width + 2], mine[width + 1]
        )
    return out


Judge = Callable[
    [v1alpha1.ModelDeploymentSpec, v1alpha1.ModelDeploymentStatus, datetime, "Evidence"], tuple[verdicts.Verdict, ...]
]


@dataclass
class Evidence:
    """Interval counts of the current step, per side, oldest first."""

    canary: list[Counts] = field(default_factory=list)
    stable: list[Counts] = field(default_factory=list)


def _sum(items: list[Counts]) -> Counts:
    total = Counts.zero()
    for item in items:
        total = total + item
    return total


def new_judge(
    spec_: v1alpha1.ModelDeploymentSpec, status: v1alpha1.ModelDeploymentStatus, now: datetime, ev: Evidence
) -> tuple[verdicts.Verdict, ...]:
    """The product's judge, on the step's cumulative counts, as the shell calls it."""
    analysis = spec_.rollout.analysis
    assert analysis is not None
    round_ = verdicts.plan(spec_.rollout, status, now)
    canary, stable = _sum(ev.canary), _sum(ev.stable)
    found = []
    for check in round_.checks:
        compared = check.tolerance is not None
        if check.kind is verdicts.Kind.LATENCY:
            found.append(
                verdicts.Evidence(
                    check.name,
                    latency=canary.histogram(),
                    stable_latency=stable.histogram() if compared else None,
                )
            )
        elif check.kind is verdicts.Kind.ERROR_RATE:
            found.append(
                verdicts.Evidence(
                    check.name,
                    counts=verdicts.Counts(canary.errors, canary.requests),
                    stable_counts=verdicts.Counts(stable.errors, stable.requests) if compared else None,
                )
            )
        elif check.kind is verdicts.Kind.ACCURACY:
            found.append(
                verdicts.Evidence(
                    check.name,
                    counts=verdicts.Counts(canary.correct, canary.feedback),
                    stable_counts=verdicts.Counts(stable.correct, stable.feedback) if compared else None,
                )
            )
    return tuple(verdicts.judge_all(round_.checks, found, round_.look, round_.planned))


def today_judge(
    spec_: v1alpha1.ModelDeploymentSpec, status: v1alpha1.ModelDeploymentStatus, now: datetime, ev: Evidence
) -> tuple[verdicts.Verdict, ...]:
    """Today's judge, on the last window's counts (rate() over `window`)."""
    analysis = spec_.rollout.analysis
    assert analysis is not None
    windows = max(1, round(analysis.window / analysis.interval))
    canary, stable = _sum(ev.canary[-windows:]), _sum(ev.stable[-windows:])
    ratio = analysis.slos.latency.max_ratio_to_stable if analysis.slos.latency else None
    found = []
    for check in verdicts.checks_for(analysis):
        if check.kind is verdicts.Kind.LATENCY:
            found.append(today.judge(check, canary.histogram(), stable.histogram(), ratio))
        elif check.kind is verdicts.Kind.ERROR_RATE:
            found.append(today.judge(check, verdicts.Counts(canary.errors, canary.requests), None, None))
        elif check.kind is verdicts.Kind.ACCURACY:
            found.append(today.judge(check, verdicts.Counts(canary.correct, canary.feedback), None, None))
    return tuple(found)


JUDGES: Final[dict[str, Judge]] = {"new": new_judge, "today": today_judge}


@dataclass(frozen=True)
class Outcome:
    result: str  # promoted, rolled back, paused, undecided
    seconds: float  # from the first step's start to the verdict
    looks: int


def stable_status(spec_: v1alpha1.ModelDeploymentSpec) -> v1alpha1.ModelDeploymentStatus:
    """Version 1 deployed and serving, as the machine itself gets there."""
    status = v1alpha1.ModelDeploymentStatus()
    deployments: dict[str, DeploymentState] = {}
    now = T0 - timedelta(hours=1)
    for _ in range(10):
        decision = machine.decide(
            spec_, status, Observations(now=now, generation=1, stable=deployments.get(names.ROLE_STABLE))
        )
        status = decision.status
        _apply(deployments, decision.actions)
        if status.phase is v1alpha1.Phase.SUCCEEDED:
            return status
        now += timedelta(seconds=30)
    raise AssertionError(f"version 1 never deployed: {status.message}")


def _apply(deployments: dict[str, DeploymentState], todo: tuple[actions.Action, ...]) -> None:
    for action in todo:
        if isinstance(action, actions.EnsureDeployment):
            deployments[action.role] = DeploymentState(
                action.ref.version, action.ref.revision, action.replicas, action.replicas
            )
        elif isinstance(action, actions.RemoveDeployment):
            deployments.pop(action.role, None)


def rollout(
    rng: np.random.Generator,
    canary: Version,
    rate: float,
    judge: Judge,
    spec_: v1alpha1.ModelDeploymentSpec,
    start: v1alpha1.ModelDeploymentStatus,
) -> Outcome:
    """One rollout of version 2 over a stable version 1, to its first verdict."""
    new = spec_.model_copy(update={"model": spec_.model.model_copy(update={"version": "2"})})
    analysis = new.rollout.analysis
    assert analysis is not None
    tick = analysis.interval
    status = start
    deployments = {names.ROLE_STABLE: DeploymentState("1", start.stable.revision if start.stable else "", 4, 4)}
    evidence = Evidence()
    now, first_step, step_started, looks = T0, None, None, 0
    weight = 0
    while now - T0 < LIMIT:
        found = None
        if machine.analysis_due(new, status, now):
            found = judge(new, status, now, evidence)
            looks += 1
        obs = Observations(
            now=now,
            generation=2,
            stable=deployments.get(names.ROLE_STABLE),
            canary=deployments.get(names.ROLE_CANARY),
            verdicts=found,
        )
        decision = machine.decide(new, status, obs)
        status = decision.status
        _apply(deployments, decision.actions)
        phase = status.phase
        if first_step is None and status.step_started_at is not None:
            first_step = status.step_started_at
        took = (now - (first_step or now)).total_seconds()
        if phase in {v1alpha1.Phase.PROMOTING, v1alpha1.Phase.SUCCEEDED}:
            return Outcome("promoted", took, looks)
        if phase is v1alpha1.Phase.ROLLED_BACK:
            return Outcome("rolled back", took, looks)
        if phase is v1alpha1.Phase.PAUSED:
            return Outcome("paused", took, looks)
        if status.step_started_at != step_started:  # a new step: its evidence starts afresh
            step_started, evidence = status.step_started_at, Evidence()
        weight = status.canary_weight if phase is v1alpha1.Phase.CANARY else 0
        seconds = tick.total_seconds()
        canary_pods = deployments[names.ROLE_CANARY].ready if names.ROLE_CANARY in deployments else 0
        stable_pods = deployments[names.ROLE_STABLE].ready if names.ROLE_STABLE in deployments else 0
        sides = [(canary, rate * weight / 100, canary_pods), (STABLE, rate * (100 - weight) / 100, stable_pods)]
        drawn = interval_counts(rng, sides, seconds)
        evidence.canary.append(drawn[0])
        evidence.stable.append(drawn[1])
        now += tick
    return Outcome("undecided", (now - (first_step or now)).total_seconds(), looks)


def run_class(
    name: str, rate: float, judge: str, runs: int, seed: int, spec_: v1alpha1.ModelDeploymentSpec | None = None
) -> list[Outcome]:
    """`runs` rollouts of one class at one rate under one judge, reproducible from `seed`."""
    spec_ = spec_ or spec()
    start = stable_status(spec_)
    rng = np.random.default_rng(seed)
    return [rollout(rng, CLASSES[name], rate, JUDGES[judge], spec_, start) for _ in range(runs)]


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    n = len(outcomes)
    rates = {r: sum(o.result == r for o in outcomes) / n for r in ("promoted", "rolled back", "paused", "undecided")}
    times = sorted(o.seconds for o in outcomes)
    return {"runs": n, **rates, "median_s": times[n // 2] if times else None}
