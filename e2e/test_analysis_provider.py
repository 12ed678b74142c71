"""The analysis' Prometheus provider against a real Prometheus scraping the server's own metrics.

Two registries of `serve.metrics.ServerMetrics`, one per role, serve histograms and
counters as the inference servers do; a real Prometheus scrapes them; the provider
reads the step's evidence with its real queries and the judge decides on it.
"""

from __future__ import annotations

import threading
import time
import wsgiref.simple_server
from collections.abc import Iterator

import prometheus_client
import pytest

from e2e.testbed import prometheus
from modelrollout import names
from modelrollout.metrics import queries
from modelrollout.metrics.connection import Connection
from modelrollout.metrics.prometheus import PrometheusProvider
from modelrollout.rollout import verdicts
from modelrollout.rollout.verdicts import Check, Kind, Result, Round
from modelrollout.serve.metrics import ServerMetrics

pytestmark = pytest.mark.e2e


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[dict[str, tuple[str, ServerMetrics]]]:
    found: dict[str, tuple[str, ServerMetrics]] = {}
    running = []
    for role, version in ((names.ROLE_STABLE, "1"), (names.ROLE_CANARY, "1")):
        # Both sides run the same model version: only the role tells them apart.
        metrics = ServerMetrics("clf", version, role)
        app = prometheus_client.make_wsgi_app(metrics.registry)
        server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        running.append(server)
        found[role] = (f"127.0.0.1:{server.server_port}", metrics)
    try:
        yield found
    finally:
        for server in running:
            server.shutdown()
            server.server_close()


def test_the_provider_reads_a_steps_evidence_per_role_and_the_judge_decides(
    prometheus_server: prometheus.Prometheus, servers: dict[str, tuple[str, ServerMetrics]]
) -> None:
    targets = [prometheus.Target(address, {"namespace": "ml"}) for address, _ in servers.values()]
    prometheus_server.set_targets(targets, source="analysis-provider")
    for address, _ in servers.values():
        prometheus_server.wait_for(f'up{{instance="{address}"}} == 1')
    started = time.monotonic()
    _, stable = servers[names.ROLE_STABLE]
    _, canary = servers[names.ROLE_CANARY]
    # Stable answers in ~10 ms; the canary in ~30 ms, 3x slower, and fails 1 in 10.
    for i in range(2000):
        stable.duration.observe(0.008 + 0.004 * (i % 10) / 10)
        stable.requests(200).inc()
        if i % 2 == 0:
            stable.feedback(True).inc()
    for i in range(400):
        canary.duration.observe(0.024 + 0.012 * (i % 10) / 10)
        canary.requests(500 if i % 10 == 0 else 200).inc()
        if i % 2 == 0:
            canary.feedback(i % 4 == 0).inc()
    canary_requests = f'{names.METRIC_REQUESTS}{{role="canary"}}'
    prometheus_server.wait_for(
        f"sum({canary_requests})", lambda r: bool(r) and float(r[0]["value"][1]) == 400, timeout=30
    )
    time.sleep(2)  # two more scrapes, so increase() over the range sees the whole rise

    checks = (
        Check("latency", Kind.LATENCY, "<=", 500.0, min_count=50, tolerance=1.2, quantile=0.9),
        Check("errorRate", Kind.ERROR_RATE, "<=", 0.05, min_count=50, tolerance=0.01),
        Check("accuracy", Kind.ACCURACY, ">=", 0.5, min_count=20, tolerance=0.05),
    )
    seconds = time.monotonic() - started + 30  # the step began before the traffic
    scope = queries.Scope(namespace="ml", name="clf", model="clf", window="1m", extra='namespace="ml"')
    provider = PrometheusProvider(Connection(prometheus_server.url, 5.0))
    evidence = provider.measure(
        Round(checks, seconds, look=1, planned=1),
        scope,
        queries.Side(names.ROLE_CANARY, "1"),
        queries.Side(names.ROLE_STABLE, "1"),
    )
    assert [e.error for e in evidence] == [None, None, None]
    latency, errors, accuracy = evidence
    assert latency.latency is not None and latency.stable_latency is not None
    # increase() extrapolates to the range's edges, and a series first scraped mid-burst is
    # extrapolated towards zero: each total is the count give or take that, never far below.
    assert 400 * 0.65 <= latency.latency.total <= 400 * 2
    assert 2000 * 0.65 <= latency.stable_latency.total <= 2000 * 2
    assert errors.counts is not None and errors.counts.share == pytest.approx(0.1, abs=0.02)
    assert errors.stable_counts is not None and errors.stable_counts.hits == 0
    assert accuracy.counts is not None and accuracy.counts.share == pytest.approx(0.5, abs=0.1)

    found = verdicts.judge_all(checks, evidence)
    by_name = {v.check: v for v in found}
    assert by_name["latency"].result is Result.FAIL, by_name["latency"].message
    assert by_name["latency"].effect is not None and by_name["latency"].effect > 2
    assert by_name["errorRate"].result is Result.FAIL, by_name["errorRate"].message
    assert by_name["accuracy"].result is Result.FAIL, by_name["accuracy"].message
