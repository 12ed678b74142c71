"""The operator's own metrics (names in `modelrollout.names`), for alerts and dashboards."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from modelrollout import names
from modelrollout.api.v1alpha1 import ModelDeploymentStatus, Phase
from modelrollout.rollout.machine import IN_PROGRESS
from modelrollout.rollout.verdicts import Verdict

REGISTRY = CollectorRegistry(auto_describe=True)
LABELS = list(names.OPERATOR_LABELS)

PHASE = Gauge(
    names.METRIC_ROLLOUT_PHASE,
    "1 for the current phase of each ModelDeployment.",
    [*LABELS, "phase"],
    registry=REGISTRY,
)
WEIGHT = Gauge(names.METRIC_CANARY_WEIGHT, "Percent of traffic on the canary.", LABELS, registry=REGISTRY)
CHECKS = Counter(
    names.METRIC_ANALYSIS_CHECKS.removesuffix("_total"),
    "Analysis checks by SLO and result (pass, fail, inconclusive, error).",
    [*LABELS, "slo", "result"],
    registry=REGISTRY,
)
ROLLBACKS = Counter(
    names.METRIC_ROLLBACKS.removesuffix("_total"), "Rollbacks by reason.", [*LABELS, "reason"], registry=REGISTRY
)
OPTIMIZATION = Histogram(
    names.METRIC_OPTIMIZATION_SECONDS,
    "Wall time of optimization Jobs.",
    LABELS,
    buckets=(10, 30, 60, 120, 300, 600, 1200, 1800, 3600),
    registry=REGISTRY,
)
RECONCILE = Histogram(
    names.METRIC_RECONCILE_DURATION,
    "Time of one reconcile pass.",
    LABELS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
OPTIMIZATIONS = Counter(
    names.METRIC_OPTIMIZATIONS.removesuffix("_total"),
    "Finished optimization Jobs by result (succeeded, failed).",
    [*LABELS, "result"],
    registry=REGISTRY,
)
ROLLOUT_SECONDS = Gauge(
    names.METRIC_ROLLOUT_DURATION,
    "Seconds since the current rollout began (0 when none runs).",
    LABELS,
    registry=REGISTRY,
)
PROGRESS_DEADLINE = Gauge(
    names.METRIC_PROGRESS_DEADLINE, "The rollout's progress deadline in seconds.", LABELS, registry=REGISTRY
)
API_REQUESTS = Counter(
    names.METRIC_API_REQUESTS.removesuffix("_total"),
    "Requests the operator's own client made to the API server (Kopf's watches aside), by method and code.",
    ["method", "code"],
    registry=REGISTRY,
)
PHASE_SECONDS = Gauge(
    names.METRIC_PHASE_SECONDS, "Seconds spent in the current phase so far.", [*LABELS, "phase"], registry=REGISTRY
)


def count_request(method: str, status: int) -> None:
    API_REQUESTS.labels(method, str(status)).inc()


def start(namespace: str, name: str, slos: Sequence[str]) -> None:
    """Every counter series at zero from the first pass, so increase() sees the first event."""
    for slo in slos:
        for result in names.CHECK_RESULTS:
            CHECKS.labels(namespace, name, slo, result)
    for result in names.OPTIMIZATION_RESULTS:
        OPTIMIZATIONS.labels(namespace, name, result)


def record_status(
    namespace: str, name: str, status: ModelDeploymentStatus, now: datetime, deadline_seconds: float
) -> None:
    in_progress = status.phase in IN_PROGRESS and status.rollout_started_at is not None
    started = status.rollout_started_at
    ROLLOUT_SECONDS.labels(namespace, name).set((now - started).total_seconds() if in_progress and started else 0)
    PROGRESS_DEADLINE.labels(namespace, name).set(deadline_seconds)
    for phase in Phase:
        current = phase is status.phase
        PHASE.labels(namespace, name, phase.value).set(1 if current else 0)
        started = status.phase_started_at
        PHASE_SECONDS.labels(namespace, name, phase.value).set(
            (now - started).total_seconds() if current and started else 0
        )
    WEIGHT.labels(namespace, name).set(status.canary_weight)


def record_verdicts(namespace: str, name: str, verdicts: Sequence[Verdict]) -> None:
    for verdict in verdicts:
        CHECKS.labels(namespace, name, verdict.check, verdict.result.value).inc()


def forget(namespace: str, name: str) -> None:
    """Drop a deleted ModelDeployment's series so alerts do not fire on ghosts."""
    for gauge in (ROLLOUT_SECONDS, PROGRESS_DEADLINE):
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, name)
    for metric in (PHASE, PHASE_SECONDS):
        for phase in Phase:
            with contextlib.suppress(KeyError):
                metric.remove(namespace, name, phase.value)
    with contextlib.suppress(KeyError):
        WEIGHT.remove(namespace, name)
