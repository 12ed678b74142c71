"""Whose a server Deployment's replicas are, on a real control plane with its real HPA controller.

An HPA that targets the stable Deployment owns its count: the operator applies the
Deployment without it, hands it over without a dip, keeps it through a whole rollout,
and takes it back once the HPA is gone. Without an HPA the count is declared state:
a `kubectl scale` is undone at once. The bed and the operator process are
`test_watching`'s (pods are KWOK's, the operator runs under its own ServiceAccount).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kubernetes import client

from e2e.test_watching import REACT, Cluster, cluster, namespace, succeeded
from e2e.testbed.bare import within
from modelrollout import names
from modelrollout.kube import applying

pytestmark = pytest.mark.e2e

__all__ = ["cluster", "namespace"]  # the fixtures, shared with test_watching

HPA_SYNC = 60.0  # the HPA controller looks every 15 s; room for a shared 2-core machine


def apply(cluster: Cluster, namespace: str, name: str, version: str, replicas: int) -> None:
    spec = {
        "model": {"name": "classifier", "version": version, "uri": f"file:///m/{version}/model.onnx"},
        "optimization": {"enabled": False},
        "serving": {"replicas": replicas, "accelerator": "cpu"},
        "rollout": {"steps": [{"weight": 100}]},
    }
    body = {"apiVersion": names.API_VERSION, "kind": names.KIND, "metadata": {"name": name}, "spec": spec}
    try:
        cluster.custom.create_namespaced_custom_object(names.GROUP, names.VERSION, namespace, names.PLURAL, body)
    except client.exceptions.ApiException as error:
        if error.status != 409:
            raise
        cluster.custom.patch_namespaced_custom_object(
            names.GROUP, names.VERSION, namespace, names.PLURAL, name, {"spec": spec}
        )


def autoscalers(cluster: Cluster) -> client.AutoscalingV2Api:
    return client.AutoscalingV2Api(cluster.apps.api_client)


def hpa(target: str, min_replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": min_replicas,
            "maxReplicas": 8,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                                    "averageUtilization": 80}}}],
        },
    }  # fmt: skip


def autoscaled(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    found = [c for c in cluster.status(namespace, name).get("conditions", []) if c["type"] == "Autoscaled"]
    return found[0] if found else None


def replicas_owners(deployment: Any) -> set[str]:
    """The field managers that hold spec.replicas."""
    return {
        f.manager
        for f in deployment.metadata.managed_fields or []
        if "f:replicas" in ((f.fields_v1 or {}).get("f:spec") or {})
    }


class Sampler:
    """spec.replicas of one Deployment, read over and over on a thread: the lowest it was."""

    def __init__(self, cluster: Cluster, namespace: str, name: str) -> None:
        self.cluster, self.namespace, self.name = cluster, namespace, name
        self.seen: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.seen.append(int(self.cluster.apps.read_namespaced_deployment(self.name, self.namespace).spec.replicas))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def test_an_hpa_owns_the_stable_replicas_through_a_rollout_and_gives_them_back(
    cluster: Cluster, namespace: str
) -> None:
    stable = f"h-{names.ROLE_STABLE}"

    def deployment() -> Any:
        return cluster.apps.read_namespaced_deployment(stable, namespace)

    apply(cluster, namespace, "h", "1", replicas=2)
    within(60, "first version Succeeded", lambda: succeeded(cluster, namespace, "h", "1"))
    assert deployment().spec.replicas == 2 and replicas_owners(deployment()) == {names.MANAGER}

    # An HPA whose minimum is the declared count: its controller writes nothing, so the
    # operator's apply without replicas would reset them to 1 but for the hand-over.
    with Sampler(cluster, namespace, stable) as sampler:
        autoscalers(cluster).create_namespaced_horizontal_pod_autoscaler(namespace, hpa(stable, 2))
        within(REACT, "Autoscaled=True", lambda: (autoscaled(cluster, namespace, "h") or {}).get("status") == "True")
        within(
            REACT, "the operator let go of spec.replicas", lambda: names.MANAGER not in replicas_owners(deployment())
        )
    assert sampler.seen and min(sampler.seen) == 2, f"replicas dipped during the hand-over: {sorted(set(sampler.seen))}"
    assert replicas_owners(deployment()) == {applying.HANDOVER}
    condition = autoscaled(cluster, namespace, "h")
    assert condition is not None and condition["reason"] == "HorizontalPodAutoscaler" and "web" in condition["message"]
    events = cluster.core.list_namespaced_event(namespace, field_selector="reason=AutoscalerFound").items
    assert len(events) == 1, [e.message for e in events]

    # The real HPA controller scales up to its minimum, metrics or not.
    autoscalers(cluster).patch_namespaced_horizontal_pod_autoscaler("web", namespace, {"spec": {"minReplicas": 4}})
    within(HPA_SYNC, "the HPA scaled the stable to 4", lambda: deployment().spec.replicas == 4)
    assert names.MANAGER not in replicas_owners(deployment())

    # A new version: the canary, the promotion's template update of the stable, and
    # every pass in between apply the stable Deployment; its count stays the HPA's.
    apply(cluster, namespace, "h", "2", replicas=2)
    within(REACT + 60, "version 2 promoted", lambda: succeeded(cluster, namespace, "h", "2"))
    promoted = deployment()
    assert promoted.spec.template.metadata.labels[names.LABEL_VERSION] == "2"
    assert promoted.spec.replicas == 4, "the operator wrote over the HPA's replicas"
    assert names.MANAGER not in replicas_owners(promoted)

    # The HPA gone: the declared count is the operator's again.
    autoscalers(cluster).delete_namespaced_horizontal_pod_autoscaler("web", namespace)
    within(REACT, "serving.replicas applied again", lambda: deployment().spec.replicas == 2)
    assert names.MANAGER in replicas_owners(deployment())
    gone = autoscaled(cluster, namespace, "h")
    assert gone is not None and (gone["status"], gone["reason"]) == ("False", "NoAutoscaler")


def test_without_an_hpa_kubectl_scale_is_undone(cluster: Cluster, namespace: str) -> None:
    stable = f"s-{names.ROLE_STABLE}"
    apply(cluster, namespace, "s", "1", replicas=1)
    within(60, "first version Succeeded", lambda: succeeded(cluster, namespace, "s", "1"))
    scaled = cluster.apps.patch_namespaced_deployment_scale(stable, namespace, {"spec": {"replicas": 3}})
    assert scaled.spec.replicas == 3
    within(
        REACT,
        "the declared replicas re-asserted",
        lambda: cluster.apps.read_namespaced_deployment(stable, namespace).spec.replicas == 1,
    )
    assert autoscaled(cluster, namespace, "s") is None
