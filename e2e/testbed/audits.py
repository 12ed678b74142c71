"""The API server's audit log, for what service accounts really ask of it.

Every request made by a service account is recorded at `Metadata` level (who, verb,
resource, answer; no bodies); the admin identity of the test bed, the controllers and
KWOK are not. `used` reads back the (group, resource, verb) triples one account used,
so RBAC can be checked against what the operator calls instead of what someone wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import yaml

POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "Metadata", "userGroups": ["system:serviceaccounts"]},
        {"level": "None"},
    ],
}


@dataclass(frozen=True, order=True)
class Use:
    group: str  # "" for the core group
    resource: str  # with its subresource: "modeldeployments/status"
    verb: str

    def __str__(self) -> str:
        return f"{self.group or 'core'}/{self.resource}:{self.verb}"


def write_policy(path: Path) -> Path:
    path.write_text(yaml.safe_dump(POLICY))
    return path


def service_account_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def _events(log: Path, user: str) -> Iterator[tuple[Use, int]]:
    """Each request of `user` on an object, with its answer's code."""
    for line in log.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("user", {}).get("username") != user or "objectRef" not in event:
            continue
        code = int((event.get("responseStatus") or {}).get("code") or 0)
        ref = event["objectRef"]
        resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        use = Use(ref.get("apiGroup", ""), resource, event["verb"])
        yield use, code
        # A server-side apply that creates the object is authorized as `create` as well
        # (and recorded as the `patch` it was, answered 201 Created).
        if use.verb == "patch" and code == HTTPStatus.CREATED:
            yield Use(use.group, use.resource, "create"), code


def used(log: Path, user: str) -> set[Use]:
    """What `user` asked for and was allowed (a 403 is not a use)."""
    return {use for use, code in _events(log, user) if code != HTTPStatus.FORBIDDEN}


def refused(log: Path, user: str) -> set[Use]:
    """What `user` asked for and RBAC refused, even once."""
    return {use for use, code in _events(log, user) if code == HTTPStatus.FORBIDDEN}


def granted(role: dict[str, Any]) -> set[Use]:
    """Every (group, resource, verb) a ClusterRole or Role grants (no wildcards expected)."""
    out: set[Use] = set()
    for rule in role.get("rules", []):
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                for verb in rule.get("verbs", []):
                    out.add(Use(group, resource, verb))
    return out
