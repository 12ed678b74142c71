"""The dashboard's page data, from resource bodies (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from modelrollout import names
from modelrollout.dashboard import views


def body(phase: str = "Canary", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ml", "name": "clf", "annotations": {}},
        "spec": {
            "model": {"name": "classifier", "version": "2"},
            "rollout": {"steps": [{"weight": 10, "pause": "1m"}, {"weight": 50}, {"weight": 100}]},
        },
        "status": {
            "phase": phase,
            "stable": {"version": "1", "revision": "r1", "uri": "file:///m/1"},
            "stableVersion": "1",
            "canaryVersion": "2",
            "canaryWeight": 50,
            **status,
        },
    }


def test_summary_names_phase_versions_and_weights() -> None:
    row = views.summary(body())
    assert (row["namespace"], row["name"], row["model"], row["version"]) == ("ml", "clf", "classifier", "2")
    assert (row["phase"], row["stableVersion"], row["canaryVersion"]) == ("Canary", "1", "2")
    assert (row["stableWeight"], row["canaryWeight"], row["active"]) == (50, 50, True)


def test_a_fresh_resource_has_no_weights() -> None:
    row = views.summary({"metadata": {"namespace": "a", "name": "b"}, "spec": {}})
    assert (row["phase"], row["stableWeight"], row["canaryWeight"], row["active"]) == ("Pending", 0, 0, False)


def test_summaries_are_sorted_by_namespace_then_name() -> None:
    a, b, c = body(), body(), body()
    a["metadata"].update(namespace="z", name="a")
    b["metadata"].update(namespace="a", name="z")
    c["metadata"].update(namespace="a", name="b")
    assert [(r["namespace"], r["name"]) for r in views.summaries([a, b, c])] == [("a", "b"), ("a", "z"), ("z", "a")]


@pytest.mark.parametrize(
    ("phase", "current", "states"),
    [
        ("Canary", 1, ["done", "current", "next"]),
        ("Paused", 0, ["current", "next", "next"]),
        ("Succeeded", None, ["done", "done", "done"]),
        ("RolledBack", 1, ["next", "next", "next"]),
    ],
)
def test_steps_mark_the_current_one(phase: str, current: int | None, states: list[str]) -> None:
    rows = views.steps(body(phase, currentStep=current))
    assert [r["state"] for r in rows] == states
    assert [r["weight"] for r in rows] == [10, 50, 100] and rows[0]["pause"] == "1m"


def test_optimization_table_marks_the_chosen_candidate_and_keeps_new_columns() -> None:
    report = {
        "job": "clf-opt",
        "succeeded": True,
        "selected": {"runtime": "onnxruntime", "precision": "int8", "method": "dynamic", "uri": "file:///a"},
        "candidates": [
            {"runtime": "onnxruntime", "precision": "fp32", "method": "graph-opt", "p50Ms": 1.0, "costPerMillion": 0.4},
            {"runtime": "onnxruntime", "precision": "int8", "method": "dynamic", "p50Ms": 0.5, "accuracyDrop": 0.01},
        ],
    }
    table = views.optimization(body(optimization=report))
    assert table["columns"] == ["runtime", "precision", "method", "p50Ms", "accuracyDrop", "costPerMillion"]
    assert [r["chosen"] for r in table["rows"]] == [False, True]
    assert table["rows"][0]["cells"] == ["onnxruntime", "fp32", "graph-opt", 1.0, None, 0.4]


def test_no_report_is_an_empty_table() -> None:
    assert views.optimization(body()) == {"job": "", "succeeded": None, "reason": "", "columns": [], "rows": []}


def test_analysis_is_one_series_per_check_in_time_order_by_check_name() -> None:
    measurements = [
        {
            "at": "2026-01-01T00:00:04Z",
            "step": 0,
            "check": "latency",
            "result": "fail",
            "value": 9.0,
            "stableValue": 3.0,
        },
        {
            "at": "2026-01-01T00:00:02Z",
            "step": 0,
            "check": "latency",
            "result": "pass",
            "value": 3.1,
            "stableValue": 3.0,
        },
        {"at": "2026-01-01T00:00:02Z", "step": 0, "check": "throughput", "result": "pass"},
        {"at": "2026-01-01T00:00:02Z", "step": 0, "check": "accuracy", "result": "inconclusive", "message": "few"},
    ]
    charts = views.analysis(body(analysis={"measurements": measurements}))
    assert [c["check"] for c in charts] == ["accuracy", "latency", "throughput"]
    latency = charts[1]["points"]
    assert [(p["canary"], p["stable"], p["result"]) for p in latency] == [(3.1, 3.0, "pass"), (9.0, 3.0, "fail")]
    assert charts[0]["points"][0]["message"] == "few"


def test_events_newest_first() -> None:
    events = [
        {"lastTimestamp": "2026-01-01T00:00:01Z", "type": "Normal", "reason": "Started", "message": "a"},
        {"eventTime": "2026-01-01T00:00:03Z", "type": "Warning", "reason": "RolledBack", "message": "b", "count": 2},
    ]
    events.append({"lastTimestamp": "2026-01-01T00:00:02+00:00", "type": "Normal", "reason": "Checked", "message": "c"})
    rows = views.event_rows(events)
    assert [r["reason"] for r in rows] == ["RolledBack", "Checked", "Started"] and rows[0]["count"] == 2
    assert rows[1]["at"] == "2026-01-01T00:00:02Z"


@pytest.mark.parametrize(
    ("phase", "paused", "expected"),
    [
        ("Canary", False, ("promote", "abort", "pause")),
        ("Paused", True, ("promote", "abort", "resume")),
        ("Optimizing", False, ("abort", "pause")),
        ("Succeeded", False, ()),
        ("Succeeded", True, ("resume",)),
        ("RolledBack", False, ("retry",)),
        ("Failed", False, ("retry",)),
    ],
)
def test_actions_fit_the_state(phase: str, paused: bool, expected: tuple[str, ...]) -> None:
    resource = body(phase)
    if paused:
        resource["metadata"]["annotations"][names.ANNOTATION_PAUSE] = "true"
    assert views.actions_for(resource) == expected


def test_a_first_version_cannot_be_aborted() -> None:
    """Abort means back to stable; without one the operator ignores it, so no button."""
    first = body("Optimizing")
    del first["status"]["stable"]
    assert views.actions_for(first) == ("pause",)


def test_read_only_detail_offers_no_actions() -> None:
    assert views.detail(body(), [], allow_actions=False)["actions"] == []
    assert views.detail(body(), [], allow_actions=True)["actions"] == ["promote", "abort", "pause"]
