"""Reading what the analysis' Prometheus connection names: Secret and ConfigMap keys, the token file.

Only `get`, one object at a time, at analysis time: the operator may not list or watch
Secrets, and a value is read again at every check, so a rotated one is used at once.
Values go back to the caller only; a failure is reported by its status, never with data.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from kubernetes.client.exceptions import ApiException

from modelrollout.kube.clients import Clients
from modelrollout.metrics.connection import Found, Lack, Reference, Source, Unread


def _lack(error: ApiException) -> Unread:
    if error.status == 404:
        return Unread(Lack.NOT_FOUND)
    if error.status in {401, 403}:
        return Unread(Lack.FORBIDDEN, f"{error.status} {error.reason}; the operator's role needs get on it")
    return Unread(Lack.FAILED, f"{error.status} {error.reason}")


def _data(clients: Clients, namespace: str, ref: Reference) -> dict[str, str] | Unread:
    """The object's data as text (a Secret's decoded), or why it cannot be had."""
    try:
        if ref.source is Source.SECRET:
            raw = clients.core.read_namespaced_secret(ref.name, namespace).data or {}
            return {k: base64.b64decode(v).decode(errors="replace") for k, v in raw.items()}
        got = clients.core.read_namespaced_config_map(ref.name, namespace).data or {}
        return dict(got)
    except ApiException as error:
        return _lack(error)
    except binascii.Error:
        return Unread(Lack.FAILED, "its data is not base64")


def _file(ref: Reference) -> str | Unread:
    try:
        return Path(ref.name).read_text()
    except FileNotFoundError:
        return Unread(Lack.NOT_FOUND, "is the pod's automountServiceAccountToken off?")
    except OSError as err:
        return Unread(Lack.FAILED, err.strerror or type(err).__name__)


def read(clients: Clients, namespace: str, refs: tuple[Reference, ...]) -> Found:
    """Each reference's value, or why there is none; one GET per object, however many keys."""
    objects: dict[tuple[Source, str], dict[str, str] | Unread] = {}
    found: dict[Reference, str | Unread] = {}
    for ref in refs:
        if ref.source is Source.TOKEN_FILE:
            found[ref] = _file(ref)
            continue
        key = (ref.source, ref.name)
        if key not in objects:
            objects[key] = _data(clients, namespace, ref)
        data = objects[key]
        found[ref] = data if isinstance(data, Unread) else data.get(ref.key, Unread(Lack.NO_KEY))
    return found
