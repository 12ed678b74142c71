"""KWOK leaves the operator's process-run pods to the process kubelet and runs every other pod."""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml

from e2e.testbed import kubectl as kubectl_cli
from modelrollout import names

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("process_kubelet")]


def pod(name: str, labels: dict[str, str]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels},
            # No command: KWOK would call it Running; the process kubelet cannot run it.
            "spec": {"containers": [{"name": "c", "image": "registry.invalid/c:1"}]},
        }
    )


def status(kubectl: kubectl_cli.Kubectl, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = kubectl.json("get", "pod", "-n", namespace, name)["status"]
    return found


@pytest.mark.parametrize("component", [names.COMPONENT_SERVER, names.COMPONENT_OPTIMIZER])
def test_process_pods_go_to_the_kubelet_others_to_kwok(
    kubectl: kubectl_cli.Kubectl, namespace: str, component: str
) -> None:
    ours = {names.LABEL_MANAGED_BY: names.MANAGER, names.LABEL_COMPONENT: component}
    kubectl("apply", "-n", namespace, "-f", "-", input=pod("ours", ours))
    other = {**ours, names.LABEL_COMPONENT: "sidecar-tool"}
    kubectl("apply", "-n", namespace, "-f", "-", input=pod("other", other))
    foreign = {**ours, names.LABEL_MANAGED_BY: "someone-else"}
    kubectl("apply", "-n", namespace, "-f", "-", input=pod("foreign", foreign))

    for kwoks in ("other", "foreign"):
        kubectl("wait", "-n", namespace, "--for=condition=Ready", f"pod/{kwoks}", "--timeout=60s")
    deadline = time.monotonic() + 60
    while (got := status(kubectl, namespace, "ours")).get("phase") != "Failed":
        assert got.get("phase") in (None, "Pending"), f"KWOK ran a process pod: {got}"
        assert time.monotonic() < deadline, f"the process kubelet never reported: {got}"
        time.sleep(0.2)
    terminated = got["containerStatuses"][0]["state"]["terminated"]
    assert "no command" in terminated["message"], terminated
