"""Writing: children by server-side apply with one field manager, create-once Jobs and Secrets, deletes,
the ModelDeployment's status, and Events.

Field-manager policy: every field the operator sets on a child is owned by the manager
`names.MANAGER` and applied with `force`, so a hand edit of an owned field is put back
on the next pass. That includes a server Deployment's `spec.replicas`, which is
`spec.serving.replicas` (or the canary's share of it) and so re-asserted after a
`kubectl scale`, as for any other declared field, unless a HorizontalPodAutoscaler
targets that Deployment: then the manifest leaves `spec.replicas` out and never
touches it (`hand_over_replicas` passes it on without a dip). Fields the operator
does not set stay with whoever set them.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, Final

from kubernetes.client.exceptions import ApiException

from modelrollout import names
from modelrollout.kube import observing
from modelrollout.kube.clients import Clients

APPLY: Final = "application/apply-patch+yaml"
GATEWAY_GROUP: Final = "gateway.networking.k8s.io"
HANDOVER: Final = f"{names.MANAGER}-handover"  # holds spec.replicas between the operator and an HPA


def _ssa(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {**kwargs, "field_manager": names.MANAGER, "force": True, "_content_type": APPLY}


def marker_of(kind: str, response: Any) -> str:
    """What the watch will show of the object just applied (see `observing.BY_GENERATION`)."""
    if isinstance(response, dict):
        meta = response.get("metadata") or {}
        generation, version = meta.get("generation"), meta.get("resourceVersion")
    else:
        generation, version = response.metadata.generation, response.metadata.resource_version
    return str((generation if kind in observing.BY_GENERATION else version) or "")


def apply(clients: Clients, obj: dict[str, Any]) -> str:
    """Server-side apply (a no-op on the server when nothing changed); the applied object's marker."""
    kind = obj["kind"]
    meta = obj["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    if kind == "Deployment":
        done = clients.apps.patch_namespaced_deployment(**_ssa({"name": name, "namespace": namespace, "body": obj}))
    elif kind == "Service":
        done = clients.core.patch_namespaced_service(**_ssa({"name": name, "namespace": namespace, "body": obj}))
    elif kind == "HTTPRoute":
        group, version = obj["apiVersion"].split("/")
        done = clients.custom.patch_namespaced_custom_object(
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
    return marker_of(kind, done)


def hand_over_replicas(clients: Clients, namespace: str, name: str, replicas: int) -> None:
    """Keep a Deployment's current count owned before the operator's apply leaves it out.

    A field the only owner stops applying is removed, and spec.replicas would fall back to
    1 until the HPA scaled up again. Applied first, unchanged, under a second manager, it
    is co-owned and survives; the HPA's next scale takes it from that manager (the
    transfer of ownership in the Kubernetes server-side apply documentation). 404: gone
    already; 409: another manager holds a different count, i.e. the HPA scaled already.
    """
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas},
    }
    try:
        # Without force: should the HPA have scaled since the watch showed `replicas`, the
        # conflict says the count is its already, and an older one must not be written.
        clients.apps.patch_namespaced_deployment(
            name=name, namespace=namespace, body=body, field_manager=HANDOVER, _content_type=APPLY
        )
    except ApiException as err:
        if err.status not in {404, 409}:
            raise


def create_job(clients: Clients, obj: dict[str, Any]) -> bool:
    """Create the Job unless it exists (its pod template is immutable). True if created."""
    try:
        clients.batch.create_namespaced_job(namespace=obj["metadata"]["namespace"], body=obj)
    except ApiException as err:
        if err.status == 409:
            return False
        raise
    return True


def create_secret(clients: Clients, obj: dict[str, Any]) -> bool:
    """Create the Secret unless it exists (never replaced: its value is not ours to reset). True if created."""
    try:
        clients.core.create_namespaced_secret(namespace=obj["metadata"]["namespace"], body=obj)
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


def write_status(clients: Clients, namespace: str, name: str, changes: dict[str, Any]) -> dict[str, Any]:
    """A merge patch of the ModelDeployment's status; the object as the server now has it."""
    done: dict[str, Any] = clients.custom.patch_namespaced_custom_object_status(
        names.GROUP, names.VERSION, namespace, names.PLURAL, name, {"status": changes}
    )
    return done


def post_event(
    clients: Clients, involved: dict[str, Any], type_: str, reason: str, message: str, now: datetime
) -> None:
    """A core/v1 Event on the ModelDeployment (what `kubectl describe` and dashboards show)."""
    stamp = now.isoformat().replace("+00:00", "Z")
    clients.core.create_namespaced_event(
        involved["namespace"],
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{involved['name']}.", "namespace": involved["namespace"]},
            "involvedObject": {"apiVersion": names.API_VERSION, "kind": names.KIND, **involved},
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": names.MANAGER},
            "reportingComponent": names.MANAGER,
            # The replica that acted (its pod name): with two replicas, whose Event it is.
            "reportingInstance": os.environ.get(names.ENV_POD_NAME) or names.MANAGER,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        },
    )
