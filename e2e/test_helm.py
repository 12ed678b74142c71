"""The Helm chart on the real control plane, with the real helm (built from its Go module).

`helm install` (the API server is all it needs), then a sample rollout driven by the
operator the chart installed: run as a process with a token of the chart's ServiceAccount
and the configuration file from the chart's ConfigMap, so the chart's RBAC and settings
are what the operator really works with. Then `helm upgrade` changes a setting and keeps
the rollout's state, and `helm uninstall` keeps what holds data (CRDs, the artifact claim).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from e2e.test_ship_cluster import PROMETHEUS_OPERATOR, PROMETHEUS_OPERATOR_CRDS, _free_port, _go_module_dir, _tiny_model
from e2e.testbed import bed as beds
from e2e.testbed import controlplane, kubelet
from e2e.testbed import kubectl as kubectl_cli
from modelrollout import names
from tests.ship import helm

pytestmark = pytest.mark.e2e

REPO: Final = Path(__file__).resolve().parents[1]
RELEASE: Final = "modelrollout"
NAMESPACE: Final = "modelrollout-system"
ACCOUNT: Final = "modelrollout-operator"


class Release:
    def __init__(self, kubeconfig: Path, work: Path, workload_namespace: str) -> None:
        self.kubeconfig = kubeconfig
        self.work = work
        self.workload_namespace = workload_namespace
        self.values: dict[str, Any] = {
            # The operator runs as a process below (the test bed's nodes run no images).
            "operator": {"replicas": 0},
            "podDisruptionBudget": {"enabled": False},
            "config": {
                "image": "modelrollout:dev",
                "artifactStore": (work / "artifacts").as_uri(),
                "resyncSeconds": 60,
                "pools": beds.simulated_pools(),
            },
            "artifactStore": {"pvc": {"namespaces": [workload_namespace]}},
            **{k: {"enabled": True} for k in ("serviceMonitor", "podMonitor", "prometheusRule", "grafanaDashboard")},
        }

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # Helm's own state (repositories, cache) stays in the test's folder.
        homes = {f"HELM_{kind}_HOME": str(self.work / f"helm-{kind.lower()}") for kind in ("CACHE", "CONFIG", "DATA")}
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), **homes}
        return helm.run(*args, "--namespace", NAMESPACE, check=check, timeout=300, env=env)


@pytest.fixture(scope="module")
def release(
    kubectl: kubectl_cli.Kubectl, control_plane: controlplane.ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Release]:
    folder = _go_module_dir(*PROMETHEUS_OPERATOR) / "example" / "prometheus-operator-crd"
    for name in PROMETHEUS_OPERATOR_CRDS:
        kubectl("apply", "--server-side", "--force-conflicts", "-f", str(folder / f"monitoring.coreos.com_{name}.yaml"))
    workload = f"helm-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", workload)
    installed = Release(control_plane.kubeconfig_path, tmp_path_factory.mktemp("helm"), workload)
    values = helm.values_file(installed.work, installed.values)
    # --take-ownership: other tests may have applied the kustomize install (same names)
    # on this shared cluster; it is also how a kustomize install moves to the chart.
    installed.helm("install", RELEASE, str(helm.CHART), "--create-namespace", "--take-ownership", "-f", values)
    yield installed
    installed.helm("uninstall", RELEASE, check=False)
    kubectl.run("delete", "namespace", workload, "--wait=false", check=False)


def test_install_creates_the_operator_with_the_kustomize_rules(release: Release, kubectl: kubectl_cli.Kubectl) -> None:
    status = json.loads(release.helm("status", RELEASE, "-o", "json").stdout)
    assert status["info"]["status"] == "deployed"
    kubectl("wait", "--for=condition=Established", f"crd/{names.CRD_NAME}", "--timeout=60s")
    role = kubectl.json("get", "clusterrole", ACCOUNT)
    source = yaml.safe_load((REPO / "manifests" / "rbac" / "clusterrole.yaml").read_text())
    assert role["rules"] == source["rules"]
    monitoring = {
        "servicemonitor": ACCOUNT,
        "podmonitor": "modelrollout-inference",
        "prometheusrule": "modelrollout",
        "configmap": "modelrollout-grafana-dashboard",
    }
    for kind, name in monitoring.items():
        kubectl("get", kind, name, "-n", NAMESPACE)
    claim = kubectl.json("get", "pvc", "modelrollout-artifacts", "-n", release.workload_namespace)
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


@pytest.fixture(scope="module")
def rolled_out(
    release: Release, kubectl: kubectl_cli.Kubectl, control_plane: controlplane.ControlPlane,
    process_kubelet: kubelet.ProcessKubelet,
) -> dict[str, Any]:  # fmt: skip
    """A first version taken to Succeeded by the chart's operator, under the chart's account."""
    config = kubectl.json("get", "configmap", "modelrollout-operator-config", "-n", NAMESPACE)["data"]["config.yaml"]
    (release.work / "config.yaml").write_text(config)
    account = control_plane.service_account_kubeconfig(NAMESPACE, ACCOUNT, hours=1)
    model = _tiny_model(release.work / "tiny.onnx")
    resource = {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "metadata": {"name": "tiny", "namespace": release.workload_namespace},
        "spec": {
            "model": {"name": "tiny", "version": "1", "uri": model.as_uri()},
            "optimization": {"enabled": False},
            "serving": {"replicas": 1},
        },
    }
    log = release.work / "operator.log"
    env = {**os.environ, names.ENV_POD_NAME: "helm-e2e-operator",
           "PYTHONPATH": kubelet.python_path(os.environ.get("PYTHONPATH"), kubelet.package_root())}  # fmt: skip
    peering = release.values.get("operator", {}).get("peering", names.PEERING_NAME)
    with log.open("wb") as sink:
        operator = subprocess.Popen(
            [sys.executable, "-m", "modelrollout", "operator", "--kubeconfig", str(account),
             "--config", str(release.work / "config.yaml"), f"--peering={peering}", "--host", "127.0.0.1",
             f"--metrics-port={_free_port()}", f"--liveness-port={_free_port()}"],
            stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=release.work,
        )  # fmt: skip
        try:
            kubectl("apply", "-f", "-", input=json.dumps(resource))
            done = kubectl.run(
                "wait", f"{names.CRD_NAME}/tiny", "-n", release.workload_namespace,
                "--for=jsonpath={.status.phase}=Succeeded", "--timeout=180s", check=False, timeout=200,
            )  # fmt: skip
        finally:
            operator.terminate()
            try:
                operator.wait(timeout=30)
            except subprocess.TimeoutExpired:
                operator.kill()
                operator.wait()
    text = log.read_text(errors="replace")
    assert done.returncode == 0, f"no Succeeded phase:\n{done.stderr}\noperator log (tail):\n{text[-4000:]}"
    refused = re.findall(r'forbidden: User "system:serviceaccount:[^"]+" cannot [^\n]*', text)
    assert refused == [], f"the chart's account was refused: {refused[:5]}"
    body: dict[str, Any] = kubectl.json("get", names.CRD_NAME, "tiny", "-n", release.workload_namespace)
    return body


def test_the_charts_operator_completes_a_rollout(rolled_out: dict[str, Any]) -> None:
    status = rolled_out["status"]
    assert status["phase"] == "Succeeded" and status["stableVersion"] == "1"
    ready = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"


def test_upgrade_changes_settings_and_keeps_state(
    rolled_out: dict[str, Any], release: Release, kubectl: kubectl_cli.Kubectl
) -> None:
    before = kubectl.json("get", "deployment", ACCOUNT, "-n", NAMESPACE)
    release.helm("upgrade", RELEASE, str(helm.CHART), "--reuse-values", "--set", "config.resyncSeconds=120")
    status = json.loads(release.helm("status", RELEASE, "-o", "json").stdout)
    assert status["info"]["status"] == "deployed" and status["version"] == 2
    config = kubectl.json("get", "configmap", "modelrollout-operator-config", "-n", NAMESPACE)["data"]["config.yaml"]
    assert yaml.safe_load(config)["resyncSeconds"] == 120
    after = kubectl.json("get", "deployment", ACCOUNT, "-n", NAMESPACE)
    checksum = "modelrollout.io/config-checksum"
    assert (
        after["spec"]["template"]["metadata"]["annotations"][checksum]
        != before["spec"]["template"]["metadata"]["annotations"][checksum]
    )
    again = kubectl.json("get", names.CRD_NAME, "tiny", "-n", release.workload_namespace)
    assert again["metadata"]["uid"] == rolled_out["metadata"]["uid"]
    assert again["metadata"]["generation"] == rolled_out["metadata"]["generation"]
    assert again["status"]["phase"] == "Succeeded" and again["status"]["stable"] == rolled_out["status"]["stable"]
    assert again["status"]["history"] == rolled_out["status"]["history"]
    kubectl("get", "serviceaccount", ACCOUNT, "-n", NAMESPACE)  # the account the operator runs under survived too


def test_uninstall_keeps_the_data(release: Release, kubectl: kubectl_cli.Kubectl, rolled_out: dict[str, Any]) -> None:
    release.helm("uninstall", RELEASE)
    assert kubectl.run("get", "clusterrole", ACCOUNT, check=False).returncode != 0
    kubectl("get", "crd", names.CRD_NAME)
    kubectl("get", names.CRD_NAME, "tiny", "-n", release.workload_namespace)
    kubectl("get", "pvc", "modelrollout-artifacts", "-n", release.workload_namespace)
