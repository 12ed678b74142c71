from __future__ import annotations

from typing import Any

import pytest

from modelrollout import names
from modelrollout.metrics import queries
from modelrollout.metrics.prometheus import PrometheusProvider, QueryError, scalar
from modelrollout.rollout.verdicts import Check, Kind

SCOPE = queries.Scope(namespace="ml", name="embedder", model="minilm", window="1m", extra='namespace="ml"')
LATENCY = Check("latency", Kind.LATENCY, "<=", 50, min_count=10, max_ratio_to_stable=1.2, quantile=0.99)
ERRORS = Check("errorRate", Kind.ERROR_RATE, "<=", 0.01, min_count=10)
ACCURACY = Check("accuracy", Kind.ACCURACY, ">=", 0.9, min_count=10)


def test_queries_are_scoped_to_the_version_and_use_the_shared_names() -> None:
    latency = queries.for_check(LATENCY, SCOPE, "8")
    assert f"{names.METRIC_REQUEST_DURATION}_bucket" in latency.value
    assert 'model="minilm", version="8", namespace="ml"' in latency.value
    assert latency.value.startswith("1000 * histogram_quantile(0.99,")
    assert latency.count is not None and names.METRIC_REQUESTS in latency.count
    errors = queries.for_check(ERRORS, SCOPE, "8")
    assert 'code=~"5.."' in errors.value
    accuracy = queries.for_check(ACCURACY, SCOPE, "8")
    assert names.METRIC_FEEDBACK in accuracy.value and 'correct="true"' in accuracy.value


def test_custom_query_placeholders() -> None:
    check = Check("x", Kind.CUSTOM, "<", 1, 0, query='avg(up{version="{{version}}", ns="{{namespace}}"}[{{window}}])')
    assert queries.for_check(check, SCOPE, "9").value == 'avg(up{version="9", ns="ml"}[1m])'


def _vector(value: str) -> list[dict[str, Any]]:
    return [{"metric": {}, "value": [1700000000.0, value]}]


def test_scalar() -> None:
    assert scalar([]) is None
    assert scalar(_vector("0.5")) == 0.5
    assert scalar(_vector("NaN")) is None
    with pytest.raises(QueryError):
        scalar(_vector("1") + _vector("2"))


def test_measure_answers_every_check_and_turns_failures_into_errors() -> None:
    seen: list[str] = []

    def query(promql: str) -> list[dict[str, Any]]:
        seen.append(promql)
        if names.METRIC_FEEDBACK in promql:
            raise ConnectionError("connection refused")
        if 'version="7"' in promql:
            return _vector("20")
        return _vector("30") if "histogram_quantile" in promql else _vector("100")

    provider = PrometheusProvider("http://127.0.0.1:1", 1.0, query=query)
    samples = provider.measure([LATENCY, ERRORS, ACCURACY], SCOPE, "8", "7")
    assert [s.check for s in samples] == ["latency", "errorRate", "accuracy"]
    assert samples[0].value == 30 and samples[0].count == 100 and samples[0].stable_value == 20
    assert samples[1].stable_value is None
    assert samples[2].error is not None and "connection refused" in samples[2].error
    assert any('version="7"' in q for q in seen)
