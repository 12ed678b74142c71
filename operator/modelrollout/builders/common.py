"""Names, labels and owner references shared by every child object."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelrollout import names


@dataclass(frozen=True)
class Owner:
    """The ModelDeployment that owns a child: enough to name, label and reference it."""

    name: str
    namespace: str
    uid: str
    model: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Owner:
        meta = body["metadata"]
        return cls(meta["name"], meta["namespace"], meta["uid"], body["spec"]["model"]["name"])

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": names.API_VERSION,
            "kind": names.KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def _fit(text: str, limit: int) -> str:
    """A DNS-1123 name of at most `limit` characters, shortened with a hash when needed."""
    clean = re.sub(r"[^a-z0-9-]", "-", text.lower()).strip("-")
    if len(clean) <= limit:
        return clean
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{clean[: limit - 9].rstrip('-')}-{digest}"


def deployment_name(owner: Owner, role: str) -> str:
    return _fit(f"{owner.name}-{role}", 63)


def service_name(owner: Owner, role: str | None = None) -> str:
    return _fit(owner.name if role is None else f"{owner.name}-{role}", 63)


def job_name(owner: Owner, revision: str, attempt: int = 1) -> str:
    """`<name>-optimize-<revision>`, with `-<attempt>` from the second attempt on."""
    suffix = "" if attempt == 1 else f"-{attempt}"
    return _fit(f"{owner.name}-optimize-{revision}{suffix}", 63)


def child_name(owner: Owner, suffix: str) -> str:
    """`<name>-<suffix>`, for a child of which there is one per ModelDeployment."""
    return _fit(f"{owner.name}-{suffix}", 63)


def route_name(owner: Owner) -> str:
    return _fit(owner.name, 253)


def labels(owner: Owner, component: str, *, version: str | None = None, role: str | None = None) -> dict[str, str]:
    out = {
        names.LABEL_NAME: names.APP_NAME,
        names.LABEL_INSTANCE: owner.name,
        names.LABEL_MANAGED_BY: names.MANAGER,
        names.LABEL_COMPONENT: component,
    }
    if version is not None:
        out[names.LABEL_VERSION] = _fit(version, 63)
    if role is not None:
        out[names.LABEL_ROLE] = role
    return out


def metadata(owner: Owner, name: str, lbls: Mapping[str, str], **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": owner.namespace,
        "labels": dict(lbls),
        "ownerReferences": [owner.reference()],
    }
    if annotations:
        meta["annotations"] = {f"{names.GROUP}/{k}": v for k, v in annotations.items()}
    return meta
