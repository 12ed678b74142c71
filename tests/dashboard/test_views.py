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


ANALYSIS = {
    "prometheus": {"url": "http://prometheus:9090"},
    "slos": {
        "latency": {"quantile": 0.9, "maxMs": 200, "maxRatioToStable": 1.5},
        "errorRate": {"max": 0.05},
        "accuracy": {"min": 0.9, "minFeedback": 10, "maxDropToStable": 0.02},
    },
    "metrics": [{"name": "gpu", "query": "avg(x)", "successCondition": "result < 0.8"}],
}
AT = "2026-01-01T00:00:02Z"


def measured(check: str, **fields: Any) -> dict[str, Any]:
    return {"at": AT, "step": 0, "check": check, "result": "pass", **fields}


def charts_of(*measurements: dict[str, Any], analysis: Any = ANALYSIS) -> dict[str, dict[str, Any]]:
    resource = body(analysis={"measurements": list(measurements)})
    resource["spec"]["rollout"]["analysis"] = analysis
    return {c["check"]: c for c in views.analysis(resource)}


def test_each_point_carries_its_interval_and_what_it_bounds() -> None:
    charts = charts_of(
        # The ratio decided: the interval is of the ratio to stable, not on the ms scale.
        measured("latency", value=40.0, stableValue=30.0, effect=1.33, low=1.05, high=1.7, intervalOf="effect"),
        # Unbounded above (an empty stable bucket), as the status leaves `high` out.
        measured("latency", at="2026-01-01T00:00:04Z", value=45.0, effect=1.5, low=1.2, intervalOf="effect"),
        measured(
            "accuracy",
            value=0.93,
            stableValue=0.95,
            effect=0.02,
            low=0.88,
            high=0.96,
            intervalOf="value",
            confidence=0.99,
        ),
        measured("errorRate", value=0.01, stableValue=0.01, effect=0.0, low=-0.01, high=0.01, intervalOf="effect"),
        measured("gpu", value=0.5),
    )
    ratio, open_ended = charts["latency"]["points"]
    assert (ratio["canary"], ratio["stable"], ratio["effect"]) == (40.0, 30.0, 1.33)
    assert (ratio["low"], ratio["high"], ratio["bounds"]) == (1.05, 1.7, "ratio")
    assert (open_ended["low"], open_ended["high"], open_ended["bounds"]) == (1.2, None, "ratio")
    accuracy = charts["accuracy"]["points"][0]
    assert (accuracy["low"], accuracy["high"], accuracy["bounds"], accuracy["confidence"]) == (
        0.88,
        0.96,
        "canary",
        0.99,
    )
    assert charts["errorRate"]["points"][0]["bounds"] == "increase"
    gpu = charts["gpu"]["points"][0]
    assert (gpu["low"], gpu["high"], gpu["bounds"]) == (None, None, None)


def test_each_chart_carries_the_specs_limit_and_tolerance() -> None:
    charts = charts_of(*(measured(c, value=1.0) for c in ("latency", "errorRate", "accuracy", "gpu")))
    assert [(c, charts[c]["unit"], charts[c]["limit"], charts[c]["tolerance"]) for c in sorted(charts)] == [
        ("accuracy", "share", {"comparator": ">=", "value": 0.9}, {"of": "drop", "value": 0.02}),
        ("errorRate", "share", {"comparator": "<=", "value": 0.05}, None),
        ("gpu", "", {"comparator": "<", "value": 0.8}, None),
        ("latency", "ms", {"comparator": "<=", "value": 200.0}, {"of": "ratio", "value": 1.5}),
    ]


def test_an_older_measurement_without_interval_of_is_read_where_it_is_certain() -> None:
    """Without a stable to compare with, the interval can only be the canary's; with one, it
    could be either, so the page is not told a guess."""
    charts = charts_of(
        measured("errorRate", value=0.01, low=0.005, high=0.02),
        measured("latency", value=40.0, effect=1.33, low=1.05, high=1.7),
    )
    assert charts["errorRate"]["points"][0]["bounds"] == "canary"
    assert charts["latency"]["points"][0]["bounds"] is None and charts["latency"]["points"][0]["low"] == 1.05


@pytest.mark.parametrize("analysis", [None, {"slos": {"latency": {"maxMs": "fast"}}}])
def test_a_spec_that_does_not_parse_still_draws_the_status(analysis: Any) -> None:
    charts = charts_of(measured("latency", value=40.0, low=35.0, high=45.0, intervalOf="value"), analysis=analysis)
    (chart,) = charts.values()
    (point,) = chart["points"]
    assert (chart["unit"], chart["limit"], chart["tolerance"]) == ("ms", None, None)
    assert (point["low"], point["high"], point["bounds"]) == (35.0, 45.0, "canary")


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
