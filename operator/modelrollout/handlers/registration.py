"""Kopf registrations only: watches, indexes and the dispatcher's start and stop.

The operator's children (label-selected on the server), the nodes and the
HorizontalPodAutoscalers (anyone's: they say whose a Deployment's replicas are) are
indexed once for all ModelDeployments; their events wake the owner's pass through the dispatcher,
which the handlers reach through Kopf's `memo` (set up by `memo_for`).
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from modelrollout import names
from modelrollout.handlers import dispatching, reconciling, telemetry
from modelrollout.kube import observing
from modelrollout.kube.clients import Clients
from modelrollout.settings import OperatorSettings, load

logger = logging.getLogger(__name__)

MANAGED = {names.LABEL_MANAGED_BY: names.MANAGER}
SELECTOR = f"{names.LABEL_MANAGED_BY}={names.MANAGER}"
CHILDREN = (
    ("batch", "jobs"),
    ("", "pods"),
    ("apps", "deployments"),
    ("", "services"),
    ("gateway.networking.k8s.io", "httproutes"),
)


def memo_for(settings: OperatorSettings | None = None, kubeconfig: str | None = None) -> kopf.Memo:
    """The operator's shared state, handed to `kopf.run(memo=...)`: the shell and its dispatcher."""
    settings = settings or load()
    clients = Clients.create(
        kubeconfig, qps=settings.api_qps, burst=settings.api_burst, on_request=telemetry.count_request
    )
    shell = reconciling.Shell(clients=clients, settings=settings)
    return kopf.Memo(dispatcher=dispatching.Dispatcher(shell))


def _dispatcher(memo: kopf.Memo) -> dispatching.Dispatcher:
    found: dispatching.Dispatcher = memo.dispatcher
    return found


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    if "dispatcher" not in memo:  # run without `memo_for` (e.g. `kopf run`): the defaults
        memo.update(memo_for())
    # Our own Events say what happened; Kopf's log-to-Event mirroring would only add noise.
    settings.posting.level = logging.ERROR
    settings.watching.server_timeout = 300
    # Only our own children travel: the API server filters the watches by label.
    for group, plural in CHILDREN:
        settings.watching.label_selectors[group, plural] = SELECTOR
    dispatcher = _dispatcher(memo)
    dispatcher.start(dispatcher.shell.settings.workers)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    await _dispatcher(memo).stop()


# --- the children and the nodes: indexes for the passes, events for waking them ----------


@kopf.index("apps", "v1", "deployments", labels=MANAGED)
async def deployments_by_owner(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {observing.owner_of(body): observing.deployment_view(body)}


@kopf.index("batch", "v1", "jobs", labels=MANAGED)
async def jobs_by_owner(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {observing.owner_of(body): observing.job_view(body)}


@kopf.index("", "v1", "pods", labels=MANAGED)
async def pods_by_owner(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {observing.owner_of(body): observing.pod_view(body)}


@kopf.index("", "v1", "services", labels=MANAGED)
async def services_by_owner(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {observing.owner_of(body): observing.child_view(body)}


@kopf.index("gateway.networking.k8s.io", "v1", "httproutes", labels=MANAGED)
async def routes_by_owner(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {observing.owner_of(body): observing.child_view(body)}


@kopf.index("", "v1", "nodes")
async def nodes_all(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {None: observing.node_view(body)}


@kopf.index("autoscaling", "v2", "horizontalpodautoscalers")
async def autoscalers_by_target(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    """Anyone's HPAs (not only ours), by the Deployment they scale: (namespace, name) -> HPA name."""
    view = observing.autoscaler_view(body)
    if not view.target or not body.metadata.namespace:
        return {}
    return {(body.metadata.namespace, view.target): view.name}


def _child(kind: str, view: Any) -> Any:
    async def handler(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        _dispatcher(memo).child_event(kind, event.get("type"), dict(body), view(body))

    handler.__name__ = handler.__qualname__ = f"{kind.lower()}_changed"
    return handler


kopf.on.event("apps", "v1", "deployments", labels=MANAGED)(_child("Deployment", observing.deployment_view))
kopf.on.event("batch", "v1", "jobs", labels=MANAGED)(_child("Job", observing.job_view))
kopf.on.event("", "v1", "pods", labels=MANAGED)(_child("Pod", observing.pod_view))
kopf.on.event("", "v1", "services", labels=MANAGED)(_child("Service", observing.child_view))
kopf.on.event("gateway.networking.k8s.io", "v1", "httproutes", labels=MANAGED)(
    _child("HTTPRoute", observing.child_view)
)
kopf.on.event("", "v1", "nodes")(_child("Node", observing.node_view))
kopf.on.event("autoscaling", "v2", "horizontalpodautoscalers")(
    _child("HorizontalPodAutoscaler", observing.autoscaler_view)
)


# --- the ModelDeployments themselves ------------------------------------------------------


INDEXES = {
    "deployments": "deployments_by_owner",
    "jobs": "jobs_by_owner",
    "pods": "pods_by_owner",
    "services": "services_by_owner",
    "routes": "routes_by_owner",
    "nodes": "nodes_all",
    "autoscalers": "autoscalers_by_target",
}


@kopf.on.event(names.GROUP, names.VERSION, names.PLURAL)
async def modeldeployment_changed(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    dispatcher = _dispatcher(memo)
    if dispatcher.indexes is None:
        # Kopf runs this only once every index is filled; the indexes are live views,
        # handed to every handler by name.
        dispatcher.indexes = dispatching.Indexes(**{field: kwargs[index] for field, index in INDEXES.items()})
    kind = event.get("type")
    dispatcher.resource_event(kind, dict(body))
    if kind == "DELETED" and body.metadata.namespace and body.metadata.name:
        telemetry.forget(body.metadata.namespace, body.metadata.name)
