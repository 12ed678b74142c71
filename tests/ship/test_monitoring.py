"""The PrometheusRule and the Grafana dashboard: promtool checks, unit tests, structure, names."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from modelrollout import names
from tests.ship import promtool

REPO: Final = Path(__file__).resolve().parents[2]
MONITORING: Final = REPO / "manifests" / "monitoring"
RULE: Final = MONITORING / "prometheusrule.yaml"
DASHBOARD: Final = MONITORING / "grafana-dashboard.json"
ALERT_TESTS: Final = Path(__file__).parent / "alerts_test.yaml"
OPERATIONS: Final = REPO / "docs" / "operations.md"
RULES_FILE: Final = "modelrollout.rules.yaml"
# Grafana's built-in interval variables, given values promtool accepts.
GRAFANA_BUILTINS: Final = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}


def _rule() -> dict[str, Any]:
    rule: dict[str, Any] = yaml.safe_load(RULE.read_text())
    return rule


def _alerts() -> list[dict[str, Any]]:
    return [r for g in _rule()["spec"]["groups"] for r in g["rules"] if "alert" in r]


def _dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found += panel.get("panels", [])
    return found


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """The PrometheusRule's spec as a plain rule file, with the unit tests beside it."""
    (tmp_path / RULES_FILE).write_text(yaml.safe_dump(_rule()["spec"], sort_keys=False))
    shutil.copy(ALERT_TESTS, tmp_path / ALERT_TESTS.name)
    return tmp_path


def test_prometheusrule_is_a_prometheus_operator_object() -> None:
    rule = _rule()
    assert rule["apiVersion"] == "monitoring.coreos.com/v1" and rule["kind"] == "PrometheusRule"
    assert set(rule["spec"]) == {"groups"}


def test_promtool_check_rules(rules_dir: Path) -> None:
    done = promtool.run("check", "rules", RULES_FILE, cwd=rules_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in done.stdout


def test_promtool_test_rules(rules_dir: Path) -> None:
    done = promtool.run("test", "rules", ALERT_TESTS.name, cwd=rules_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_test_rules_catches_a_broken_alert(rules_dir: Path) -> None:
    spec = _rule()["spec"]
    for group in spec["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "ModelRolloutRolledBack":
                rule["expr"] = rule["expr"].replace("RolledBack", "Failed")
    (rules_dir / RULES_FILE).write_text(yaml.safe_dump(spec))
    done = promtool.run("test", "rules", ALERT_TESTS.name, cwd=rules_dir)
    assert done.returncode != 0 and "ModelRolloutRolledBack" in done.stdout + done.stderr


def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    cases = [t for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"] for t in test["alert_rule_test"]]
    for alert in _alerts():
        mine = [c for c in cases if c["alertname"] == alert["alert"]]
        assert any(c["exp_alerts"] for c in mine), f"{alert['alert']}: no case where it fires"
        assert any(not c["exp_alerts"] for c in mine), f"{alert['alert']}: no case where it stays silent"


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9 _-]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_alert_has_severity_summary_and_a_runbook_section() -> None:
    anchors = _anchors(OPERATIONS.read_text())
    for alert in _alerts():
        assert alert["labels"]["severity"] in {"warning", "critical"}, alert["alert"]
        assert alert["annotations"]["summary"] and alert["annotations"]["description"], alert["alert"]
        page, _, anchor = alert["annotations"]["runbook_url"].partition("#")
        assert page == "docs/operations.md", alert["alert"]
        assert anchor == alert["alert"].lower() and anchor in anchors, f"{alert['alert']}: no runbook section"


def test_alert_names_are_unique() -> None:
    alerts = [a["alert"] for a in _alerts()]
    assert len(alerts) == len(set(alerts))


# --- the dashboard -----------------------------------------------------------------------


def test_dashboard_structure() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    panels = _panels(dashboard)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        box = panel["gridPos"]
        assert box["x"] >= 0 and box["w"] > 0 and box["x"] + box["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], f"{panel['title']}: no query"
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_dashboard_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in _panels(_dashboard()):
        box = panel["gridPos"]
        for x in range(box["x"], box["x"] + box["w"]):
            for y in range(box["y"], box["y"] + box["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_dashboard_has_a_datasource_variable_and_defines_what_it_uses() -> None:
    dashboard = _dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    used = set(re.findall(r"\$\{?(\w+)", DASHBOARD.read_text())) - set(GRAFANA_BUILTINS) - {"__all"}
    assert used <= set(variables), used - set(variables)


def test_dashboard_covers_the_issue() -> None:
    exprs = " ".join(t["expr"] for p in _panels(_dashboard()) for t in p.get("targets", []))
    for metric in (
        names.METRIC_ROLLOUT_PHASE,
        names.METRIC_CANARY_WEIGHT,
        names.METRIC_REQUEST_DURATION,
        names.METRIC_FEEDBACK,
        names.METRIC_ANALYSIS_CHECKS,
        names.METRIC_OPTIMIZATIONS,
    ):
        assert metric in exprs, f"the dashboard shows nothing of {metric}"
    assert "by (le, role, version)" in exprs, "latency must be split canary vs stable"


def _substitute(expr: str, variables: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in GRAFANA_BUILTINS:
            return GRAFANA_BUILTINS[name]
        return str(variables[name].get("allValue", ".*"))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    dashboard = _dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    exprs = [t["expr"] for p in _panels(dashboard) for t in p.get("targets", [])]
    # label_values(metric{...}, label) is Grafana's; its selector must still be PromQL.
    exprs += [
        re.sub(r"^label_values\((.*), \w+\)$", r"\1", v["query"]["query"])
        for v in variables.values()
        if isinstance(v.get("query"), dict)
    ]
    rules = [{"record": f"dashboard:query_{i}", "expr": _substitute(e, variables)} for i, e in enumerate(exprs)]
    (tmp_path / "dashboard.rules.yaml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = promtool.run("check", "rules", "dashboard.rules.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_broken_query_is_caught(tmp_path: Path) -> None:
    (tmp_path / "bad.rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "x:y", "expr": "sum by (le (rate(x[5m]))"}]}]})
    )
    assert promtool.run("check", "rules", "bad.rules.yaml", cwd=tmp_path).returncode != 0


def test_dashboard_ships_as_a_configmap() -> None:
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    generated = kustomization["configMapGenerator"][0]
    assert generated["files"] == [DASHBOARD.name]
    assert generated["options"]["labels"] == {"grafana_dashboard": "1"}
