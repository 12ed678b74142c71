"""manifests/: the kustomizations build, and what they build keeps the promises of the issue."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from modelrollout import names
from modelrollout.api import crds, v1alpha1
from tests.ship import kustomize

REPO: Final = Path(__file__).resolve().parents[2]
MANIFESTS: Final = REPO / "manifests"
NAMESPACE: Final = "modelrollout-system"
SERVICE_ACCOUNT: Final = "modelrollout-operator"


@pytest.fixture(scope="module")
def everything() -> list[dict[str, Any]]:
    return kustomize.build(MANIFESTS)


def _deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return kustomize.find(objects, "Deployment", "modelrollout-operator")


def _container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = _deployment(objects)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("folder", ["", "base", "monitoring", "overlays/single-replica"])
def test_kustomizations_build(folder: str) -> None:
    objects = kustomize.build(MANIFESTS / folder)
    assert objects
    # The artifact claim lives beside the workloads that mount it, not in the operator's namespace.
    namespaced = [o for o in objects if o["kind"] not in _CLUSTER_SCOPED and o["kind"] != "PersistentVolumeClaim"]
    assert all(o["metadata"].get("namespace") == NAMESPACE for o in namespaced), folder


_CLUSTER_SCOPED: Final = {
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "ClusterKopfPeering",
}


def test_the_full_install_holds_what_the_issue_lists(everything: list[dict[str, Any]]) -> None:
    kinds = {o["kind"] for o in everything}
    assert {
        "Namespace",
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "ServiceMonitor",
        "PodMonitor",
        "PrometheusRule",
        "ConfigMap",
        "ClusterKopfPeering",
    } <= kinds


def test_the_crd_copy_is_the_generated_crd(everything: list[dict[str, Any]]) -> None:
    assert (MANIFESTS / "crd" / "modeldeployment.yaml").read_text() == crds.render(), (
        "manifests/crd/ is stale: run `modelrollout crd -o manifests/crd/modeldeployment.yaml`"
    )
    assert kustomize.find(everything, "CustomResourceDefinition", names.CRD_NAME) == crds.crd()


def test_operator_runs_under_its_own_service_account(everything: list[dict[str, Any]]) -> None:
    pod = _deployment(everything)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == SERVICE_ACCOUNT
    kustomize.find(everything, "ServiceAccount", SERVICE_ACCOUNT)
    binding = kustomize.find(everything, "ClusterRoleBinding", "modelrollout-operator")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}]
    assert binding["roleRef"]["name"] == kustomize.find(everything, "ClusterRole")["metadata"]["name"]


def test_operator_is_hardened(everything: list[dict[str, Any]]) -> None:
    pod = _deployment(everything)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = _container(everything)["securityContext"]
    assert security == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    resources = _container(everything)["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]
    namespace = kustomize.find(everything, "Namespace", NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_operator_probes_and_ports_match_the_operator(everything: list[dict[str, Any]]) -> None:
    container = _container(everything)
    assert container["args"] == [
        "operator",
        f"--metrics-port={names.OPERATOR_METRICS_PORT}",
        f"--liveness-port={names.OPERATOR_LIVENESS_PORT}",
        f"--peering={names.PEERING_NAME}",
    ]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": names.OPERATOR_METRICS_PORT, "health": names.OPERATOR_LIVENESS_PORT}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": names.OPERATOR_LIVENESS_PATH, "port": "health"}, probe
    env = {e["name"]: e for e in container["env"]}
    assert env[names.ENV_POD_NAME]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert Path(env[names.ENV_CONFIG]["value"]).parent.as_posix() in mounts


def test_ha_through_kopf_peering(everything: list[dict[str, Any]]) -> None:
    deployment = _deployment(everything)
    assert deployment["spec"]["replicas"] == 2
    peering = kustomize.find(everything, "ClusterKopfPeering")
    assert peering["metadata"]["name"] == names.PEERING_NAME
    pdb = kustomize.find(everything, "PodDisruptionBudget")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert _selects(pdb["spec"]["selector"]["matchLabels"], labels)
    assert pdb["spec"]["minAvailable"] == 1 < deployment["spec"]["replicas"]


def test_single_replica_overlay_drops_the_pdb() -> None:
    objects = kustomize.build(MANIFESTS / "overlays" / "single-replica")
    assert _deployment(objects)["spec"]["replicas"] == 1
    assert not [o for o in objects if o["kind"] == "PodDisruptionBudget"]


def test_metrics_are_scraped_from_the_operator(everything: list[dict[str, Any]]) -> None:
    labels = _deployment(everything)["spec"]["template"]["metadata"]["labels"]
    service = kustomize.find(everything, "Service", "modelrollout-operator-metrics")
    assert _selects(service["spec"]["selector"], labels)
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": names.OPERATOR_METRICS_PORT, "targetPort": "metrics"}
    ]
    monitor = kustomize.find(everything, "ServiceMonitor")
    assert _selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    # the alerts name the job Prometheus gives the Service's targets
    rule = kustomize.find(everything, "PrometheusRule")
    assert f'job="{service["metadata"]["name"]}"' in yaml.safe_dump(rule)


def test_inference_servers_are_scraped(everything: list[dict[str, Any]]) -> None:
    monitor = kustomize.find(everything, "PodMonitor")
    assert monitor["spec"]["selector"]["matchLabels"] == {
        names.LABEL_MANAGED_BY: names.MANAGER,
        names.LABEL_COMPONENT: names.COMPONENT_SERVER,
    }
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == names.SERVER_PORT_NAME


# --- RBAC ------------------------------------------------------------------------------


def _doc_rules() -> set[tuple[str, str, frozenset[str]]]:
    """The RBAC table of docs/operations.md as (group, resource, verbs)."""
    text = (REPO / "docs" / "operations.md").read_text()
    section = text.split("## RBAC", 1)[1].split("\n## ", 1)[0]
    rows = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[1].startswith("`"):
            continue
        group = "" if cells[0] == "core" else cells[0].strip("`")
        verbs = frozenset(v.strip() for v in cells[2].split(","))
        rows.add((group, cells[1].strip("`"), verbs))
    return rows


def _role_rules(role: dict[str, Any]) -> set[tuple[str, str, frozenset[str]]]:
    rows = set()
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                rows.add((group, resource, frozenset(rule["verbs"])))
    return rows


def test_rbac_is_what_the_docs_list(everything: list[dict[str, Any]]) -> None:
    documented = _doc_rules()
    assert len(documented) >= 10  # the table was read (not an empty parse)
    assert _role_rules(kustomize.find(everything, "ClusterRole")) == documented


def test_rbac_is_least_privilege(everything: list[dict[str, Any]]) -> None:
    role = kustomize.find(everything, "ClusterRole")
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule
        assert not {"leases", "pods/exec", "pods/log"} & set(rule["resources"]), rule
        assert not {"escalate", "bind", "impersonate", "deletecollection"} & set(rule["verbs"]), rule
        if {"secrets", "configmaps"} & set(rule["resources"]):
            # Read by name (the Prometheus credentials a spec names) and, for Secrets, created
            # (the feedback key, once when absent): list or watch would hand the operator every
            # Secret in the cluster; update, patch or delete could reset one someone rotated.
            assert not {"list", "watch", "update", "patch", "delete"} & set(rule["verbs"]), rule
    readable = {r for rule in role["rules"] if "get" in rule["verbs"] for r in rule["resources"]}
    assert {"secrets", "configmaps"} <= readable, "the analysis cannot read the Prometheus credentials it names"
    created = {r for rule in role["rules"] if "create" in rule["verbs"] for r in rule["resources"]}
    assert "secrets" in created, "the operator cannot create the feedback key Secret"
    # the operator never writes the resource itself, only its status
    main = [r for r in role["rules"] if names.PLURAL in r["resources"]]
    assert main and set(main[0]["verbs"]) <= {"list", "watch"}


# --- samples ---------------------------------------------------------------------------

SAMPLES: Final = sorted((MANIFESTS / "samples").glob("*.yaml"))


def test_samples_cover_cpu_gpu_with_gateway_and_npu() -> None:
    specs = [yaml.safe_load(p.read_text())["spec"] for p in SAMPLES]
    accelerators = {s["serving"]["accelerator"] for s in specs}
    assert {"cpu", "nvidia-gpu", "npu"} <= accelerators
    gpu = next(s for s in specs if s["serving"]["accelerator"] == "nvidia-gpu")
    assert gpu["rollout"]["traffic"]["router"] == "gateway-api"


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.name for p in SAMPLES])
def test_sample_is_a_valid_commented_model_deployment(sample: Path) -> None:
    text = sample.read_text()
    resource = v1alpha1.ModelDeployment.model_validate(yaml.safe_load(text))
    assert resource.api_version == names.API_VERSION and resource.kind == names.KIND
    assert len(re.findall(r"#", text)) >= 3, "samples teach: comment them"
    assert "namespace" not in yaml.safe_load(text)["metadata"], "samples go into the namespace you choose"


def test_argocd_application_points_at_the_manifests() -> None:
    apps = list(yaml.safe_load_all((MANIFESTS / "argocd" / "application.yaml").read_text()))
    operator_app = apps[0]
    assert operator_app["kind"] == "Application" and operator_app["spec"]["source"]["path"] == "manifests"
    assert operator_app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
