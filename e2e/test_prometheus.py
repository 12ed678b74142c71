"""A real Prometheus scrapes a target named in its file_sd file and answers PromQL."""

from __future__ import annotations

import subprocess
import threading
import wsgiref.simple_server
from collections.abc import Iterator

import prometheus_client
import pytest

from e2e.testbed import binaries, prometheus

pytestmark = pytest.mark.e2e


@pytest.fixture
def exporter() -> Iterator[tuple[str, prometheus_client.Gauge]]:
    registry = prometheus_client.CollectorRegistry()
    gauge = prometheus_client.Gauge("testbed_answer", "A value to find.", ["kind"], registry=registry)
    app = prometheus_client.make_wsgi_app(registry)
    server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}", gauge
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_scrapes_a_runtime_target_and_answers_promql(
    prometheus_server: prometheus.Prometheus, exporter: tuple[str, prometheus_client.Gauge]
) -> None:
    address, gauge = exporter
    gauge.labels(kind="real").set(42)
    prometheus_server.set_targets([prometheus.Target(address, {"pod": "p-1", "namespace": "ns"})])
    up = prometheus_server.wait_for(f'up{{instance="{address}"}} == 1')
    assert up[0]["metric"]["pod"] == "p-1"
    found = prometheus_server.wait_for('testbed_answer{kind="real"}')
    assert float(found[0]["value"][1]) == 42.0
    gauge.labels(kind="real").set(7)
    prometheus_server.wait_for('testbed_answer{kind="real"}', lambda r: bool(r) and float(r[0]["value"][1]) == 7.0)


def test_bad_promql_raises_with_the_servers_message(
    prometheus_server: prometheus.Prometheus,
) -> None:
    with pytest.raises(ValueError, match="bad_data"):
        prometheus_server.query("sum(")


def test_promtool_accepts_the_generated_config(prometheus_server: prometheus.Prometheus) -> None:
    done = subprocess.run(
        [str(binaries.promtool()), "check", "config", str(prometheus_server.config_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
