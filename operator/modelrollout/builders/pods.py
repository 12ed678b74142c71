"""What the Job and server pods share: placement on the pool, resources, storage mounts,
and least privilege."""

from __future__ import annotations

import math
import os
from typing import Any
from urllib.parse import urlparse

from modelrollout import names
from modelrollout.api.v1alpha1 import Resources
from modelrollout.pools import pricing
from modelrollout.pools.profiles import Profile
from modelrollout.settings import OperatorSettings

CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}


def placement(profile: Profile) -> dict[str, Any]:
    """nodeSelector and tolerations that put a pod on the profile's pool."""
    out: dict[str, Any] = {}
    if profile.node_selector:
        out["nodeSelector"] = dict(profile.node_selector)
    if profile.tolerations:
        out["tolerations"] = [t.model_dump(exclude_none=True) for t in profile.tolerations]
    return out


def resources(profile: Profile, requested: Resources | None = None) -> dict[str, Any]:
    """Requests and limits; an extended resource must be requested and limited equally."""
    requests = dict(requested.requests) if requested else {}
    limits = dict(requested.limits) if requested else {}
    if profile.resource is not None:
        requests[profile.resource] = limits[profile.resource] = "1"
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def threads(requested: Resources | None) -> int:
    """Intra-op threads of a runtime in a pod: its whole CPUs, from the limit, else the request.

    0 (the runtime's default: one per core of the node) when the pod states no CPU; a
    pod limited to fewer CPUs than the node has would otherwise run more threads than
    its quota and be throttled. The server and the optimization Job use the same value.
    """
    if requested is None:
        return 0
    for source in (requested.limits, requested.requests):
        cores = pricing.cpus(source.get("cpu"))
        if cores:
            return max(1, math.ceil(cores - 1e-9))
    return 0


def store_volumes(settings: OperatorSettings, *uris: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, mounts) for every pvc:// URI among the ones a pod reads or writes."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    for uri in uris:
        parsed = urlparse(uri)
        if parsed.scheme != "pvc" or any(v["persistentVolumeClaim"]["claimName"] == parsed.netloc for v in volumes):
            continue
        volume = f"pvc-{len(volumes)}"
        volumes.append({"name": volume, "persistentVolumeClaim": {"claimName": parsed.netloc}})
        mounts.append({"name": volume, "mountPath": f"{settings.pvc_mount_root}/{parsed.netloc}"})
    return volumes, mounts


def size_and_credit(
    container: dict[str, Any], profile: Profile, requested: Resources | None, settings: OperatorSettings
) -> dict[str, Any]:
    """The container with the pool's resources and the store credentials, where there are any."""
    if res := resources(profile, requested):
        container["resources"] = res
    if found := env_from(settings):
        container["envFrom"] = found
    return container


def env_from(settings: OperatorSettings) -> list[dict[str, Any]]:
    if settings.env_from_secret is None:
        return []
    return [{"secretRef": {"name": settings.env_from_secret, "optional": True}}]


def identity(settings: OperatorSettings) -> dict[str, Any]:
    """Pod spec fields for who the pod is: never the Kubernetes API token (neither the
    optimizer nor the server talks to the API server), and the configured ServiceAccount
    when one is set, for cloud credentials that its annotations bring (IRSA and the like
    mount their own token, not the API one)."""
    out: dict[str, Any] = {"automountServiceAccountToken": False}
    if settings.service_account_name:
        out["serviceAccountName"] = settings.service_account_name
    return out


def storage_env(settings: OperatorSettings) -> list[dict[str, Any]]:
    """Env that confines the pod's storage reads: the allowed file:// roots, when set."""
    if not settings.file_roots:
        return []
    return [{"name": names.ENV_FILE_ROOTS, "value": os.pathsep.join(settings.file_roots)}]
