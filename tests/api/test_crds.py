from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from modelrollout import names
from modelrollout.api import crds

CHECKED_IN = Path(__file__).resolve().parents[2] / "crds" / "modeldeployment.yaml"
# kustomize refuses files outside its root, so manifests/ carries a second copy.
KUSTOMIZE_COPY = Path(__file__).resolve().parents[2] / "manifests" / "crd" / "modeldeployment.yaml"


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, value in node.get("properties", {}).items():
            found += _walk(value, f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            found += _walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            found += _walk(node["additionalProperties"], f"{path}{{}}")
    return found


def test_checked_in_crd_is_fresh() -> None:
    assert CHECKED_IN.read_text() == crds.render(), (
        "crds/ is stale: run `modelrollout crd -o crds/modeldeployment.yaml`"
    )
    assert KUSTOMIZE_COPY.read_text() == crds.render(), (
        "manifests/crd/ is stale: run `modelrollout crd -o manifests/crd/modeldeployment.yaml`"
    )


def test_rendering_is_deterministic() -> None:
    assert crds.render() == crds.render()


def test_crd_identity() -> None:
    crd = crds.crd()
    assert crd["metadata"]["name"] == names.CRD_NAME
    version = crd["spec"]["versions"][0]
    assert version["name"] == names.VERSION and version["subresources"] == {"status": {}}
    assert crd["spec"]["names"]["shortNames"] == ["mdep"]
    columns = {c["name"] for c in version["additionalPrinterColumns"]}
    assert {"Version", "Phase", "Weight", "Stable", "Age"} <= columns


def test_schema_is_structural() -> None:
    schema = crds.openapi_schema()
    for path, node in _walk(schema):
        assert "$ref" not in node and "anyOf" not in node and "allOf" not in node, path
        assert "type" in node, f"{path} has no type"
        assert node.get("additionalProperties") is not False, path
        assert not ("properties" in node and "additionalProperties" in node), path


def test_every_spec_field_is_described() -> None:
    spec = crds.openapi_schema()["properties"]["spec"]
    missing = [path for path, node in _walk(spec, "spec") if not node.get("description") and path.count(".") > 0]
    missing = [p for p in missing if not p.endswith("[]") and not p.endswith("{}")]
    assert missing == []


def test_cel_rules_are_present() -> None:
    rules = [r for _, node in _walk(crds.openapi_schema()) for r in node.get("x-kubernetes-validations", [])]
    messages = {r["message"] for r in rules}
    assert "spec.rollout.steps: weights must be strictly ascending" in messages
    assert "spec.rollout.steps: the last step's weight must be 100" in messages
    assert len(rules) >= 6
    assert all(r["message"].startswith("spec.") for r in rules)


def test_nested_defaults_are_spelled_out() -> None:
    spec = crds.openapi_schema()["properties"]["spec"]
    assert spec["properties"]["rollout"]["properties"]["steps"]["default"][-1] == {"weight": 100}
    assert spec["properties"]["optimization"]["default"]["evaluation"]["maxDrop"] == 0.01
    status = crds.openapi_schema()["properties"]["status"]
    assert all("default" not in node for _, node in _walk(status))


def test_yaml_parses_back_to_the_same_object() -> None:
    text = crds.render()
    assert yaml.safe_load(text) == yaml.safe_load(yaml.safe_dump(crds.crd()))
