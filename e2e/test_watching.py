"""The operator acts on changes as they happen, and costs nothing at rest.

Its own control plane with every pod KWOK's (no process pods: nothing here needs a
real server) and a resync of an hour, so whatever happens within seconds was caused
by a watch event, not by the safety net. The operator runs as its own process under
its ServiceAccount; its client counts every request it makes (`/metrics`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from e2e.testbed import bare, controlplane, nodes, operators
from e2e.testbed.operators import OperatorProcess
from modelrollout import names

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
REACT = 10.0  # seconds: "at once" on a shared 2-core machine, against a resync of an hour
RESYNC = 3600.0


class Cluster:
    def __init__(self, plane: controlplane.ControlPlane, operator: OperatorProcess) -> None:
        self.plane = plane
        self.operator = operator
        api = plane.api_client()
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    def apply(self, namespace: str, name: str, version: str, accelerator: str = "cpu") -> None:
        body = {
            "apiVersion": names.API_VERSION,
            "kind": names.KIND,
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "model": {"name": "classifier", "version": version, "uri": f"file:///m/{version}/model.onnx"},
                "optimization": {"enabled": False},
                "serving": {"replicas": 1, "accelerator": accelerator},
                "rollout": {"steps": [{"weight": 100}]},
            },
        }
        try:
            self.custom.create_namespaced_custom_object(names.GROUP, names.VERSION, namespace, names.PLURAL, body)
        except client.exceptions.ApiException as error:
            if error.status != 409:
                raise
            self.custom.patch_namespaced_custom_object(
                names.GROUP, names.VERSION, namespace, names.PLURAL, name, {"spec": body["spec"]}
            )

    def status(self, namespace: str, name: str) -> dict[str, Any]:
        body = self.custom.get_namespaced_custom_object(names.GROUP, names.VERSION, namespace, names.PLURAL, name)
        return dict(body.get("status") or {})

    def requests(self) -> float:
        """Requests the operator's client made so far (its own counter on /metrics)."""
        total = 0.0
        for line in self.operator.metrics().splitlines():
            if line.startswith("modelrollout_api_requests_total{"):
                total += float(line.rsplit(" ", 1)[1])
        return total


def uid_or_none(read: Callable[[], Any]) -> str | None:
    try:
        return str(read().metadata.uid)
    except client.exceptions.ApiException as error:
        if error.status == 404:
            return None
        raise


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with bare.started(tmp_path_factory, "watching") as bed:
        plane = bed.plane
        operator = OperatorProcess(
            bed.work,
            bed.account,
            {"image": "modelrollout:dev", "artifactStore": "file:///tmp", "resyncSeconds": RESYNC},
        )
        operator.start()
        try:
            yield Cluster(plane, operator)
        finally:
            operator.stop()
        log = operator.log_path.read_text(errors="replace")
        assert "Traceback" not in log, operator.tail(80)
        assert not operators.rbac_refusals(log), operator.tail(80)


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = f"w-{uuid.uuid4().hex[:8]}"
    cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    cluster.core.delete_namespace(name)


def succeeded(cluster: Cluster, namespace: str, name: str, version: str) -> bool:
    status = cluster.status(namespace, name)
    return status.get("phase") == "Succeeded" and status.get("stableVersion") == version


def test_deleted_children_are_put_back_at_once_and_rest_costs_no_request(cluster: Cluster, namespace: str) -> None:
    cluster.apply(namespace, "m", "1")
    bare.within(60, "first version Succeeded", lambda: succeeded(cluster, namespace, "m", "1"))
    stable = f"m-{names.ROLE_STABLE}"
    deployment = uid_or_none(lambda: cluster.apps.read_namespaced_deployment(stable, namespace))
    service = uid_or_none(lambda: cluster.core.read_namespaced_service("m", namespace))
    assert deployment is not None and service is not None

    # At rest: not one request from the operator's client over a span of seconds.
    time.sleep(3)  # the last pass's echo settles
    before = cluster.requests()
    assert before > 0, "the request counter counts nothing: the check below would prove nothing"
    time.sleep(10)
    assert cluster.requests() == before, "a resting ModelDeployment made the operator call the API"

    def read_deployment() -> Any:
        return cluster.apps.read_namespaced_deployment(stable, namespace)

    def read_service() -> Any:
        return cluster.core.read_namespaced_service("m", namespace)

    cluster.apps.delete_namespaced_deployment(stable, namespace)
    bare.within(REACT, "deleted Deployment recreated", lambda: uid_or_none(read_deployment) not in {None, deployment})
    cluster.core.delete_namespaced_service("m", namespace)
    bare.within(REACT, "deleted Service recreated", lambda: uid_or_none(read_service) not in {None, service})


def test_nodes_coming_and_going_are_seen_at_once(cluster: Cluster, namespace: str) -> None:
    # No npu node yet: the rollout waits, and says why.
    cluster.apply(namespace, "n", "1", accelerator="npu")

    def no_node() -> bool:
        found = [c for c in cluster.status(namespace, "n").get("conditions", []) if c["type"] == "Schedulable"]
        return bool(found) and found[0]["status"] == "False"

    bare.within(60, "Schedulable=False without an npu node", no_node)
    pool = nodes.select(nodes.load_pools(), ["npu"])
    manifests = nodes.node_manifests(pool, names.LABEL_NODE_POOL)
    nodes.create_nodes(cluster.core, manifests)
    bare.within(REACT + 30, "Succeeded once an npu node is there", lambda: succeeded(cluster, namespace, "n", "1"))

    for manifest in manifests:
        cluster.core.delete_node(manifest["metadata"]["name"])
    bare.within(REACT, "node gone from the API", lambda: not cluster.core.list_node(label_selector="type=kwok,"
           f"{names.LABEL_NODE_POOL}=npu").items)  # fmt: skip
    cluster.apply(namespace, "n", "2", accelerator="npu")
    bare.within(REACT, "a new version sees the node is gone", no_node)


def reconciled(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    found = [c for c in cluster.status(namespace, name).get("conditions", []) if c["type"] == "Reconciled"]
    return found[0] if found else None


def test_a_refused_change_is_a_condition_and_clears_once_allowed(cluster: Cluster, namespace: str) -> None:
    # A quota that allows no Deployment: the API server refuses the stable one with 403,
    # which no retry cures; the status must say so, not only the operator's log.
    quota = client.V1ResourceQuota(
        metadata=client.V1ObjectMeta(name="no-deployments"),
        spec=client.V1ResourceQuotaSpec(hard={"count/deployments.apps": "0"}),
    )
    cluster.core.create_namespaced_resource_quota(namespace, quota)
    cluster.apply(namespace, "q", "1")

    def refused() -> dict[str, Any] | None:
        found = reconciled(cluster, namespace, "q")
        return found if found is not None and found["status"] == "False" else None

    bare.within(60, "Reconciled=False while the quota refuses the Deployment", refused)
    condition = refused()
    assert condition is not None
    assert condition["reason"] == "Forbidden"
    assert "403" in condition["message"] and "quota" in condition["message"], condition["message"]
    events = cluster.core.list_namespaced_event(namespace, field_selector="reason=Refused").items
    assert any("quota" in (e.message or "") for e in events), [e.message for e in events]
    assert cluster.status(namespace, "q").get("phase") != "Succeeded"

    cluster.core.delete_namespaced_resource_quota("no-deployments", namespace)
    # The retry backoff after a few refusals is seconds, not the resync.
    bare.within(REACT + 60, "Succeeded once the quota is gone", lambda: succeeded(cluster, namespace, "q", "1"))
    cleared = reconciled(cluster, namespace, "q")
    assert cleared is not None and cleared["status"] == "True" and cleared["reason"] == "Applied", cleared
