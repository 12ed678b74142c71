"""KWOK leaves the operator's process-run pods alone and handles every other pod."""

from __future__ import annotations

import time

import pytest
import yaml

from modelrollout import names
from modelrollout.testbed import kubectl as kubectl_cli

pytestmark = pytest.mark.e2e


def pod(name: str, labels: dict[str, str]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "registry.invalid/c:1"}]},
        }
    )


def phase_and_node(kubectl: kubectl_cli.Kubectl, namespace: str, name: str) -> tuple[str, str]:
    got = kubectl.json("get", "pod", "-n", namespace, name)
    return got["status"].get("phase", ""), got["spec"].get("nodeName", "")


def test_server_pod_is_bound_but_not_run_by_kwok(
    kubectl: kubectl_cli.Kubectl, namespace: str
) -> None:
    ours = {names.LABEL_MANAGED_BY: names.MANAGER, names.LABEL_COMPONENT: names.COMPONENT_SERVER}
    kubectl("apply", "-n", namespace, "-f", "-", input=pod("server", ours))
    # Same labels but another component: KWOK runs it.
    other = {**ours, names.LABEL_COMPONENT: "sidecar-tool"}
    kubectl("apply", "-n", namespace, "-f", "-", input=pod("other", other))
    kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod/other", "--timeout=60s")
    deadline = time.monotonic() + 30
    while not phase_and_node(kubectl, namespace, "server")[1]:
        assert time.monotonic() < deadline, "the scheduler never bound the server pod"
        time.sleep(0.2)
    # KWOK handled "other" (created later) already; "server" must still wait for a kubelet.
    phase, node = phase_and_node(kubectl, namespace, "server")
    assert node and phase == "Pending"
