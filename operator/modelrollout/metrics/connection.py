"""How the analysis connects to Prometheus: what to read for it, and the connection once read. Pure.

The spec names Secrets, a ConfigMap or the pod's own service account token. The shell
reads exactly `references(...)` at analysis time (a rotated Secret or token is picked up
by the next check) and hands back what it found; `resolve` turns that into a
`Connection`, or into `Unavailable` naming what was not there. A value never enters a
message: messages name the object and the key only.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from modelrollout.api.v1alpha1 import KeyRef, Prometheus

SERVICE_ACCOUNT_TOKEN: Final = "/var/run/secrets/kubernetes.io/serviceaccount/token"
LINE_END: Final = "\r\n"


class Source(StrEnum):
    SECRET = "Secret"
    CONFIG_MAP = "ConfigMap"
    TOKEN_FILE = "service account token"


class Reason(StrEnum):
    """The AnalysisHealthy condition's reason when the connection cannot be made."""

    MISSING = "PrometheusCredentialsMissing"  # not found, no such key, or empty
    UNREADABLE = "PrometheusCredentialsUnreadable"  # forbidden or the API server failed


@dataclass(frozen=True)
class Reference:
    """One value to read: a key of a Secret or ConfigMap, or the token file (name is its path)."""

    source: Source
    name: str
    key: str = ""

    def describe(self, namespace: str) -> str:
        if self.source is Source.TOKEN_FILE:
            return f"the operator's service account token ({self.name})"
        return f"{self.source.value} {namespace}/{self.name} key {self.key!r}"


class Lack(StrEnum):
    NOT_FOUND = "not found"
    NO_KEY = "no such key"
    EMPTY = "empty"
    FORBIDDEN = "forbidden"
    FAILED = "failed"


@dataclass(frozen=True)
class Unread:
    """Why a reference has no value; `detail` is the API server's status, never data."""

    lack: Lack
    detail: str = ""


Found = Mapping[Reference, "str | Unread"]


@dataclass(frozen=True)
class Connection:
    url: str
    timeout_seconds: float
    verify: bool = True
    ca_pem: str | None = None  # None: the system's CAs
    ca_from: str = ""  # where the CA came from, for a message about a bad bundle
    server_name: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)  # holds credentials: never printed


@dataclass(frozen=True)
class Unavailable:
    reason: Reason
    message: str


def _ref(source: Source, ref: KeyRef) -> Reference:
    return Reference(source, ref.name, ref.key)


def _ca(prometheus: Prometheus) -> Reference | None:
    tls = prometheus.tls
    if tls is None:
        return None
    if tls.ca_secret_ref is not None:
        return _ref(Source.SECRET, tls.ca_secret_ref)
    if tls.ca_config_map_ref is not None:
        return _ref(Source.CONFIG_MAP, tls.ca_config_map_ref)
    return None


def _auth(prometheus: Prometheus) -> tuple[Reference, ...]:
    auth = prometheus.auth
    if auth is None:
        return ()
    if auth.bearer_token_secret_ref is not None:
        return (_ref(Source.SECRET, auth.bearer_token_secret_ref),)
    if auth.basic_auth is not None:
        name = auth.basic_auth.secret_ref.name
        return (
            Reference(Source.SECRET, name, auth.basic_auth.username_key),
            Reference(Source.SECRET, name, auth.basic_auth.password_key),
        )
    return (Reference(Source.TOKEN_FILE, SERVICE_ACCOUNT_TOKEN),) if auth.service_account_token else ()


def references(prometheus: Prometheus) -> tuple[Reference, ...]:
    """What the shell must read before querying, in a stable order."""
    ca = _ca(prometheus)
    return ((ca,) if ca is not None else ()) + _auth(prometheus)


def origin(url: str) -> str:
    """scheme://host:port of a URL, without credentials, path or query: what a message names."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # not a number: the request fails and says so; the message still names the host
        port = None
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{port}" if port else "")


def _unavailable(prometheus: Prometheus, namespace: str, ref: Reference, unread: Unread) -> Unavailable:
    reason = Reason.UNREADABLE if unread.lack in {Lack.FORBIDDEN, Lack.FAILED} else Reason.MISSING
    detail = f" ({unread.detail})" if unread.detail else ""
    return Unavailable(
        reason, f"Prometheus {origin(prometheus.url)} credentials: {ref.describe(namespace)}: {unread.lack}{detail}"
    )


def resolve(prometheus: Prometheus, namespace: str, found: Found) -> Connection | Unavailable:
    """The connection the spec asks for, from the values the shell read; or what is missing."""
    values: dict[Reference, str] = {}
    for ref in references(prometheus):
        got = found.get(ref, Unread(Lack.NOT_FOUND))
        if isinstance(got, str) and not got.strip():
            got = Unread(Lack.EMPTY)
        if isinstance(got, Unread):
            return _unavailable(prometheus, namespace, ref, got)
        values[ref] = got
    ca = _ca(prometheus)
    tls = prometheus.tls
    headers = {h.name: h.value for h in prometheus.headers}
    headers.update(_authorization(prometheus, values))
    return Connection(
        url=prometheus.url.rstrip("/"),
        timeout_seconds=prometheus.timeout.total_seconds(),
        verify=not (tls is not None and tls.insecure_skip_verify),
        ca_pem=values[ca] if ca is not None else None,
        ca_from=ca.describe(namespace) if ca is not None else "",
        server_name=tls.server_name if tls is not None else None,
        headers=headers,
    )


def _authorization(prometheus: Prometheus, values: Mapping[Reference, str]) -> dict[str, str]:
    refs = _auth(prometheus)
    auth = prometheus.auth
    if auth is None or not refs:
        return {}
    if auth.basic_auth is not None:
        user, password = (values[r] for r in refs)
        # Secrets written with `echo` end in a newline that is no part of the value.
        pair = f"{user.strip()}:{password.rstrip(LINE_END)}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    return {"Authorization": "Bearer " + values[refs[0]].strip()}
