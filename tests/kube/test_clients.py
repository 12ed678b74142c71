"""The client's politeness: jittered backoff, what is retried, and the token bucket."""

from __future__ import annotations

import itertools

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from modelrollout.kube import clients


@pytest.mark.parametrize(
    ("attempt", "draw", "retry_after"),
    list(itertools.product([1, 2, 3, 7, 20], [0.0, 0.3, 0.999], [None, 0.0, 0.05, 2.0, 100.0])),
)
def test_retry_delay_is_bounded_jittered_and_respects_retry_after(
    attempt: int, draw: float, retry_after: float | None
) -> None:
    delay = clients.retry_delay(attempt, retry_after, draw)
    cap = min(clients.MAX_DELAY, clients.BASE_DELAY * 2.0 ** (attempt - 1))
    assert cap / 2 <= delay <= max(cap, min(retry_after or 0, clients.MAX_DELAY))
    if retry_after is not None:
        assert delay >= min(retry_after, clients.MAX_DELAY)


def test_delays_grow_with_attempts() -> None:
    assert [clients.retry_delay(n, None, 0.0) for n in (1, 2, 3)] == [0.1, 0.2, 0.4]


def test_only_throttling_server_errors_and_timeouts_are_retried() -> None:
    throttled = ApiException(status=429)
    throttled.headers = {"Retry-After": "3"}
    assert clients.retryable(throttled) == (True, 3.0)
    assert clients.retryable(ApiException(status=503)) == (True, None)
    assert clients.retryable(ApiException(status=403)) == (False, None)
    assert clients.retryable(ApiException(status=422)) == (False, None)
    assert clients.retryable(urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out"))[0]


def test_the_bucket_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    bucket = clients.TokenBucket(rate=10, burst=3, clock=lambda: now[0])
    assert [bucket.wait_time() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert abs(bucket.wait_time() - 0.1) < 1e-9
    now[0] += 1.0  # a second later the bucket is full again (burst 3), less the token owed
    assert [bucket.wait_time() for _ in range(2)] == [0.0, 0.0]


def test_the_real_client_is_counted_and_retried_on_server_errors() -> None:
    """Through the generated API methods: 429 and 503 are retried, and every attempt is counted."""
    import http.server
    import json
    import threading

    from kubernetes import client

    answers = [429, 503, 200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = answers.pop(0)
            body = json.dumps({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "x"}}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    seen: list[tuple[str, int]] = []
    try:
        api = clients.PoliteApiClient(clients.TokenBucket(100, 10), lambda m, s: seen.append((m, s)))
        api.configuration.host = f"http://127.0.0.1:{server.server_address[1]}"
        assert client.CoreV1Api(api).read_namespace("x").metadata.name == "x"
    finally:
        server.shutdown()
    assert seen == [("GET", 429), ("GET", 503), ("GET", 200)]
