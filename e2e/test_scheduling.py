"""The real scheduler places pods on KWOK node pools by resources, labels and taints."""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml

from e2e.testbed import kubectl as kubectl_cli
from modelrollout import names

pytestmark = pytest.mark.e2e


def deployment(name: str, replicas: int, *, gpu: bool, tolerate: bool) -> str:
    container: dict[str, Any] = {"name": "app", "image": "registry.invalid/app:1"}
    if gpu:
        container["resources"] = {"limits": {"nvidia.com/gpu": "1"}}
    pod_spec: dict[str, Any] = {"containers": [container]}
    if tolerate:
        pod_spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec},
            },
        }
    )


def pods(kubectl: kubectl_cli.Kubectl, namespace: str, app: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kubectl.json("get", "pods", "-n", namespace, "-l", f"app={app}")["items"]
    return items


def node_pool(kubectl: kubectl_cli.Kubectl, node: str) -> str:
    pool: str = kubectl.json("get", "node", node)["metadata"]["labels"][names.LABEL_NODE_POOL]
    return pool


def wait_pods(
    kubectl: kubectl_cli.Kubectl,
    namespace: str,
    app: str,
    count: int,
    *,
    phase: str,
    timeout: float = 60,
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = pods(kubectl, namespace, app)
        if len(found) == count and all(p["status"].get("phase") == phase for p in found):
            return found
        if time.monotonic() > deadline:
            states = [(p["metadata"]["name"], p["status"].get("phase")) for p in found]
            raise TimeoutError(f"{app}: wanted {count} {phase}, have {states}")
        time.sleep(0.25)


def test_gpu_pod_with_toleration_runs_on_the_gpu_pool(kubectl: kubectl_cli.Kubectl, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=deployment("gpu", 2, gpu=True, tolerate=True))
    placed = wait_pods(kubectl, namespace, "gpu", 2, phase="Running")
    assert {node_pool(kubectl, p["spec"]["nodeName"]) for p in placed} == {"nvidia-gpu"}
    for pod in placed:
        assert pod["status"]["podIP"], "KWOK gives a Running pod an IP"
        assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"] == "True"


def test_pods_without_toleration_never_land_on_tainted_pools(kubectl: kubectl_cli.Kubectl, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=deployment("plain", 6, gpu=False, tolerate=False))
    placed = wait_pods(kubectl, namespace, "plain", 6, phase="Running")
    assert {node_pool(kubectl, p["spec"]["nodeName"]) for p in placed} == {"cpu"}


def test_gpu_request_without_toleration_is_unschedulable(kubectl: kubectl_cli.Kubectl, namespace: str) -> None:
    kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=deployment("untolerated", 1, gpu=True, tolerate=False),
    )
    deadline = time.monotonic() + 60
    while True:
        (pod,) = pods(kubectl, namespace, "untolerated") or [None]
        conditions = {c["type"]: c for c in (pod or {}).get("status", {}).get("conditions", [])}
        scheduled = conditions.get("PodScheduled")
        if scheduled and scheduled["status"] == "False":
            break
        assert time.monotonic() < deadline, f"scheduler gave no verdict: {pod}"
        time.sleep(0.25)
    assert scheduled["reason"] == "Unschedulable"
    assert "nvidia.com/gpu" in scheduled["message"], scheduled["message"]
    assert not pod["spec"].get("nodeName")
