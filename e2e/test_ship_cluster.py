"""The GitOps/SRE surface on the real control plane.

- every kustomization under manifests/ (and the samples, and the argocd-cm patch) passes
  a server-side dry-run, with the Prometheus Operator and Gateway API CRDs installed
  from their pinned Go modules;
- the operator's ServiceAccount can do what the ClusterRole lists and nothing else, with
  RBAC enforced by the API server;
- after a rollout (the operator's writes, made under its own ServiceAccount),
  re-applying the same manifests changes nothing: no drift, no fight with self-heal;
- the kubectl plugin, found by kubectl on PATH, reads and controls a real resource.

Needs the test bed's session fixture `kubeconfig` (the path of an admin kubeconfig).
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import yaml
from onnx import TensorProto, helper, save_model

from e2e.testbed import operators
from modelrollout import names

pytestmark = pytest.mark.e2e

REPO: Final = Path(__file__).resolve().parents[1]
MANIFESTS: Final = REPO / "manifests"
NAMESPACE: Final = "modelrollout-system"
SERVICE_ACCOUNT: Final = "modelrollout-operator"
# Pinned here; the control plane's own pins are in e2e/cluster/versions.env.
PROMETHEUS_OPERATOR: Final = ("github.com/prometheus-operator/prometheus-operator", "v0.85.0")
PROMETHEUS_OPERATOR_CRDS: Final = ("servicemonitors", "podmonitors", "prometheusrules")
GATEWAY_API: Final = ("sigs.k8s.io/gateway-api", "v1.6.3")


class Kubectl:
    """kubectl against one kubeconfig; the venv's bin first on PATH so the plugin is found."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        binary = shutil.which("kubectl")
        if binary is None:
            pytest.skip("kubectl is not installed")
        self.binary = binary
        self.env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        # The plugin runs this checkout's code, not whatever version the environment installed.
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "operator"), os.environ.get("PYTHONPATH")]))
        self.env.pop("KUBECONFIG", None)

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.binary, f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            check=False,
        )
        if check:
            assert done.returncode == 0, f"kubectl {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)


def _go_module_dir(module: str, version: str) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("go is not installed: cannot fetch the pinned CRD modules")
    done = subprocess.run(
        [go, "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=REPO,
        env={**os.environ, "GOFLAGS": "-mod=mod"},
    )
    assert done.returncode == 0, done.stderr
    return Path(json.loads(done.stdout)["Dir"])


@pytest.fixture(scope="module")
def admin(kubeconfig: Path) -> Kubectl:
    return Kubectl(kubeconfig)


@pytest.fixture(scope="module")
def crds_installed(admin: Kubectl) -> None:
    """Prometheus Operator and Gateway API CRDs, ours, and the operator's namespace, for real."""
    folder = _go_module_dir(*PROMETHEUS_OPERATOR) / "example" / "prometheus-operator-crd"
    files = [folder / f"monitoring.coreos.com_{name}.yaml" for name in PROMETHEUS_OPERATOR_CRDS]
    gateway = _go_module_dir(*GATEWAY_API) / "config" / "crd" / "standard" / "gateway.networking.k8s.io_httproutes.yaml"
    for path in [*files, gateway]:
        admin.run("apply", "--server-side", "--force-conflicts", "-f", str(path))
    ours = admin.run("kustomize", str(MANIFESTS / "crd")).stdout
    crds = "---\n".join(
        yaml.safe_dump(doc) for doc in yaml.safe_load_all(ours) if doc["kind"] == "CustomResourceDefinition"
    )
    admin.run("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=crds)
    admin.run("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    admin.run("apply", "--server-side", "--force-conflicts", "-k", str(MANIFESTS / "crd"))  # and the peering object
    admin.run("apply", "-f", str(MANIFESTS / "base" / "namespace.yaml"))


@pytest.fixture
def namespace(admin: Kubectl) -> Iterator[str]:
    name = f"ship-{uuid.uuid4().hex[:8]}"
    admin.run("create", "namespace", name)
    yield name
    admin.run("delete", "namespace", name, "--wait=false")


# --- server-side dry-run -------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["", "base", "monitoring", "overlays/single-replica"])
def test_kustomization_passes_server_side_dry_run(admin: Kubectl, crds_installed: None, folder: str) -> None:
    done = admin.run("apply", "--dry-run=server", "-k", str(MANIFESTS / folder))
    assert "(server dry run)" in done.stdout
    assert "Warning: would violate PodSecurity" not in done.stderr


def test_samples_pass_server_side_dry_run(admin: Kubectl, crds_installed: None, namespace: str) -> None:
    done = admin.run("apply", "--dry-run=server", "-n", namespace, "-f", str(MANIFESTS / "samples"))
    assert done.stdout.count("created (server dry run)") == len(list((MANIFESTS / "samples").glob("*.yaml")))


def test_a_bad_sample_is_refused_by_the_api_server(admin: Kubectl, crds_installed: None, namespace: str) -> None:
    sample = yaml.safe_load((MANIFESTS / "samples" / "cpu.yaml").read_text())
    sample["spec"]["rollout"]["steps"] = [{"weight": 50}, {"weight": 10}]
    done = admin.run("apply", "--dry-run=server", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(sample), check=False)
    assert done.returncode != 0 and "weights must be strictly ascending" in done.stderr


def test_argocd_cm_patch_passes_server_side_dry_run(admin: Kubectl) -> None:
    created = admin.run("create", "namespace", "argocd", check=False).returncode == 0
    try:
        admin.run("apply", "--dry-run=server", "-f", str(MANIFESTS / "argocd" / "argocd-cm.yaml"))
    finally:
        if created:
            admin.run("delete", "namespace", "argocd", "--wait=false")


# --- RBAC, enforced by the API server --------------------------------------------------------


@pytest.fixture(scope="module")
def operator_sa(admin: Kubectl, crds_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    """kubectl as the operator's ServiceAccount (a bound token from the TokenRequest API)."""
    admin.run("apply", "-k", str(MANIFESTS / "rbac"))
    token = admin.run("create", "token", SERVICE_ACCOUNT, "-n", NAMESPACE, "--duration=1h").stdout.strip()
    config = yaml.safe_load(Path(admin.kubeconfig).read_text())
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
    cluster = next(c for c in config["clusters"] if c["name"] == current["cluster"])
    sa_config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": SERVICE_ACCOUNT, "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": cluster["name"], "user": SERVICE_ACCOUNT}}],
        "current-context": "operator",
    }
    path = tmp_path_factory.mktemp("operator-sa") / "kubeconfig"
    path.write_text(yaml.safe_dump(sa_config))
    return Kubectl(path)


def _role_rules() -> list[tuple[str, str, str]]:
    role = yaml.safe_load((MANIFESTS / "rbac" / "clusterrole.yaml").read_text())
    return [
        (verb, resource, group)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    ]


def _can_i(kubectl: Kubectl, verb: str, resource: str, group: str, namespace: str | None) -> bool:
    resource, _, subresource = resource.partition("/")
    target = f"{resource}.{group}" if group else resource
    scope = ["-n", namespace] if namespace else []
    if subresource:
        scope.append(f"--subresource={subresource}")
    done = kubectl.run("auth", "can-i", verb, target, *scope, check=False)
    answer = done.stdout.strip()
    # "yes" exits 0 and "no" exits 1; anything else (a typo in the resource, no connection)
    # is no answer at all and must not read as "may not".
    assert (answer, done.returncode) in {("yes", 0), ("no", 1)}, f"can-i {verb} {target}: {done.stderr}"
    return answer == "yes"


def test_operator_may_do_what_the_role_lists(operator_sa: Kubectl, namespace: str) -> None:
    refused = [rule for rule in _role_rules() if not _can_i(operator_sa, *rule, namespace)]
    assert refused == []


@pytest.mark.parametrize(
    ("verb", "resource", "group"),
    [
        # Secrets and ConfigMaps are read by name only (the Prometheus credentials a spec names).
        ("list", "secrets", ""),
        ("watch", "secrets", ""),
        ("list", "configmaps", ""),
        ("watch", "configmaps", ""),
        ("create", names.PLURAL, names.GROUP),
        ("update", names.PLURAL, names.GROUP),
        ("patch", names.PLURAL, names.GROUP),
        ("delete", names.PLURAL, names.GROUP),
        ("get", "deployments", "apps"),
        ("delete", "jobs", "batch"),
        ("delete", "httproutes", "gateway.networking.k8s.io"),
        ("delete", "pods", ""),
        ("create", "pods/exec", ""),
        ("create", "leases", "coordination.k8s.io"),
        ("delete", "services", ""),
        ("create", "clusterroles", "rbac.authorization.k8s.io"),
        ("patch", "nodes", ""),
    ],
)
def test_operator_may_not(operator_sa: Kubectl, namespace: str, verb: str, resource: str, group: str) -> None:
    assert not _can_i(operator_sa, verb, resource, group, namespace)


def _apply_sample(admin: Kubectl, namespace: str, name: str = "cpu") -> dict[str, Any]:
    admin.run("apply", "-n", namespace, "-f", str(MANIFESTS / "samples" / f"{name}.yaml"))
    sample = yaml.safe_load((MANIFESTS / "samples" / f"{name}.yaml").read_text())
    resource: dict[str, Any] = admin.json("get", names.CRD_NAME, sample["metadata"]["name"], "-n", namespace)
    return resource


def _finished_rollout(generation: int, now: datetime.datetime) -> dict[str, Any]:
    at = now.isoformat().replace("+00:00", "Z")
    revision = "0123456789abcdef"
    return {
        "observedGeneration": generation,
        "phase": "Succeeded",
        "message": "Version 7 serves all traffic",
        "stableVersion": "7",
        "canaryWeight": 0,
        "stable": {
            "version": "7",
            "revision": revision,
            "runtime": "onnxruntime",
            "uri": "s3://models/minilm/7/o.onnx",
        },
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Promoted", "lastTransitionTime": at},
            {"type": "Progressing", "status": "False", "reason": "RolloutComplete", "lastTransitionTime": at},
            {"type": "Degraded", "status": "False", "reason": "AsExpected", "lastTransitionTime": at},
        ],
        "history": [{"version": "7", "revision": revision, "outcome": "Promoted", "at": at}],
    }


# --- no drift after a rollout: see test_operator_completes_a_rollout_under_its_own_service_account


def test_reapplying_the_operator_install_changes_nothing(admin: Kubectl, crds_installed: None) -> None:
    folder = str(MANIFESTS / "overlays" / "single-replica")
    admin.run("apply", "--server-side", "--force-conflicts", "-k", folder)
    deployment = admin.json("get", "deployment", "modelrollout-operator", "-n", NAMESPACE)
    diff = admin.run("diff", "--server-side", "-k", folder, check=False)
    assert diff.returncode == 0, diff.stdout + diff.stderr
    admin.run("apply", "--server-side", "-k", folder)
    again = admin.json("get", "deployment", "modelrollout-operator", "-n", NAMESPACE)
    assert again["metadata"]["generation"] == deployment["metadata"]["generation"]
    admin.run("scale", "deployment", "modelrollout-operator", "-n", NAMESPACE, "--replicas=0")


# --- the kubectl plugin ------------------------------------------------------------------------


def _plugin(admin: Kubectl, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`kubectl modelrollout ...`: kubectl finds kubectl-modelrollout on PATH and hands it the rest."""
    done = subprocess.run(
        [admin.binary, "modelrollout", f"--kubeconfig={admin.kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=admin.env,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def _annotations(admin: Kubectl, namespace: str, name: str) -> dict[str, str]:
    annotations: dict[str, str] = admin.json("get", names.CRD_NAME, name, "-n", namespace)["metadata"].get(
        "annotations", {}
    )
    return annotations


def test_kubectl_plugin_status_and_history(admin: Kubectl, crds_installed: None, namespace: str) -> None:
    resource = _apply_sample(admin, namespace)
    name = resource["metadata"]["name"]
    now = datetime.datetime.now(datetime.UTC)
    status = _finished_rollout(resource["metadata"]["generation"], now)
    status.update(
        phase="Canary",
        canaryVersion="8",
        canaryWeight=25,
        currentStep=0,
        stepStartedAt=(now - datetime.timedelta(seconds=90)).isoformat().replace("+00:00", "Z"),
        analysis={
            "failedChecks": 0,
            "passedChecks": 2,
            "measurements": [
                {"at": now.isoformat().replace("+00:00", "Z"), "step": 0, "check": "latency", "result": "pass",
                 "value": 0.0123, "stableValue": 0.011, "message": "p99 12.3ms <= 50ms"},
            ],
        },
    )  # fmt: skip
    admin.run(
        "patch", names.CRD_NAME, name, "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}),
    )  # fmt: skip
    done = _plugin(admin, "-n", namespace, "status", name)
    assert f"{namespace}/{name}: model minilm version 7, phase Canary" in done.stdout
    assert "weight 25%" in done.stdout
    current = [line for line in done.stdout.splitlines() if line.strip().startswith(">")]
    assert len(current) == 1 and current[0].split()[1:3] == ["0", "25%"]
    assert "p99 12.3ms <= 50ms" in done.stdout and "0.0123" in done.stdout
    history = _plugin(admin, "-n", namespace, "history", name)
    assert "Promoted" in history.stdout


def test_kubectl_plugin_controls(admin: Kubectl, crds_installed: None, namespace: str) -> None:
    name = _apply_sample(admin, namespace)["metadata"]["name"]
    _plugin(admin, "-n", namespace, "promote", name)
    first = _annotations(admin, namespace, name)[names.ANNOTATION_PROMOTE]
    _plugin(admin, "-n", namespace, "promote", name)
    second = _annotations(admin, namespace, name)[names.ANNOTATION_PROMOTE]
    assert first != second, "each promote must be a distinct value"
    for command, annotation in (("abort", names.ANNOTATION_ABORT), ("retry", names.ANNOTATION_RETRY)):
        _plugin(admin, "-n", namespace, command, name)
        assert annotation in _annotations(admin, namespace, name)
    _plugin(admin, "-n", namespace, "pause", name)
    assert _annotations(admin, namespace, name)[names.ANNOTATION_PAUSE] == "true"
    _plugin(admin, "-n", namespace, "resume", name)
    assert names.ANNOTATION_PAUSE not in _annotations(admin, namespace, name)
    # Resume also stamps a one-shot value that lifts an analysis pause: a fresh one each time.
    stamped = _annotations(admin, namespace, name)[names.ANNOTATION_RESUME]
    _plugin(admin, "-n", namespace, "resume", name)
    assert _annotations(admin, namespace, name)[names.ANNOTATION_RESUME] != stamped
    # The controls never touch spec: Argo CD sees no drift.
    assert (
        admin.run("diff", "-n", namespace, "-f", str(MANIFESTS / "samples" / "cpu.yaml"), check=False).returncode == 0
    )


def test_kubectl_plugin_names_a_missing_resource(admin: Kubectl, crds_installed: None, namespace: str) -> None:
    done = _plugin(admin, "-n", namespace, "status", "nope", check=False)
    assert done.returncode == 1 and "ModelDeployment nope: not found" in done.stderr


# --- the operator itself, under its ServiceAccount ------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tiny_model(path: Path) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "tiny", [x], [y])
    save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _reapplying_changes_nothing(admin: Kubectl, namespace: str, resource: dict[str, Any]) -> None:
    """What Argo CD does after the operator itself finished a rollout: nothing to change.

    The operator wrote status, Kopf's finalizer and its progress annotations; none are in
    Git, so a diff is empty and a sync (client- or server-side) writes nothing.
    """
    after_rollout = admin.json("get", names.CRD_NAME, "tiny", "-n", namespace)
    generation = after_rollout["metadata"]["generation"]
    assert generation == 1, "the operator must not write spec"
    assert after_rollout["status"]["observedGeneration"] == generation, "the operator has not seen this generation"
    manifest = json.dumps(resource)
    diff = admin.run("diff", "-f", "-", stdin=manifest, check=False)
    assert diff.returncode == 0, diff.stdout + diff.stderr
    admin.run("apply", "-f", "-", stdin=manifest)
    server_side = admin.run("apply", "--server-side", "--field-manager=argocd-controller", "-f", "-", stdin=manifest)
    assert "conflict" not in server_side.stderr.lower()
    again = admin.json("get", names.CRD_NAME, "tiny", "-n", namespace)
    assert again["metadata"]["generation"] == generation
    assert again["status"] == after_rollout["status"]
    assert again["status"]["phase"] == "Succeeded" and again["status"]["observedGeneration"] == generation
    assert again["metadata"].get("finalizers") == after_rollout["metadata"].get("finalizers")


def test_operator_completes_a_rollout_under_its_own_service_account(
    admin: Kubectl, operator_sa: Kubectl, namespace: str, tmp_path: Path, process_kubelet: Any
) -> None:
    """The operator, run with the ServiceAccount's token only, takes a first version to Succeeded.

    `process_kubelet` (the test bed's) runs the inference server pods as local processes.
    """
    if importlib.util.find_spec("modelrollout.handlers") is None:
        pytest.skip("the operator (modelrollout.handlers) is not in this checkout")
    model = _tiny_model(tmp_path / "tiny.onnx")
    resource = {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "metadata": {"name": "tiny", "namespace": namespace},
        "spec": {
            "model": {"name": "tiny", "version": "1", "uri": f"file://{model}"},
            "optimization": {"enabled": False},
            "serving": {"replicas": 1},
        },
    }
    log = tmp_path / "operator.log"
    env = {
        **admin.env,
        "KUBECONFIG": str(operator_sa.kubeconfig),
        names.ENV_POD_NAME: "ship-e2e-operator",
    }
    with log.open("wb") as sink:
        operator = subprocess.Popen(
            [sys.executable, "-m", "modelrollout", "operator", f"--peering={names.PEERING_NAME}",
             f"--metrics-port={_free_port()}", f"--liveness-port={_free_port()}"],
            stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
        )  # fmt: skip
        try:
            admin.run("apply", "-f", "-", stdin=json.dumps(resource))
            done = admin.run(
                "wait", f"{names.CRD_NAME}/tiny", "-n", namespace,
                "--for=jsonpath={.status.phase}=Succeeded", "--timeout=180s", check=False, timeout=200,
            )  # fmt: skip
            if done.returncode == 0:
                _reapplying_changes_nothing(admin, namespace, resource)
        finally:
            operator.terminate()
            try:
                operator.wait(timeout=30)
            except subprocess.TimeoutExpired:
                operator.kill()
                operator.wait()
    text = log.read_text(errors="replace")
    assert done.returncode == 0, f"no Succeeded phase:\n{done.stderr}\noperator log (tail):\n{text[-4000:]}"
    # RBAC refusals name the account; other 403s (a namespace being deleted) are not RBAC's.
    refused = operators.rbac_refusals(text)
    assert refused == [], f"the operator was refused: {refused[:5]}"
    status = admin.json("get", names.CRD_NAME, "tiny", "-n", namespace)["status"]
    ready = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"
