"""The provider's TLS, headers and failure lines against real local servers (real ssl, real sockets).

A stand-in HTTPS server answers the query API: this is a unit test of the connection and
of the one-line messages for the exceptions the HTTP stack really raises. Prometheus
itself, over TLS with basic auth, is in e2e/test_prometheus_tls.py. Prometheus' web
config has no bearer tokens, so the bearer header is checked here, on the wire.
"""

from __future__ import annotations

import http.server
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from e2e.testbed.certificates import Authority
from modelrollout import names
from modelrollout.metrics import failures, queries
from modelrollout.metrics.connection import Connection
from modelrollout.metrics.prometheus import PrometheusProvider
from modelrollout.rollout.verdicts import Check, Evidence, Kind, Round

HOST_NAME = "prometheus.test"
ROUND = Round((Check("errors", Kind.CUSTOM, "<", 1.0, min_count=0, query="sum(up)"),), 60.0, look=1, planned=1)
SCOPE = queries.Scope(namespace="ml", name="clf", model="clf", window="1m")
CANARY = queries.Side(names.ROLE_CANARY, "2")
SUCCESS = {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "0.5"]}]}}


@dataclass
class Server:
    url: str
    status: int = 200
    body: bytes = json.dumps(SUCCESS).encode()
    seen: list[dict[str, str]] = field(default_factory=list)


def _serve(tls: ssl.SSLContext | None) -> Iterator[Server]:
    state = Server("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.seen.append(dict(self.headers))
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json" if state.status == 200 else "text/plain")
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    state.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def authority() -> Authority:
    return Authority()


@pytest.fixture
def https(authority: Authority, tmp_path: Path) -> Iterator[Server]:
    # Valid for a DNS name only: the IP the url names is not in it (see serverName).
    cert, key = authority.issue(HOST_NAME).write(tmp_path, "server")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    yield from _serve(context)


@pytest.fixture
def plain() -> Iterator[Server]:
    yield from _serve(None)


def _evidence(connection: Connection) -> Evidence:
    (evidence,) = PrometheusProvider(connection).measure(ROUND, SCOPE, CANARY, None)
    if evidence.error is None:
        assert evidence.value == 0.5
    return evidence


def _measure(connection: Connection) -> str | None:
    return _evidence(connection).error


def _no_query_in(line: str) -> None:
    assert "query" not in line and "%28" not in line and "\n" not in line, line


def test_the_right_ca_and_server_name_connect_and_the_headers_are_sent(https: Server, authority: Authority) -> None:
    connection = Connection(
        https.url,
        2.0,
        ca_pem=authority.cert_pem.decode(),
        server_name=HOST_NAME,
        headers={"Authorization": "Bearer s3cret-token", "X-Scope-OrgID": "tenant-a"},
    )
    assert _measure(connection) is None
    assert https.seen[-1]["Authorization"] == "Bearer s3cret-token"
    assert https.seen[-1]["X-Scope-OrgID"] == "tenant-a"
    assert "s3cret" not in repr(connection)


def test_an_unknown_authority_is_one_readable_line(https: Server) -> None:
    evidence = _evidence(Connection(https.url, 2.0, server_name=HOST_NAME))
    assert evidence.reason == "PrometheusCertificateRejected"
    error = evidence.error
    assert error is not None and error.startswith(f"Prometheus {https.url}: certificate signed by unknown authority")
    _no_query_in(error)
    assert not https.seen


def test_a_certificate_for_another_name_says_which_name(https: Server, authority: Authority) -> None:
    error = _measure(Connection(https.url, 2.0, ca_pem=authority.cert_pem.decode()))
    assert error == (
        f"Prometheus {https.url}: certificate is not valid for 127.0.0.1; set tls.serverName to a name it carries"
    )


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # expected: verification is off
def test_insecure_skip_verify_connects_to_any_certificate(https: Server) -> None:
    assert _measure(Connection(https.url, 2.0, verify=False)) is None


def test_a_ca_bundle_that_is_not_pem_names_where_it_came_from(https: Server) -> None:
    connection = Connection(https.url, 2.0, ca_pem="not a certificate", ca_from="Secret ml/prom-ca key 'ca.crt'")
    error = _measure(connection)
    assert error is not None
    assert error.startswith(f"Prometheus {https.url}: the CA bundle in Secret ml/prom-ca key 'ca.crt' is not a PEM")


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (
            401,
            "401 Unauthorized: the credentials were refused or none were sent (spec.rollout.analysis.prometheus.auth)",
        ),
        (403, "403 Forbidden: the credentials are not allowed to query"),
        (502, "502 Bad Gateway: upstream down"),
    ],
)
def test_an_http_status_is_named_with_its_meaning(plain: Server, status: int, said: str) -> None:
    plain.status, plain.body = status, b"upstream down\nmore lines\n" if status == 502 else b"Unauthorized\n"
    evidence = _evidence(Connection(plain.url, 2.0))
    assert evidence.error == f"Prometheus {plain.url}: {said}"
    # A person must fix credentials; a bad gateway may pass by itself.
    assert evidence.reason == {401: "PrometheusUnauthorized", 403: "PrometheusForbidden"}.get(status, "")


def test_a_promql_error_says_what_prometheus_said(plain: Server) -> None:
    plain.status = 400
    plain.body = json.dumps(
        {"status": "error", "errorType": "bad_data", "error": 'parse error: unexpected "}"'}
    ).encode()
    assert (
        _measure(Connection(plain.url, 2.0)) == f'Prometheus {plain.url}: 400 Bad Request: parse error: unexpected "}}"'
    )


def test_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now: the kernel refuses at once.
    assert (
        _measure(Connection(f"https://127.0.0.1:{port}", 2.0))
        == f"Prometheus https://127.0.0.1:{port}: connection refused"
    )


def test_a_server_that_never_answers_is_a_timeout_within_the_deadline() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts the connection (the backlog), never reads or answers
        port = silent.getsockname()[1]
        error = _measure(Connection(f"http://127.0.0.1:{port}", 0.5))
    assert error == f"Prometheus http://127.0.0.1:{port}: no answer within 0.5s"


def test_https_to_a_plain_http_server_says_it_does_not_speak_tls(plain: Server) -> None:
    url = plain.url.replace("http://", "https://")
    error = _measure(Connection(url, 2.0))
    assert error == f"Prometheus {url}: TLS handshake failed: the server does not speak TLS (an http:// url?)"


def test_an_unexpected_error_loses_its_url_encoded_query() -> None:
    error = RuntimeError("Max retries exceeded with url: /api/v1/query?query=sum%28up%29 (Caused by X)")
    line = failures.describe(error, "https://user:pw@prom.example:9090/prometheus")
    assert (
        line
        == "Prometheus https://prom.example:9090: RuntimeError: Max retries exceeded with url: <query> (Caused by X)"
    )


def test_a_url_with_a_bad_port_is_still_one_line() -> None:
    error = _measure(Connection("http://127.0.0.1:notaport", 1.0))
    assert error is not None and error.startswith("Prometheus http://127.0.0.1: ")
    _no_query_in(error)
