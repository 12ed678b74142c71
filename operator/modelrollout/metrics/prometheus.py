"""The Prometheus provider, on `prometheus-api-client`.

The client is synchronous; the operator calls `measure` from a worker thread (Kopf runs
sync handlers in an executor), and every query carries a timeout, so a slow Prometheus
never stalls other resources.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from modelrollout.metrics import queries
from modelrollout.metrics.queries import Scope
from modelrollout.rollout.verdicts import Check, Sample

Query = Callable[[str], list[dict[str, Any]]]


class QueryError(Exception):
    pass


def scalar(result: list[dict[str, Any]]) -> float | None:
    """The value of an instant-vector (or scalar) result with at most one series; None if empty."""
    if not result:
        return None
    if len(result) > 1:
        raise QueryError(f"query returned {len(result)} series, expected one")
    value = result[0].get("value")
    if not isinstance(value, list) or len(value) != 2:
        raise QueryError(f"unexpected result shape: {result[0]!r}")
    number = float(value[1])
    return None if math.isnan(number) else number


class PrometheusProvider:
    def __init__(self, url: str, timeout_seconds: float, *, query: Query | None = None) -> None:
        self.url = url
        self.timeout = timeout_seconds
        self._query = query or self._connect()

    def _connect(self) -> Query:
        # No retries inside a check: a down Prometheus must answer 'error' within the timeout.
        client = PrometheusConnect(url=self.url, disable_ssl=True, retry=Retry(total=0), timeout=self.timeout)

        def run(promql: str) -> list[dict[str, Any]]:
            result: list[dict[str, Any]] = client.custom_query(promql, timeout=self.timeout)
            return result

        return run

    def value(self, promql: str) -> float | None:
        return scalar(self._query(promql))

    def measure(self, checks: Sequence[Check], scope: Scope, canary: str, stable: str | None) -> list[Sample]:
        samples = []
        for check in checks:
            try:
                pair = queries.for_check(check, scope, canary)
                value = self.value(pair.value)
                count = self.value(pair.count) if pair.count else None
                stable_value = None
                if check.max_ratio_to_stable is not None and stable is not None:
                    stable_value = self.value(queries.for_check(check, scope, stable).value)
                samples.append(Sample(check.name, value, count=count, stable_value=stable_value))
            except Exception as err:  # any failure to get an answer is an error result, never a crash
                samples.append(Sample(check.name, None, error=f"{type(err).__name__}: {err}"[:300]))
        return samples
