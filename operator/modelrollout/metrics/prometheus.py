"""The Prometheus provider, on `prometheus-api-client`.

The client is synchronous; the operator calls `measure` from a worker thread (Kopf runs
sync handlers in an executor). A round's queries run concurrently and share one
deadline, the configured timeout, so a slow Prometheus costs a round at most that long
and never stalls other resources.
"""

from __future__ import annotations

import concurrent.futures
import math
import time
from collections.abc import Callable
from typing import Any

from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from modelrollout.metrics import queries
from modelrollout.metrics.queries import Scope, Side
from modelrollout.rollout.statistics import Histogram
from modelrollout.rollout.verdicts import Counts, Evidence, Kind, Round

Query = Callable[[str, float], list[dict[str, Any]]]  # (promql, seconds left) -> result
MAX_PARALLEL = 8


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


def histogram(result: list[dict[str, Any]]) -> Histogram | None:
    """Cumulative bucket counts from a `sum by (le)` result; None when there are none."""
    if not result:
        return None
    by_le: dict[float, float] = {}
    for series in result:
        le = series.get("metric", {}).get("le")
        value = series.get("value")
        if le is None or not isinstance(value, list) or len(value) != 2:
            raise QueryError(f"unexpected bucket series: {series!r}")
        number = float(value[1])
        by_le[float(le)] = 0.0 if math.isnan(number) else number
    if math.inf not in by_le:
        raise QueryError("bucket series without le=+Inf")
    ordered = sorted(by_le)
    # increase() extrapolates each bucket on its own: keep the counts cumulative.
    cumulative, running = [], 0.0
    for le in ordered:
        running = max(running, by_le[le])
        cumulative.append(running)
    return Histogram(tuple(ordered[:-1]), tuple(cumulative))


class PrometheusProvider:
    def __init__(self, url: str, timeout_seconds: float, *, query: Query | None = None) -> None:
        self.url = url
        self.timeout = timeout_seconds
        self._query = query or self._connect()

    def _connect(self) -> Query:
        # No retries inside a check: a down Prometheus must answer 'error' within the deadline.
        client = PrometheusConnect(url=self.url, disable_ssl=True, retry=Retry(total=0), timeout=self.timeout)

        def run(promql: str, left: float) -> list[dict[str, Any]]:
            result: list[dict[str, Any]] = client.custom_query(promql, timeout=max(left, 0.1))
            return result

        return run

    def measure(self, round_: Round, scope: Scope, canary: Side, stable: Side | None) -> list[Evidence]:
        """One evidence per check. Never raises: a failure becomes evidence with `error` set."""
        deadline = time.monotonic() + self.timeout
        wanted: dict[tuple[str, str, str], str] = {}
        for check in round_.checks:
            sides = [("canary", canary)]
            if stable is not None and check.tolerance is not None:
                sides.append(("stable", stable))
            for label, side in sides:
                for what, promql in queries.for_check(check, scope, side, round_.range_seconds).items():
                    wanted[(check.name, label, what)] = promql
        answers: dict[tuple[str, str, str], list[dict[str, Any]] | BaseException] = {}
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, max(1, len(wanted))))
        try:
            futures = {
                pool.submit(self._query, promql, deadline - time.monotonic()): key for key, promql in wanted.items()
            }
            done, late = concurrent.futures.wait(futures, timeout=max(0.0, deadline - time.monotonic()))
            for future in done:
                error = future.exception()
                answers[futures[future]] = error if error is not None else future.result()
            for future in late:
                future.cancel()
                answers[futures[future]] = TimeoutError(f"no answer within the round's {self.timeout:g}s deadline")
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return [self._evidence(check.name, check.kind, answers) for check in round_.checks]

    @staticmethod
    def _evidence(
        name: str, kind: Kind, answers: dict[tuple[str, str, str], list[dict[str, Any]] | BaseException]
    ) -> Evidence:
        mine = {(label, what): a for (check, label, what), a in answers.items() if check == name}
        try:
            for answer in mine.values():
                if isinstance(answer, BaseException):
                    raise answer
            got: dict[tuple[str, str], list[dict[str, Any]]] = {k: v for k, v in mine.items() if isinstance(v, list)}
            if kind is Kind.LATENCY:
                stable = got.get(("stable", "buckets"))
                return Evidence(
                    name,
                    latency=histogram(got[("canary", "buckets")]),
                    stable_latency=histogram(stable) if stable is not None else None,
                )
            if kind is Kind.CUSTOM:
                return Evidence(name, value=scalar(got[("canary", "value")]))

            def counts(label: str) -> Counts | None:
                if (label, "total") not in got:
                    return None
                return Counts(scalar(got[(label, "hits")]) or 0.0, scalar(got[(label, "total")]) or 0.0)

            return Evidence(name, counts=counts("canary"), stable_counts=counts("stable"))
        except Exception as err:  # any failure to get an answer is an error result, never a crash
            return Evidence(name, error=f"{type(err).__name__}: {err}"[:300])
