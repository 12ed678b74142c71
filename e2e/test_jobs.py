"""A Job runs to completion through the real Job controller and KWOK."""

from __future__ import annotations

import pytest
import yaml

from e2e.testbed import kubectl as kubectl_cli

pytestmark = pytest.mark.e2e


def test_job_completes(kubectl: kubectl_cli.Kubectl, namespace: str) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "once"},
        "spec": {
            "completions": 2,
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "work", "image": "registry.invalid/work:1"}],
                }
            },
        },
    }
    kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(job))
    kubectl("wait", "-n", namespace, "--for=condition=Complete", "job/once", "--timeout=60s")
    status = kubectl.json("get", "job", "-n", namespace, "once")["status"]
    assert status["succeeded"] == 2
    assert not status.get("failed")
    phases = [p["status"]["phase"] for p in kubectl.json("get", "pods", "-n", namespace)["items"]]
    assert phases == ["Succeeded", "Succeeded"]
