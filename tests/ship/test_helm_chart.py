"""The Helm chart: lint-clean, its copies of the kustomize sources fresh, and `helm template`
equal to the kustomize build for the same settings, with the real helm (built from its Go module).

The two installs differ only where each tool has its own way, normalized below:
kustomize names the operator's ConfigMap with a content hash (the Deployment rolls when
it changes); the chart keeps the name and puts a checksum on the pod template instead.
Helm adds its own labels (chart, managed-by, instance) and keeps the artifact claim on
uninstall; kustomize creates the operator's namespace, Helm leaves that to --create-namespace.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelrollout import settings
from tests.ship import helm, kustomize

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
HELM_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance")
HELM_ANNOTATIONS = ("helm.sh/resource-policy", "modelrollout.io/config-checksum")
MONITORING_ON = {
    name: {"enabled": True} for name in ("serviceMonitor", "podMonitor", "prometheusRule", "grafanaDashboard")
}
Objects = dict[tuple[str, str, str], dict[str, Any]]


def _sync_script() -> Any:
    spec = importlib.util.spec_from_file_location("sync_chart", REPO / "scripts" / "sync-chart.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["sync_chart"] = module
    spec.loader.exec_module(module)
    return module


def test_chart_copies_of_the_kustomize_sources_are_fresh() -> None:
    stale = [str(p.relative_to(REPO)) for p in _sync_script().stale()]
    assert stale == [], f"stale chart copies {stale}: run `python scripts/sync-chart.py`"


@pytest.mark.parametrize("values", [{}, MONITORING_ON], ids=["defaults", "monitoring"])
def test_helm_lint_is_clean(tmp_path: Path, values: dict[str, Any]) -> None:
    done = helm.run("lint", "--strict", str(helm.CHART), "-f", helm.values_file(tmp_path, values))
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout, done.stdout


def _strip(meta: dict[str, Any], field: str, keys: tuple[str, ...]) -> None:
    found = meta.get(field) or {}
    for k in keys:
        found.pop(k, None)
    if field in meta and not found:
        del meta[field]


def _normalized(objects: list[dict[str, Any]]) -> Objects:
    hashed = re.compile(r"^(modelrollout-operator-config)-[a-z0-9]{10}$")
    result: Objects = {}
    for original in objects:
        obj = copy.deepcopy(original)
        if obj["kind"] == "Namespace":
            continue
        meta = obj["metadata"]
        meta["name"] = hashed.sub(r"\1", meta["name"])
        _strip(meta, "labels", HELM_LABELS)
        _strip(meta, "annotations", HELM_ANNOTATIONS)
        if obj["kind"] == "Deployment":
            pod = obj["spec"]["template"]
            _strip(pod["metadata"], "annotations", HELM_ANNOTATIONS)
            for volume in pod["spec"]["volumes"]:
                if "configMap" in volume:
                    volume["configMap"]["name"] = hashed.sub(r"\1", volume["configMap"]["name"])
        if obj["kind"] == "ConfigMap" and "config.yaml" in obj.get("data", {}):
            obj["data"]["config.yaml"] = yaml.safe_load(obj["data"]["config.yaml"])  # same settings, any spelling
        if obj["kind"] == "ConfigMap" and "grafana-dashboard.json" in obj.get("data", {}):
            obj["data"]["grafana-dashboard.json"] = json.loads(obj["data"]["grafana-dashboard.json"])
        result[(obj["kind"], meta.get("namespace", ""), meta["name"])] = obj
    return result


@pytest.mark.parametrize(
    ("values", "folder"),
    [
        ({}, "base"),
        (MONITORING_ON, ""),
        ({"operator": {"replicas": 1}, "podDisruptionBudget": {"enabled": False}}, "overlays/single-replica"),
    ],
    ids=["base", "with-monitoring", "single-replica"],
)
def test_template_equals_the_kustomize_build(tmp_path: Path, values: dict[str, Any], folder: str) -> None:
    chart = _normalized(helm.template(tmp_path, values))
    built = _normalized(kustomize.build(MANIFESTS / folder))
    assert sorted(chart) == sorted(built)
    for key, obj in built.items():
        assert chart[key] == obj, f"{key} differs"


def _one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    return kustomize.find(objects, kind, name)


def test_operator_settings_are_rendered(tmp_path: Path) -> None:
    values = {
        "image": {"repository": "registry.example/modelrollout", "tag": "1.2.3", "pullPolicy": "Always"},
        "operator": {
            "replicas": 3,
            "priorityClassName": "system-cluster-critical",
            "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
            "tolerations": [
                {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}
            ],
            "resources": {"requests": {"cpu": "200m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
            "peering": "team-a",
        },
        "config": {
            "image": "registry.example/modelrollout:1.2.3",
            "artifactStore": "s3://models/optimized",
            "envFromSecret": "modelrollout-s3",
            "analysisSelector": 'namespace="{namespace}",cluster="eu-1"',
            "pools": {
                "nvidia-gpu": {
                    "accelerator": "nvidia-gpu",
                    "nodeSelector": {"pool": "l4"},
                    "resource": "nvidia.com/gpu",
                }
            },
        },
        "artifactStore": {"pvc": {"namespaces": ["team-a", "team-b"], "storageClassName": "nfs", "size": "100Gi"}},
    }
    objects = helm.template(tmp_path, values, namespace="ops")
    deployment = _one(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert deployment["spec"]["replicas"] == 3
    assert deployment["metadata"]["namespace"] == "ops"
    assert container["image"] == "registry.example/modelrollout:1.2.3" and container["imagePullPolicy"] == "Always"
    # Helm merges maps with the defaults: the default cpu limit stays unless set to null.
    assert container["resources"] == {
        "requests": {"cpu": "200m", "memory": "512Mi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
    }
    assert "--peering=team-a" in container["args"]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
    assert pod["tolerations"][0]["key"] == "node-role.kubernetes.io/control-plane"
    assert _one(objects, "ClusterKopfPeering")["metadata"]["name"] == "team-a"
    binding = _one(objects, "ClusterRoleBinding")
    assert binding["subjects"][0]["namespace"] == "ops"
    # The operator reads exactly these settings from the mounted file.
    config = yaml.safe_load(_one(objects, "ConfigMap", "modelrollout-operator-config")["data"]["config.yaml"])
    loaded = settings.OperatorSettings.model_validate(config)
    assert loaded.artifact_store == "s3://models/optimized" and loaded.env_from_secret == "modelrollout-s3"
    assert loaded.profiles()["nvidia-gpu"].node_selector == {"pool": "l4"}
    claims = [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    assert sorted(c["metadata"]["namespace"] for c in claims) == ["team-a", "team-b"]
    assert all(c["spec"]["storageClassName"] == "nfs" and c["spec"]["accessModes"] == ["ReadWriteMany"] for c in claims)
    assert all(c["spec"]["resources"]["requests"]["storage"] == "100Gi" for c in claims)


def test_a_config_change_rolls_the_operator(tmp_path: Path) -> None:
    def checksum(values: dict[str, Any]) -> str:
        pod = _one(helm.template(tmp_path, values), "Deployment")["spec"]["template"]
        return str(pod["metadata"]["annotations"]["modelrollout.io/config-checksum"])

    assert checksum({}) != checksum({"config": {"resyncSeconds": 120}})


def test_monitoring_is_off_by_default(tmp_path: Path) -> None:
    kinds = {o["kind"] for o in helm.template(tmp_path, {})}
    assert not kinds & {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
    assert "modelrollout-grafana-dashboard" not in {o["metadata"]["name"] for o in helm.template(tmp_path, {})}


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"operator": {"replicas": -1}}, "replicas"),
        ({"operator": {"replica": 2}}, "replica"),
        ({"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
        ({"config": {"artifactstore": "s3://x"}}, "artifactstore"),
        ({"config": {"resyncSeconds": 0}}, "resyncSeconds"),
        ({"artifactStore": {"pvc": {"accessModes": ["ReadWriteSometimes"]}}}, "accessModes"),
        ({"serviceMonitor": {"interval": "soon"}}, "interval"),
    ],
)
def test_bad_values_are_refused_with_the_field_named(tmp_path: Path, values: dict[str, Any], field: str) -> None:
    done = helm.run("template", "modelrollout", str(helm.CHART), "-f", helm.values_file(tmp_path, values), check=False)
    assert done.returncode != 0
    assert "values don't meet the specifications of the schema" in done.stderr and field in done.stderr, done.stderr


@pytest.mark.parametrize("source", ["kustomize", "helm"])
def test_the_default_artifact_store_has_its_claim(tmp_path: Path, source: str) -> None:
    """The operator's default store is a pvc:// URI: both installs create that claim, RWX."""
    store = urllib.parse.urlparse(settings.OperatorSettings().artifact_store)
    assert store.scheme == "pvc"
    objects = kustomize.build(MANIFESTS / "base") if source == "kustomize" else helm.template(tmp_path, {})
    claim = _one(objects, "PersistentVolumeClaim", store.netloc)
    assert claim["metadata"]["namespace"] == "default"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"], "Job and servers mount it at once, from any node"
