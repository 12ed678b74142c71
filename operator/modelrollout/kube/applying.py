"""Writing children: server-side apply with one field manager, create-once Jobs, deletes."""

from __future__ import annotations

from typing import Any, Final

from kubernetes.client.exceptions import ApiException

from modelrollout import names
from modelrollout.kube.clients import Clients

APPLY: Final = "application/apply-patch+yaml"
GATEWAY_GROUP: Final = "gateway.networking.k8s.io"


def _ssa(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {**kwargs, "field_manager": names.MANAGER, "force": True, "_content_type": APPLY}


def apply(clients: Clients, obj: dict[str, Any]) -> None:
    """Server-side apply: idempotent, and a no-op on the server when nothing changed."""
    kind = obj["kind"]
    meta = obj["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    if kind == "Deployment":
        clients.apps.patch_namespaced_deployment(**_ssa({"name": name, "namespace": namespace, "body": obj}))
    elif kind == "Service":
        clients.core.patch_namespaced_service(**_ssa({"name": name, "namespace": namespace, "body": obj}))
    elif kind == "HTTPRoute":
        group, version = obj["apiVersion"].split("/")
        clients.custom.patch_namespaced_custom_object(
            **_ssa(
                {
                    "group": group,
                    "version": version,
                    "namespace": namespace,
                    "plural": "httproutes",
                    "name": name,
                    "body": obj,
                }
            )
        )
    else:
        raise ValueError(f"no apply for kind {kind}")


def create_job(clients: Clients, obj: dict[str, Any]) -> bool:
    """Create the Job unless it exists (its pod template is immutable). True if created."""
    try:
        clients.batch.create_namespaced_job(namespace=obj["metadata"]["namespace"], body=obj)
    except ApiException as err:
        if err.status == 409:
            return False
        raise
    return True


def delete_deployment(clients: Clients, namespace: str, name: str) -> bool:
    """Delete a Deployment; its pods drain through their termination grace period."""
    try:
        clients.apps.delete_namespaced_deployment(name=name, namespace=namespace, propagation_policy="Background")
    except ApiException as err:
        if err.status == 404:
            return False
        raise
    return True
