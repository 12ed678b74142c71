"""The dispatcher wakes the right rollout, once, and never on the echo of its own write."""

from __future__ import annotations

import asyncio
from typing import Any

from modelrollout import names
from modelrollout.handlers import dispatching, reconciling
from modelrollout.kube import observing
from modelrollout.settings import OperatorSettings


def _dispatcher() -> dispatching.Dispatcher:
    return dispatching.Dispatcher(reconciling.Shell(clients=None, settings=OperatorSettings()))  # type: ignore[arg-type]


def _md(rv: str, **annotations: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": "m", "resourceVersion": rv, "annotations": annotations}}


def _deployment(ready: int) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"namespace": "ns", "name": "m-stable", "labels": {names.LABEL_INSTANCE: "m"}},
        "spec": {"replicas": 1},
        "status": {"readyReplicas": ready, "updatedReplicas": 1, "replicas": 1},
    }


def test_our_own_status_write_does_not_wake_the_rollout_but_a_later_change_does() -> None:
    async def scenario() -> None:
        d = _dispatcher()
        d.resource_event(None, _md("10"))
        assert len(d.queue) == 1 and await d.queue.get() == ("ns", "m")
        d.queue.done(("ns", "m"))
        d.echoes[("ns", "m")] = "12"  # what _after records from the patch's response
        d.bodies[("ns", "m")] = _md("12")
        d.resource_event("MODIFIED", _md("11", abort="x"))  # from before our write
        assert d.bodies[("ns", "m")]["metadata"]["resourceVersion"] == "12" and len(d.queue) == 1
        await d.queue.get()
        d.queue.done(("ns", "m"))
        d.resource_event("MODIFIED", _md("12"))  # the echo
        assert len(d.queue) == 0
        d.resource_event("MODIFIED", _md("13", pause="true"))
        assert len(d.queue) == 1 and d.bodies[("ns", "m")]["metadata"]["resourceVersion"] == "13"

    asyncio.run(scenario())


def test_a_child_wakes_its_owner_only_when_its_view_changes() -> None:
    async def scenario() -> None:
        d = _dispatcher()
        d.bodies[("ns", "m")] = _md("1")
        body = _deployment(0)
        d.child_event("Deployment", None, body, observing.deployment_view(body))
        assert len(d.queue) == 1
        await d.queue.get()
        d.queue.done(("ns", "m"))
        d.child_event("Deployment", "MODIFIED", body, observing.deployment_view(body))  # a status heartbeat
        assert len(d.queue) == 0
        ready = _deployment(1)
        d.child_event("Deployment", "MODIFIED", ready, observing.deployment_view(ready))
        assert len(d.queue) == 1
        await d.queue.get()
        d.queue.done(("ns", "m"))
        d.child_event("Deployment", "DELETED", ready, observing.deployment_view(ready))
        assert len(d.queue) == 1

    asyncio.run(scenario())


def test_a_node_change_wakes_only_the_rollouts_placing_pods() -> None:
    async def scenario() -> None:
        d = _dispatcher()
        for name in ("a", "b"):
            d.bodies[("ns", name)] = _md("1")
        d.placing.add(("ns", "a"))
        node = {
            "metadata": {"name": "n1", "labels": {}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
        d.child_event("Node", None, node, observing.node_view(node))
        assert len(d.queue) == 1 and await d.queue.get() == ("ns", "a")

    asyncio.run(scenario())


def test_retries_back_off_with_jitter() -> None:
    delays = [dispatching.retry_after(n, 0.5) for n in range(1, 9)]
    assert delays == sorted(delays) and delays[0] == 1.0 and delays[-1] == 60.0
    assert 0.75 <= dispatching.retry_after(1, 0.0) < dispatching.retry_after(1, 0.999) < 1.25


def test_a_change_newer_than_our_write_is_kept() -> None:
    d = _dispatcher()
    d.bodies[("ns", "m")] = _md("14", abort="x")  # arrived while the pass ran
    written = reconciling.Outcome(decision=None, written=_md("12"), due=None, plan=None)

    async def scenario() -> None:
        d._after(("ns", "m"), written)
        d.queue.cancel(("ns", "m"))

    asyncio.run(scenario())
    assert d.bodies[("ns", "m")]["metadata"]["resourceVersion"] == "14" and ("ns", "m") not in d.echoes


def _hpa(target: str, min_replicas: int = 3) -> dict[str, Any]:
    ref = {"kind": "Deployment", "apiVersion": "apps/v1", "name": target}
    return {
        "metadata": {"namespace": "ns", "name": "web"},
        "spec": {"scaleTargetRef": ref, "minReplicas": min_replicas},
    }


def test_an_hpa_wakes_the_rollout_whose_deployment_it_targets_and_is_in_its_snapshot() -> None:
    async def scenario() -> None:
        d = _dispatcher()
        for name in ("m", "other"):
            d.bodies[("ns", name)] = _md("1")
        d.bodies[("elsewhere", "m")] = _md("1")
        hpa = _hpa("m-stable")
        d.child_event("HorizontalPodAutoscaler", None, hpa, observing.autoscaler_view(hpa))
        assert len(d.queue) == 1 and await d.queue.get() == ("ns", "m")
        d.queue.done(("ns", "m"))
        resized = _hpa("m-stable", min_replicas=5)  # not what a pass sees of it: no wake
        d.child_event("HorizontalPodAutoscaler", "MODIFIED", resized, observing.autoscaler_view(resized))
        assert len(d.queue) == 0
        moved = _hpa("other-stable")  # both the old target's owner and the new one's
        d.child_event("HorizontalPodAutoscaler", "MODIFIED", moved, observing.autoscaler_view(moved))
        assert len(d.queue) == 2

        empty: dict[Any, Any] = {}
        d.indexes = dispatching.Indexes(
            deployments=empty, jobs=empty, pods=empty, services=empty, routes=empty, nodes=empty,
            autoscalers={("ns", "other-stable"): ["web"], ("elsewhere", "m-stable"): ["x"]},
        )  # fmt: skip
        assert d.seen(("ns", "other")).autoscalers == {names.ROLE_STABLE: "web"}
        assert d.seen(("ns", "m")).autoscalers == {}

    asyncio.run(scenario())
