"""Argo CD health check and resource actions, run by a real Lua 5.1 interpreter."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelrollout import names
from modelrollout.api import v1alpha1
from tests.ship import argocd_config, lua

ARGOCD = argocd_config.ROOT
FIXTURES = yaml.safe_load((Path(__file__).parent / "data" / "health-fixtures.yaml").read_text())
HEALTH_STATES = {"Healthy", "Progressing", "Degraded", "Suspended"}


def _obj(generation: int, status: dict[str, Any] | None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "embedder", "namespace": "ml", "generation": generation}
    if annotations is not None:
        metadata["annotations"] = annotations
    obj: dict[str, Any] = {"apiVersion": names.API_VERSION, "kind": names.KIND, "metadata": metadata, "spec": {}}
    if status is not None:
        obj["status"] = status
    return obj


@pytest.mark.parametrize("case", FIXTURES, ids=[c["name"] for c in FIXTURES])
def test_health(case: dict[str, Any]) -> None:
    if case["status"] is not None:
        v1alpha1.ModelDeploymentStatus.model_validate(case["status"])
    result = lua.run(ARGOCD / "health.lua", _obj(case["generation"], case["status"]))
    assert result["/status"] == case["health"]
    assert result["/message"] == case["message"]


def test_fixtures_cover_every_health_state() -> None:
    assert {c["health"] for c in FIXTURES} == HEALTH_STATES


def test_health_of_a_status_with_unicode_and_quotes() -> None:
    status = {"observedGeneration": 1, "phase": "Failed", "message": 'model "m\u00fcnchen" \\ failed'}
    status["conditions"] = [{"type": "Degraded", "status": "True"}]
    result = lua.run(ARGOCD / "health.lua", _obj(1, status))
    assert result == {"/status": "Degraded", "/message": 'model "m\u00fcnchen" \\ failed'}


PHASES_ENABLING = {
    "promote": {"Canary", "Paused"},
    "abort": {"Optimizing", "Deploying", "Canary", "Paused", "Promoting"},
    "retry": {"RolledBack", "Failed"},
    "pause": {"Optimizing", "Deploying", "Canary", "Paused"},
    "resume": set(),
}


@pytest.mark.parametrize("phase", [p.value for p in v1alpha1.Phase])
def test_discovery_offers_actions_by_phase(phase: str) -> None:
    result = lua.run(ARGOCD / "actions" / "discovery.lua", _obj(1, {"phase": phase}))
    offered = {name for name in argocd_config.ACTIONS if result[f"/{name}/disabled"] == "<boolean>false"}
    assert offered == {name for name, phases in PHASES_ENABLING.items() if phase in phases}


def test_discovery_offers_resume_only_when_paused_by_annotation() -> None:
    paused = lua.run(
        ARGOCD / "actions" / "discovery.lua", _obj(1, {"phase": "Paused"}, {names.ANNOTATION_PAUSE: "true"})
    )
    assert paused["/resume/disabled"] == "<boolean>false"
    assert paused["/pause/disabled"] == "<boolean>true"
    resumed = lua.run(
        ARGOCD / "actions" / "discovery.lua", _obj(1, {"phase": "Canary"}, {names.ANNOTATION_PAUSE: "false"})
    )
    assert resumed["/resume/disabled"] == "<boolean>true"
    assert resumed["/pause/disabled"] == "<boolean>false"


def test_discovery_without_status() -> None:
    result = lua.run(ARGOCD / "actions" / "discovery.lua", _obj(1, None))
    assert all(result[f"/{name}/disabled"] == "<boolean>true" for name in argocd_config.ACTIONS)


@pytest.mark.parametrize(
    ("action", "annotation"),
    [("promote", names.ANNOTATION_PROMOTE), ("abort", names.ANNOTATION_ABORT), ("retry", names.ANNOTATION_RETRY)],
)
@pytest.mark.parametrize("existing", [None, {"team": "search"}, {names.ANNOTATION_PROMOTE: "2020-01-01T00:00:00Z"}])
def test_one_shot_actions_write_a_fresh_timestamp(
    action: str, annotation: str, existing: dict[str, str] | None
) -> None:
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    result = lua.run(ARGOCD / "actions" / action / "action.lua", _obj(3, {"phase": "Canary"}, existing))
    after = datetime.datetime.now(datetime.UTC)
    stamp = datetime.datetime.strptime(result[f"/metadata/annotations/{annotation}"], "%Y-%m-%dT%H:%M:%SZ")
    assert before <= stamp.replace(tzinfo=datetime.UTC) <= after
    for key, value in (existing or {}).items():
        if key != annotation:
            assert result[f"/metadata/annotations/{key}"] == value
    # the action changes annotations only
    assert result["/metadata/name"] == "embedder" and result["/status/phase"] == "Canary"
    assert result["/metadata/generation"] == "<number>3"


@pytest.mark.parametrize("existing", [None, {names.ANNOTATION_PAUSE: "true", "team": "search"}])
def test_pause_and_resume(existing: dict[str, str] | None) -> None:
    paused = lua.run(ARGOCD / "actions" / "pause" / "action.lua", _obj(1, {"phase": "Canary"}, existing))
    assert paused[f"/metadata/annotations/{names.ANNOTATION_PAUSE}"] == "true"
    resumed = lua.run(ARGOCD / "actions" / "resume" / "action.lua", _obj(1, {"phase": "Paused"}, existing))
    assert resumed[f"/metadata/annotations/{names.ANNOTATION_PAUSE}"] != "true"
    if existing:
        assert resumed["/metadata/annotations/team"] == "search"


def test_argocd_cm_patch_is_generated_from_the_lua_files() -> None:
    assert argocd_config.PATCH.read_text() == argocd_config.render(), (
        "manifests/argocd/argocd-cm.yaml is stale: run `python -m tests.ship.argocd_config`"
    )


def test_argocd_cm_patch_is_what_argo_cd_reads() -> None:
    data = yaml.safe_load(argocd_config.PATCH.read_text())["data"]
    key = f"{names.GROUP}_{names.KIND}"
    assert data[f"resource.customizations.health.{key}"] == (ARGOCD / "health.lua").read_text()
    actions = yaml.safe_load(data[f"resource.customizations.actions.{key}"])
    assert set(actions) == {"discovery.lua", "definitions"}
    assert [d["name"] for d in actions["definitions"]] == list(argocd_config.ACTIONS)
    for definition in actions["definitions"]:
        assert definition["action.lua"] == (ARGOCD / "actions" / definition["name"] / "action.lua").read_text()


def test_lua_literal_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(ValueError, match="nan"):
        lua.literal(float("nan"))
    with pytest.raises(TypeError, match="set"):
        lua.literal({1, 2})
