"""The Prometheus provider: instant queries over urllib3, with the spec's TLS, auth and headers.

urllib3 directly, not a higher-level client: a CA bundle from a Secret is loaded into
an `ssl.SSLContext` in memory (no file holds it), and `serverName` sets both SNI and
the name checked, which takes a pool of our own.

The client is synchronous; the operator calls `measure` from a worker thread (Kopf runs
sync handlers in an executor). A round's queries run concurrently and share one
deadline, the configured timeout, so a slow Prometheus costs a round at most that long
and never stalls other resources.
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import ssl
import time
from collections.abc import Callable
from typing import Any

import urllib3

from modelrollout.metrics import failures, queries
from modelrollout.metrics.connection import Connection, origin
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


def ssl_context(connection: Connection) -> ssl.SSLContext:
    """Verified against the spec's CA alone when it names one, else the system's; or not at all."""
    if not connection.verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        return ssl.create_default_context(cadata=connection.ca_pem)
    except (ssl.SSLError, ValueError) as err:
        raise QueryError(f"the CA bundle in {connection.ca_from} is not a PEM certificate ({err})") from err


def _answer(response: urllib3.BaseHTTPResponse) -> list[dict[str, Any]]:
    body = response.data
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if response.status != 200:
        # Prometheus says why in JSON (a PromQL error); a proxy in front answers in text.
        detail = parsed.get("error", "") if isinstance(parsed, dict) else body[:200].decode(errors="replace").strip()
        raise failures.StatusError(response.status, str(detail).splitlines()[0] if detail else "")
    if not isinstance(parsed, dict) or parsed.get("status") != "success":
        raise QueryError("the answer is not a Prometheus API response")
    result: list[dict[str, Any]] = parsed["data"]["result"]
    return result


class PrometheusProvider:
    def __init__(self, connection: Connection, *, query: Query | None = None) -> None:
        self.connection = connection
        self.url = connection.url
        self.timeout = connection.timeout_seconds
        self._query = query or self._connect()

    def _connect(self) -> Query:
        options: dict[str, Any] = {}
        if self.url.startswith("https://"):
            try:
                options["ssl_context"] = ssl_context(self.connection)
            except QueryError as err:
                failed = err

                def refuse(promql: str, left: float) -> list[dict[str, Any]]:
                    raise failed

                return refuse
            if self.connection.server_name:
                options["server_hostname"] = self.connection.server_name
        # No retries inside a check: a down Prometheus must answer 'error' within the deadline.
        pool = urllib3.PoolManager(maxsize=MAX_PARALLEL, retries=False, **options)
        endpoint = f"{self.url}/api/v1/query"
        headers = dict(self.connection.headers)

        def run(promql: str, left: float) -> list[dict[str, Any]]:
            timeout = max(left, 0.1)
            response = pool.request(
                "GET",
                endpoint,
                fields={"query": promql},
                headers=headers,
                timeout=urllib3.Timeout(total=timeout),
                redirect=False,
            )
            return _answer(response)

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

    def _evidence(
        self, name: str, kind: Kind, answers: dict[tuple[str, str, str], list[dict[str, Any]] | BaseException]
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
            return Evidence(name, error=self.describe(err), reason=failures.reason(err))

    def describe(self, error: BaseException) -> str:
        if isinstance(error, QueryError):
            return f"Prometheus {origin(self.url)}: {error}"[: failures.MAX_LENGTH]
        return failures.describe(error, self.url, self.timeout)
