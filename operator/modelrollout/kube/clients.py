"""API clients, configured once (in-cluster in a pod, else the kubeconfig), and polite.

Every request the operator makes itself goes through `PoliteApiClient.call_api`: a
token bucket bounds the rate, and 429, 5xx and timeouts are retried a few times after
a jittered, growing delay (the server's Retry-After when it gives one), so a thousand
rollouts never stampede an API server that is already struggling.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

RETRIED_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
MAX_ATTEMPTS: Final = 4
BASE_DELAY: Final = 0.2  # seconds before the first retry (before jitter)
MAX_DELAY: Final = 10.0

RequestHook = Callable[[str, int], None]  # (HTTP method, status code; 0 for no response)
# The kubeconfig loader carries no annotations in some client versions.
_load_kube_config: Callable[..., None] = config.load_kube_config


def load_kubeconfig(path: str | None, context: str | None, program: str) -> bool:
    """Configure the default client as kubectl would (for the command-line tools).

    False, said on stderr in `program`'s name, when the kubeconfig cannot be read.
    """
    try:
        _load_kube_config(config_file=path, context=context)
    except (config.ConfigException, OSError) as error:
        print(f"{program}: cannot load kubeconfig: {error}", file=sys.stderr)
        return False
    return True


def retry_delay(attempt: int, retry_after: float | None, draw: float) -> float:
    """Seconds to wait before retry number `attempt` (1-based); `draw` is uniform in [0, 1).

    Full jitter (a uniform pick below an exponential cap) spreads retries of many
    clients apart; the server's Retry-After is a floor, never shortened.
    """
    cap = min(MAX_DELAY, BASE_DELAY * 2.0 ** (attempt - 1))
    jittered = cap * (0.5 + draw / 2)  # half fixed, half random: never zero, never above the cap
    return max(jittered, min(float(retry_after), MAX_DELAY)) if retry_after is not None else jittered


def retryable(error: BaseException) -> tuple[bool, float | None]:
    """Whether a failed request is worth retrying, and the server's Retry-After if any."""
    if isinstance(error, ApiException):
        if error.status not in RETRIED_STATUSES:
            return False, None
        return True, _seconds((error.headers or {}).get("Retry-After"))
    return isinstance(error, urllib3.exceptions.TimeoutError | urllib3.exceptions.ProtocolError), None


@dataclass
class TokenBucket:
    """At most `rate` requests per second on average, `burst` at once."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _tokens: float = field(init=False)
    _stamp: float = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._stamp = self.clock()

    def wait_time(self) -> float:
        """Take a token; how long the caller must wait before using it (0 when one was free)."""
        with self._lock:
            now = self.clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> None:
        delay = self.wait_time()
        if delay > 0:
            self.sleep(delay)


class PoliteApiClient(client.ApiClient):  # type: ignore[misc]
    """The kubernetes ApiClient with a rate limit, retries with backoff, and a request hook.

    `call_api` is the one place every generated API method sends its HTTP request; the
    response's status is checked here, before the client turns an error into an exception.
    """

    def __init__(self, bucket: TokenBucket, on_request: RequestHook | None = None) -> None:
        super().__init__()
        self.bucket = bucket
        self.on_request = on_request
        self._random = random.Random()

    def call_api(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        attempt = 0
        while True:
            attempt += 1
            self.bucket.acquire()
            try:
                response = super().call_api(method, url, *args, **kwargs)
            except (ApiException, urllib3.exceptions.HTTPError) as error:
                self._count(method, error.status if isinstance(error, ApiException) else 0)
                again, retry_after = retryable(error)
                if not again or attempt >= MAX_ATTEMPTS:
                    raise
                time.sleep(retry_delay(attempt, retry_after, self._random.random()))
                continue
            status = int(getattr(response, "status", 200))
            self._count(method, status)
            if status in RETRIED_STATUSES and attempt < MAX_ATTEMPTS:
                header = response.getheader("Retry-After") if hasattr(response, "getheader") else None
                time.sleep(retry_delay(attempt, _seconds(header), self._random.random()))
                continue
            return response

    def _count(self, method: str, status: int) -> None:
        if self.on_request is not None:
            self.on_request(method, status)


def _seconds(header: str | None) -> float | None:
    try:
        return float(header) if header is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Clients:
    core: client.CoreV1Api
    apps: client.AppsV1Api
    batch: client.BatchV1Api
    custom: client.CustomObjectsApi

    @classmethod
    def create(
        cls,
        kubeconfig: str | None = None,
        *,
        qps: float = 50.0,
        burst: int = 100,
        on_request: RequestHook | None = None,
    ) -> Clients:
        try:
            if kubeconfig:
                raise config.ConfigException("kubeconfig given")
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config(config_file=kubeconfig)
        api = PoliteApiClient(TokenBucket(qps, burst), on_request)
        return cls(client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api), client.CustomObjectsApi(api))
