"""Kopf registrations only: watches, indexes and the dispatcher's start and stop.

The operator's children (label-selected on the server), the nodes and the
HorizontalPodAutoscalers (anyone's: they say whose a Deployment's replicas are) are
indexed once for all ModelDeployments; their events wake the owner's pass through the dispatcher,
which the handlers reach through Kopf's `memo` (set up by `memo_for`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterator
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


@dataclasses.dataclass(frozen=True)
class EndlessBackoffs:
    """Retry delays for Kopf's own requests (watches, peering keep-alives) that never run out.

    Kopf gives up on a request after its last backoff (about a minute in all), and a
    keep-alive that gives up ends the operator: an API server down for longer than that
    (an upgrade, a restart of etcd) would turn into a crash loop instead of a reconnect.
    A fresh iterator per request, so every request starts from the short delays.
    """

    first: tuple[float, ...] = (1, 1, 2, 3, 5, 8)
    then: float = 10.0

    def __iter__(self) -> Iterator[float]:
        yield from self.first
        while True:
            yield self.then


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
    settings.networking.error_backoffs = EndlessBackoffs()
    # Only our own children travel: the API server filters the watches by label.
    for group, plural in CHILDREN:
        settings.watching.label_selectors[group, plural] = SELECTOR
    dispatcher = _dispatcher(memo)
    dispatcher.start(dispatcher.shell.settings.workers)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    await _dispatcher(memo).stop()


# --- the children and the nodes: indexes for the passes, events for waking them ----------


@dataclasses.dataclass(frozen=True)
class _Watched:
    """A kind whose objects are indexed for the passes and whose events wake them."""

    group: str
    plural: str
    kind: str
    field: str  # of dispatching.Indexes
    index: str  # the index's name: Kopf hands it to handlers as a keyword argument
    view: Callable[[kopf.Body], Any]
    owned: bool = True  # a ModelDeployment's child: label-selected, indexed by owner; else one index of all


WATCHED = (
    _Watched("apps", "deployments", "Deployment", "deployments", "deployments_by_owner", observing.deployment_view),
    _Watched("batch", "jobs", "Job", "jobs", "jobs_by_owner", observing.job_view),
    _Watched("", "pods", "Pod", "pods", "pods_by_owner", observing.pod_view),
    _Watched("", "services", "Service", "services", "services_by_owner", observing.child_view),
    _Watched("gateway.networking.k8s.io", "httproutes", "HTTPRoute", "routes", "routes_by_owner", observing.child_view),
    _Watched("", "nodes", "Node", "nodes", "nodes_all", observing.node_view, owned=False),
)
CHILDREN = tuple((w.group, w.plural) for w in WATCHED if w.owned)
INDEXES = {**{w.field: w.index for w in WATCHED}, "autoscalers": "autoscalers_by_target"}


def _indexer(watched: _Watched) -> Callable[..., Awaitable[dict[Any, Any]]]:
    async def index(body: kopf.Body, **_: Any) -> dict[Any, Any]:
        return {observing.owner_of(body) if watched.owned else None: watched.view(body)}

    return index


def _changed(watched: _Watched) -> Callable[..., Awaitable[None]]:
    async def changed(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        _dispatcher(memo).child_event(watched.kind, event.get("type"), dict(body), watched.view(body))

    return changed


for _w in WATCHED:
    _labels = MANAGED if _w.owned else None
    kopf.index(_w.group, "v1", _w.plural, labels=_labels, id=_w.index)(_indexer(_w))
    kopf.on.event(_w.group, "v1", _w.plural, labels=_labels, id=f"{_w.kind.lower()}_changed")(_changed(_w))


# Anyone's HPAs, not only ours: keyed by the Deployment they scale, not by an owner.
@kopf.index("autoscaling", "v2", "horizontalpodautoscalers")
async def autoscalers_by_target(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    """(namespace, Deployment name) -> the HPA's name."""
    view = observing.autoscaler_view(body)
    if not view.target or not body.metadata.namespace:
        return {}
    return {(body.metadata.namespace, view.target): view.name}


@kopf.on.event("autoscaling", "v2", "horizontalpodautoscalers")
async def horizontalpodautoscaler_changed(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    _dispatcher(memo).child_event(
        "HorizontalPodAutoscaler", event.get("type"), dict(body), observing.autoscaler_view(body)
    )


# --- the ModelDeployments themselves ------------------------------------------------------


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
