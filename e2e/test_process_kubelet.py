"""The process kubelet runs the operator's pods as local processes and reports like a kubelet."""

from __future__ import annotations

import os
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from e2e.testbed import kubectl as kubectl_cli
from e2e.testbed import kubelet, prometheus
from modelrollout import names

pytestmark = pytest.mark.e2e

FAILING_OPTIMIZER = f"""
import os
with open(os.environ[{names.ENV_TERMINATION_LOG!r}], "w") as log:
    log.write('{{"succeeded": false, "reason": "no candidate passed"}}')
raise SystemExit(3)
"""

TINY_SERVER = f"""
import http.server, os
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = {{"{kubelet.READY_PATH}": b"", "/metrics": b"testbed_served 1\\n"}}.get(self.path)
        self.send_response(404 if body is None else 200)
        self.end_headers()
        self.wfile.write(body or b"")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ[{names.ENV_PORT!r}])), Handler).serve_forever()
"""


def labels(component: str) -> dict[str, str]:
    return {
        names.LABEL_MANAGED_BY: names.MANAGER,
        names.LABEL_COMPONENT: component,
        "app": component,
    }


def container(script: str) -> dict[str, Any]:
    return {
        "name": "main",
        "image": "registry.invalid/x:1",
        "command": [sys.executable, "-c", script],
    }


def until(what: str, probe: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return found


def only_pod(kubectl: kubectl_cli.Kubectl, namespace: str, app: str) -> dict[str, Any] | None:
    items = kubectl.json("get", "pods", "-n", namespace, "-l", f"app={app}")["items"]
    return items[0] if len(items) == 1 else None


def test_failed_job_reports_exit_code_and_termination_message(
    kubectl: kubectl_cli.Kubectl, namespace: str, process_kubelet: kubelet.ProcessKubelet
) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "optimize"},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": labels(names.COMPONENT_OPTIMIZER)},
                "spec": {"restartPolicy": "Never", "containers": [container(FAILING_OPTIMIZER)]},
            },
        },
    }
    kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(job))
    kubectl("wait", "-n", namespace, "--for=condition=Failed", "job/optimize", "--timeout=60s")
    pod = only_pod(kubectl, namespace, names.COMPONENT_OPTIMIZER)
    assert pod is not None
    assert pod["status"]["phase"] == "Failed"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 3
    assert terminated["message"] == '{"succeeded": false, "reason": "no candidate passed"}'


def test_server_becomes_ready_is_scraped_and_stops_on_delete(
    kubectl: kubectl_cli.Kubectl,
    namespace: str,
    process_kubelet: kubelet.ProcessKubelet,
    prometheus_server: prometheus.Prometheus,
) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "server"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": names.COMPONENT_SERVER}},
            "template": {
                "metadata": {"labels": labels(names.COMPONENT_SERVER)},
                "spec": {
                    "terminationGracePeriodSeconds": 10,
                    "containers": [{**container(TINY_SERVER), "lifecycle": {"preStop": {"sleep": {"seconds": 3}}}}],
                },
            },
        },
    }
    kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(deployment))
    kubectl("rollout", "status", "-n", namespace, "deployment/server", "--timeout=60s")
    pod = only_pod(kubectl, namespace, names.COMPONENT_SERVER)
    assert pod is not None and pod["status"]["podIP"] == kubelet.POD_IP
    name = pod["metadata"]["name"]
    pid = process_kubelet.running()[f"{namespace}/{name}"]

    scraped = prometheus_server.wait_for(f'testbed_served{{namespace="{namespace}", pod="{name}"}}')
    assert float(scraped[0]["value"][1]) == 1.0

    port = next(e.port for e in process_kubelet.endpoints() if e.pod == name)
    kubectl("delete", "-n", namespace, "deployment/server", "--wait=false")
    # Out of the endpoints at once, while the preStop sleep keeps the server answering.
    until("the pod to leave the endpoints", lambda: all(e.pod != name for e in process_kubelet.endpoints()), 10)
    left = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{kubelet.READY_PATH}", timeout=5) as answer:
        assert answer.status == 200
    until("the process to end", lambda: not os.path.exists(f"/proc/{pid}"), 30)
    assert time.monotonic() - left >= 2.5, "SIGTERM came before the preStop sleep was over"
    until(
        "the pod to be removed",
        lambda: (
            only_pod(kubectl, namespace, names.COMPONENT_SERVER) is None
            and kubectl.json("get", "pods", "-n", namespace)["items"] == []
        ),
    )
    assert f"{namespace}/{name}" not in process_kubelet.running()
    until(
        "the target to be dropped",
        lambda: not any(t["labels"].get("pod") == name for t in prometheus_server.active_targets()),
    )


@pytest.mark.parametrize(("args", "exit_code"), [(["--help"], 0), (["no-such-command"], 2)])
def test_modelrollout_command_runs_this_package(
    kubectl: kubectl_cli.Kubectl,
    namespace: str,
    process_kubelet: kubelet.ProcessKubelet,
    args: list[str],
    exit_code: int,
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "cli", "labels": labels(names.COMPONENT_OPTIMIZER)},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "x", "command": ["modelrollout"], "args": args}],
        },
    }
    kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(pod))

    def finished() -> dict[str, Any] | None:
        status: dict[str, Any] = kubectl.json("get", "pod", "-n", namespace, "cli")["status"]
        return status if status.get("phase") in ("Succeeded", "Failed") else None

    done = until("the pod to finish", finished)
    assert done["containerStatuses"][0]["state"]["terminated"]["exitCode"] == exit_code


def test_crashing_server_is_restarted_and_not_ready(
    kubectl: kubectl_cli.Kubectl, namespace: str, process_kubelet: kubelet.ProcessKubelet
) -> None:
    crash = f"import os; open(os.environ[{names.ENV_TERMINATION_LOG!r}], 'w').write('boom'); exit(4)"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "crash", "labels": labels(names.COMPONENT_SERVER)},
        "spec": {"containers": [container(crash)]},
    }
    kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(pod))

    def restarted() -> dict[str, Any] | None:
        status: dict[str, Any] = kubectl.json("get", "pod", "-n", namespace, "crash")["status"]
        statuses = status.get("containerStatuses") or [{}]
        return status if statuses[0].get("restartCount", 0) >= 1 else None

    status = until("a restart", restarted)
    assert status["phase"] == "Running"
    (container_status,) = status["containerStatuses"]
    assert container_status["ready"] is False
    last = container_status["lastState"]["terminated"]
    assert (last["exitCode"], last["message"], last["reason"]) == (4, "boom", "Error")
    assert last["startedAt"] <= last["finishedAt"]
