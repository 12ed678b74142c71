from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from modelrollout import names
from modelrollout.api.v1alpha1 import CompareWith
from modelrollout.metrics import queries
from modelrollout.metrics.connection import Connection
from modelrollout.metrics.prometheus import PrometheusProvider, QueryError, histogram, scalar
from modelrollout.rollout.verdicts import Check, Kind, Round

SCOPE = queries.Scope(namespace="ml", name="embedder", model="minilm", window="1m", extra='namespace="ml"')
LATENCY = Check("latency", Kind.LATENCY, "<=", 50, min_count=10, tolerance=1.2, quantile=0.99)
ERRORS = Check("errorRate", Kind.ERROR_RATE, "<=", 0.01, min_count=10)
ACCURACY = Check("accuracy", Kind.ACCURACY, ">=", 0.9, min_count=10, tolerance=0.01)
CANARY = queries.Side(names.ROLE_CANARY, "8")
STABLE = queries.Side(names.ROLE_STABLE, "7")


def test_queries_are_scoped_to_the_role_and_version_over_the_step() -> None:
    latency = queries.for_check(LATENCY, SCOPE, CANARY, 95.7)
    assert latency["buckets"] == (
        f"sum by (le) (increase({names.METRIC_REQUEST_DURATION}_bucket"
        '{model="minilm", role="canary", version="8", namespace="ml"}[95s]))'
    )
    errors = queries.for_check(ERRORS, SCOPE, CANARY, 30)
    assert 'code=~"5.."' in errors["hits"] and "[30s]" in errors["hits"] and errors["hits"].endswith("or vector(0)")
    assert names.METRIC_REQUESTS in errors["total"] and 'role="canary"' in errors["total"]
    accuracy = queries.for_check(ACCURACY, SCOPE, STABLE, 0.2)
    assert names.METRIC_FEEDBACK in accuracy["hits"] and 'correct="true"' in accuracy["hits"]
    assert 'role="stable", version="7"' in accuracy["total"] and "[1s]" in accuracy["total"]


def test_custom_query_placeholders() -> None:
    check = Check(
        "x",
        Kind.CUSTOM,
        "<",
        1,
        0,
        query='avg(up{version="{{version}}", role="{{role}}", ns="{{namespace}}"}[{{window}}])',
    )
    assert queries.for_check(check, SCOPE, CANARY, 60)["value"] == 'avg(up{version="8", role="canary", ns="ml"}[1m])'


def _vector(value: str, **labels: str) -> list[dict[str, Any]]:
    return [{"metric": labels, "value": [1700000000.0, value]}]


def test_scalar() -> None:
    assert scalar([]) is None
    assert scalar(_vector("0.5")) == 0.5
    assert scalar(_vector("NaN")) is None
    with pytest.raises(QueryError):
        scalar(_vector("1") + _vector("2"))


def test_histogram_orders_buckets_and_keeps_them_cumulative() -> None:
    result = _vector("10", le="+Inf") + _vector("4", le="0.01") + _vector("9.5", le="0.02") + _vector("3.9", le="0.005")
    h = histogram(result)
    assert h is not None
    assert h.bounds == (0.005, 0.01, 0.02) and h.cumulative == (3.9, 4.0, 9.5, 10.0)
    # increase() extrapolates each bucket alone: a smaller count above a larger one is lifted.
    h = histogram(_vector("5", le="0.01") + _vector("4.8", le="+Inf"))
    assert h is not None and h.cumulative == (5.0, 5.0)
    assert histogram([]) is None
    with pytest.raises(QueryError):
        histogram(_vector("5", le="0.01"))


def _buckets(n: float) -> list[dict[str, Any]]:
    return _vector(str(n * 0.5), le="0.01") + _vector(str(n * 0.99), le="0.05") + _vector(str(n), le="+Inf")


ROUND = Round((LATENCY, ERRORS, ACCURACY), range_seconds=120, look=2, planned=10)


def test_measure_reads_both_sides_and_turns_failures_into_errors() -> None:
    seen: list[str] = []

    def query(promql: str, left: float) -> list[dict[str, Any]]:
        seen.append(promql)
        if names.METRIC_FEEDBACK in promql and 'role="stable"' in promql:
            raise ConnectionError("connection refused")
        n = 900 if 'role="stable"' in promql else 100
        if "_bucket" in promql:
            return _buckets(n)
        return _vector("2") if "5.." in promql else _vector(str(n))

    provider = PrometheusProvider(Connection("http://127.0.0.1:1", 1.0), query=query)
    evidence = provider.measure(ROUND, SCOPE, CANARY, STABLE)
    assert [e.check for e in evidence] == ["latency", "errorRate", "accuracy"]
    latency, errors, accuracy = evidence
    assert latency.latency is not None and latency.latency.total == 100
    assert latency.stable_latency is not None and latency.stable_latency.total == 900
    assert errors.counts is not None and (errors.counts.hits, errors.counts.total) == (2, 100)
    assert errors.stable_counts is None  # no tolerance against stable: stable is not asked
    assert accuracy.error is not None and "connection refused" in accuracy.error
    assert all("[120s]" in q for q in seen)
    assert not any('role="stable"' in q and names.METRIC_REQUESTS in q for q in seen)


def test_a_round_runs_its_queries_together_under_one_deadline() -> None:
    running, most = 0, 0
    lock = threading.Lock()
    release = threading.Event()

    def query(promql: str, left: float) -> list[dict[str, Any]]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            if "_bucket" in promql:
                release.wait(5)  # the slow one: past the round's deadline
            return _buckets(100) if "_bucket" in promql else _vector("100")
        finally:
            with lock:
                running -= 1

    provider = PrometheusProvider(Connection("http://127.0.0.1:1", 0.5), query=query)
    started = time.monotonic()
    evidence = provider.measure(ROUND, SCOPE, CANARY, STABLE)
    took = time.monotonic() - started
    release.set()
    assert took < 2.0, "the round waited for its slow query past the deadline"
    assert most >= 2, "the queries ran one after another"
    assert evidence[0].error == "Prometheus http://127.0.0.1:1: no answer within 0.5s"
    assert evidence[1].error is None and evidence[1].counts is not None


def test_the_compared_side_is_the_baseline_role_running_the_stable_version() -> None:
    assert queries.compared_side(CompareWith.BASELINE, "7") == queries.Side(names.ROLE_BASELINE, "7")
    assert queries.compared_side(CompareWith.STABLE, "7") == STABLE
    assert queries.compared_side(None, "7") is None  # all traffic on the canary: nothing compared
    assert queries.compared_side(CompareWith.BASELINE, None) is None


def test_measure_against_the_baseline_reads_only_baseline_series_beside_the_canarys() -> None:
    seen: list[str] = []

    def query(promql: str, left: float) -> list[dict[str, Any]]:
        seen.append(promql)
        n = 400 if 'role="baseline"' in promql else 100
        return _buckets(n) if "_bucket" in promql else _vector(str(n))

    side = queries.compared_side(CompareWith.BASELINE, "7")
    provider = PrometheusProvider(Connection("http://127.0.0.1:1", 1.0), query=query)
    latency = provider.measure(Round((LATENCY,), 60, 1, 1), SCOPE, CANARY, side)[0]
    assert latency.stable_latency is not None and latency.stable_latency.total == 400
    assert any('role="baseline", version="7"' in q for q in seen)
    assert not any('role="stable"' in q for q in seen)
