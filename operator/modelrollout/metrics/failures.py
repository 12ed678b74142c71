"""A failed Prometheus request as one readable line: "Prometheus https://host:port: <what went wrong>".

The HTTP stack wraps the cause several times (urllib3 wraps the ssl or socket error, and
its message carries the request's URL with its URL-encoded PromQL); the line names the
server and the cause only, and never a header (they carry credentials).
"""

from __future__ import annotations

import http
import re
import socket
import ssl
import urllib.parse
from collections.abc import Iterator
from typing import Final

import urllib3.exceptions

from modelrollout.metrics.connection import origin

MAX_LENGTH: Final = 300
# OpenSSL's X509_V_ERR_* codes for a chain that ends at no trusted root.
_UNKNOWN_AUTHORITY: Final = frozenset({2, 18, 19, 20, 21, 27})
_EXPIRED: Final = 10
_NOT_YET_VALID: Final = 9
_NAME_MISMATCH: Final = frozenset({62, 64})  # host name, IP address
_STATUS_REASONS: Final = {401: "PrometheusUnauthorized", 403: "PrometheusForbidden"}
_URL_WITH_QUERY: Final = re.compile(r"\S*\?\S*")  # urllib3 names the request, PromQL and all


class StatusError(Exception):
    """Prometheus answered, with an HTTP status other than 200."""

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(f"{status} {detail}".strip())
        self.status = status
        self.detail = detail


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo = [error]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None)  # urllib3's MaxRetryError
        todo += [
            e for e in (current.__cause__, current.__context__, reason, *current.args) if isinstance(e, BaseException)
        ]


def _certificate(error: ssl.SSLCertVerificationError, host: str) -> str:
    code = error.verify_code
    if code in _UNKNOWN_AUTHORITY:
        return (
            f"certificate signed by unknown authority ({error.verify_message}); set tls.caSecretRef or caConfigMapRef"
        )
    if code == _EXPIRED:
        return "certificate has expired"
    if code == _NOT_YET_VALID:
        return "certificate is not yet valid"
    if code in _NAME_MISMATCH:
        return f"certificate is not valid for {host}; set tls.serverName to a name it carries"
    return f"certificate verification failed: {error.verify_message or error.reason}"


def _status(error: StatusError) -> str:
    try:
        phrase = http.HTTPStatus(error.status).phrase
    except ValueError:
        phrase = "HTTP error"
    hint = {
        401: "the credentials were refused or none were sent (spec.rollout.analysis.prometheus.auth)",
        403: "the credentials are not allowed to query",
    }.get(error.status, error.detail)
    return f"{error.status} {phrase}" + (f": {hint}" if hint else "")


def _tls(error: ssl.SSLError) -> str:
    if error.reason == "WRONG_VERSION_NUMBER":
        return "TLS handshake failed: the server does not speak TLS (an http:// url?)"
    return f"TLS handshake failed: {error.reason or error}"


def _cause(error: BaseException, host: str, timeout: float | None) -> str:
    chain = list(_chain(error))
    # Passes from the most to the least telling, each over the whole chain, innermost
    # first: urllib3's NewConnectionError is also a ConnectTimeoutError, so "refused"
    # must be looked for before any timeout.
    for look in (_answered, _unreached, _cut_short):
        for e in chain:
            if (found := look(e, host, timeout)) is not None:
                return found
    return f"{type(error).__name__}: {_URL_WITH_QUERY.sub('<query>', str(error))}"


def _answered(e: BaseException, host: str, _timeout: float | None) -> str | None:
    """The server answered: a status it gave, or a certificate it showed."""
    if isinstance(e, StatusError):
        return _status(e)
    if isinstance(e, ssl.SSLCertVerificationError):
        return _certificate(e, host)
    return None


def _unreached(e: BaseException, host: str, _timeout: float | None) -> str | None:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, socket.gaierror):
        return f"cannot resolve {host}"
    if isinstance(e, ssl.SSLError):
        return _tls(e)
    return None


def _cut_short(e: BaseException, _host: str, timeout: float | None) -> str | None:
    if isinstance(e, urllib3.exceptions.TimeoutError | TimeoutError):
        return f"no answer within {timeout:g}s" if timeout is not None else "timed out"
    if isinstance(e, ConnectionResetError | urllib3.exceptions.ProtocolError):
        return "connection closed by the server"
    return None


def reason(error: BaseException) -> str:
    """The condition reason of a failure a person must fix (credentials, certificates); "" otherwise."""
    for e in _chain(error):
        if isinstance(e, StatusError) and e.status in _STATUS_REASONS:
            return _STATUS_REASONS[e.status]
        if isinstance(e, ssl.SSLCertVerificationError):
            return "PrometheusCertificateRejected"
    return ""


def describe(error: BaseException, url: str, timeout: float | None = None) -> str:
    """One line: the server, then the cause; no query string, no headers."""
    host = urllib.parse.urlsplit(url).hostname or url
    return f"Prometheus {origin(url)}: {_cause(error, host, timeout)}"[:MAX_LENGTH]
