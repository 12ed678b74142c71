"""The kubectl plugin's pure parts: status and history text, and the control patches."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from modelrollout import kubectl_plugin, names
from modelrollout.api import v1alpha1
from modelrollout.plugin import controls, rendering

NOW = datetime.datetime(2026, 5, 4, 12, 0, 0, tzinfo=datetime.UTC)


def _ago(seconds: int) -> datetime.datetime:
    return NOW - datetime.timedelta(seconds=seconds)


def _resource(
    status: v1alpha1.ModelDeploymentStatus | None, generation: int = 3, compare_with: str = "stable"
) -> dict[str, Any]:
    spec = {
        "model": {"name": "minilm", "version": "7", "uri": "s3://models/minilm/7/model.onnx"},
        "rollout": {
            "steps": [{"weight": 10, "pause": "1m"}, {"weight": 50}, {"weight": 100}],
            "analysis": {
                "prometheus": {"url": "http://prometheus:9090"},
                "failureLimit": 2,
                "compareWith": compare_with,
                "slos": {"errorRate": {"max": 0.01}},
            },
        },
    }
    resource = v1alpha1.ModelDeployment.model_validate(
        {"metadata": {"name": "embedder", "namespace": "ml", "generation": generation}, "spec": spec}
    )
    body = resource.model_dump(mode="json", by_alias=True, exclude_none=True)
    if status is None:
        body.pop("status")
    else:
        body["status"] = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    return body


def _canary_status() -> v1alpha1.ModelDeploymentStatus:
    return v1alpha1.ModelDeploymentStatus(
        observed_generation=3,
        phase=v1alpha1.Phase.CANARY,
        message="step 1 at 50%",
        stable=v1alpha1.VersionRef(version="6", revision="a" * 16, runtime="onnxruntime", uri="s3://x/6"),
        canary=v1alpha1.VersionRef(version="7", revision="b" * 16, runtime="openvino", uri="s3://x/7"),
        canary_weight=50,
        current_step=1,
        step_started_at=_ago(150),
        analysis=v1alpha1.AnalysisStatus(
            last_check=_ago(20),
            failed_checks=1,
            passed_checks=3,
            measurements=[
                v1alpha1.Measurement(at=_ago(200), step=0, check="latency", result="pass", value=0.021),
                v1alpha1.Measurement(
                    at=_ago(20),
                    step=1,
                    check="errorRate",
                    result="fail",
                    value=0.031,
                    stable_value=0.002,
                    message="0.031 > 0.01",
                ),
            ],
        ),
        conditions=[
            v1alpha1.Condition(
                type="Ready", status="False", reason="CanaryInProgress", last_transition_time=_ago(7200)
            ),
            v1alpha1.Condition(
                type="Progressing", status="True", reason="StepAdvanced", last_transition_time=_ago(150)
            ),
        ],
    )


def test_status_shows_phase_versions_and_weight() -> None:
    text = rendering.render_status(_resource(_canary_status()), NOW)
    first = text.splitlines()[0]
    assert first == "ml/embedder: model minilm version 7, phase Canary"
    assert "stable 6 (onnxruntime)   canary 7 (openvino)   weight 50%" in text
    assert "step 1 at 50%" in text


def test_status_marks_the_current_step() -> None:
    lines = rendering.render_status(_resource(_canary_status()), NOW).splitlines()
    steps = lines[lines.index("Steps:") + 1 : lines.index("Steps:") + 5]
    assert steps[0].split() == ["STEP", "WEIGHT", "PAUSE", "IN", "STEP"]
    assert steps[1].split() == ["*", "0", "10%", "1m", "-"]
    assert steps[2].split()[:3] == [">", "1", "50%"] and steps[2].endswith("2m")
    assert steps[3].split() == ["2", "100%", "-", "-"]


def test_status_lists_the_latest_measurements_first() -> None:
    text = rendering.render_status(_resource(_canary_status()), NOW)
    assert "Analysis: 3 passed in step, 1 failed (limit 2), 0 without an answer in a row; last check 20s ago" in text
    rows = [line.split() for line in text.splitlines() if "errorRate" in line or "latency" in line]
    assert rows[0] == ["20s", "1", "errorRate", "fail", "0.031", "0.002", "0.031", ">", "0.01"]
    assert rows[1] == ["3m", "0", "latency", "pass", "0.021", "-"]


def test_status_names_what_the_canary_is_compared_with() -> None:
    plain = rendering.render_status(_resource(_canary_status()), NOW).splitlines()
    assert next(line for line in plain if line.strip().startswith("AGE")).split()[5] == "STABLE"
    status = _canary_status()
    status = status.model_copy(
        update={"analysis": status.analysis.model_copy(update={"compared_with": v1alpha1.CompareWith.BASELINE})}
    )
    lines = rendering.render_status(_resource(status, compare_with="baseline"), NOW).splitlines()
    assert next(line for line in lines if line.startswith("Analysis:")).endswith("; compared with baseline")
    assert next(line for line in lines if line.strip().startswith("AGE")).split()[5] == "BASELINE"


def test_status_shows_conditions() -> None:
    text = rendering.render_status(_resource(_canary_status()), NOW)
    conditions = text.split("Conditions:\n", 1)[1].splitlines()
    assert conditions[1].split() == ["Ready", "False", "CanaryInProgress", "2h"]
    assert conditions[2].split() == ["Progressing", "True", "StepAdvanced", "2m"]


def test_status_keeps_only_the_last_measurements() -> None:
    status = _canary_status().model_copy(
        update={
            "analysis": v1alpha1.AnalysisStatus(
                measurements=[
                    v1alpha1.Measurement(at=_ago(1000 - i), step=0, check=f"check-{i}", result="pass")
                    for i in range(20)
                ]
            )
        }
    )
    text = rendering.render_status(_resource(status), NOW)
    shown = [i for i in range(20) if f"check-{i} " in text]
    assert shown == list(range(20 - rendering.MEASUREMENTS_SHOWN, 20))


def test_status_of_a_new_resource() -> None:
    text = rendering.render_status(_resource(None, generation=1), NOW)
    assert "phase Pending" in text
    assert "(status is for generation -, spec is at 1)" in text
    assert "no measurements yet" in text and "Conditions:" not in text


def test_status_when_paused_and_succeeded() -> None:
    paused = _canary_status().model_copy(
        update={"phase": v1alpha1.Phase.PAUSED, "pause_reason": v1alpha1.PauseReason.ANALYSIS_INCONCLUSIVE}
    )
    assert "paused: AnalysisInconclusive" in rendering.render_status(_resource(paused), NOW)
    done = _canary_status().model_copy(update={"phase": v1alpha1.Phase.SUCCEEDED, "current_step": None})
    lines = rendering.render_status(_resource(done), NOW).splitlines()
    steps = lines[lines.index("Steps:") + 2 : lines.index("Steps:") + 5]
    assert [s.split()[0] for s in steps] == ["*", "*", "*"]


def test_status_with_optimization() -> None:
    status = _canary_status().model_dump(mode="json", by_alias=True, exclude_none=True)
    status["optimization"] = {"job": "embedder-opt-b", "succeeded": False, "reason": "no candidate within maxDrop 0.01"}
    body = _resource(None)
    body["status"] = status
    text = rendering.render_status(body, NOW)
    assert "Optimization: failed (job embedder-opt-b), selected -" in text
    assert "no candidate within maxDrop 0.01" in text


def test_status_shows_what_the_chosen_artifact_does_and_costs() -> None:
    selected = v1alpha1.SelectedArtifact(
        runtime="onnxruntime", precision="int8", method="dynamic", uri="s3://b/k", throughputRatio=1.53,
        throughput=210.5, p50Ms=9.1, p99Ms=14.2, costPerMillion=0.0561, pool="cpu",
    )  # fmt: skip
    status = _canary_status().model_copy(
        update={"optimization": v1alpha1.OptimizationStatus(job="embedder-opt-c", succeeded=True, selected=selected)}
    )
    text = rendering.render_status(_resource(status), NOW)
    assert "Optimization: succeeded (job embedder-opt-c), selected onnxruntime int8" in text
    assert (
        "dynamic, throughput 210.5/s per replica (1.53x FP32), p50 9.1 ms, p99 14.2 ms at batch 1, "
        "cost per million 0.0561 on cpu"
    ) in text
    unpriced = selected.model_copy(update={"costPerMillion": None})
    status = status.model_copy(update={"optimization": v1alpha1.OptimizationStatus(selected=unpriced)})
    assert "no price for cpu" in rendering.render_status(_resource(status), NOW)


def test_history() -> None:
    status = v1alpha1.ModelDeploymentStatus(
        history=[
            v1alpha1.HistoryEntry(version="6", revision="a" * 16, outcome="Promoted", at=_ago(86400 * 3)),
            v1alpha1.HistoryEntry(version="7", revision="b" * 16, outcome="RolledBack", at=_ago(600), reason="latency"),
        ],
        rolled_back_revisions=["b" * 16],
    )
    lines = rendering.render_history(_resource(status), NOW).splitlines()
    assert lines[0] == "ml/embedder:"
    assert lines[2].split()[:3] == ["6", "a" * 12, "Promoted"] and lines[2].split()[-1] == "3d"
    assert lines[3].split()[:3] == ["7", "b" * 12, "RolledBack"] and lines[3].split()[-2:] == ["10m", "latency"]
    assert lines[-1].endswith("b" * 12)
    assert rendering.render_history(_resource(None), NOW) == "ml/embedder: no rollouts recorded yet\n"


@pytest.mark.parametrize(
    ("seconds", "expected"), [(0, "0s"), (59, "59s"), (60, "1m"), (3599, "59m"), (3600, "1h"), (86400 * 2, "2d")]
)
def test_age(seconds: int, expected: str) -> None:
    assert rendering.age(_ago(seconds).isoformat(), NOW) == expected


@pytest.mark.parametrize("value", [None, "", "yesterday", 5])
def test_age_of_nothing(value: Any) -> None:
    assert rendering.age(value, NOW) == "-"


# --- controls ---------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "annotation"), list(controls.ONE_SHOT.items()))
def test_one_shot_controls_write_a_fresh_timestamp(command: str, annotation: str) -> None:
    pointer = "/metadata/annotations/" + annotation.replace("/", "~1")
    assert controls.patch_for(command, {"team": "search"}, NOW) == [
        {"op": "add", "path": pointer, "value": "2026-05-04T12:00:00.000000Z"}
    ]
    later = controls.patch_for(
        command, {annotation: "2026-05-04T12:00:00.000000Z"}, NOW + datetime.timedelta(microseconds=1)
    )
    assert later[0]["value"] != "2026-05-04T12:00:00.000000Z"


def test_controls_create_the_annotations_map_when_missing() -> None:
    assert controls.patch_for("pause", None, NOW) == [
        {"op": "add", "path": "/metadata/annotations", "value": {names.ANNOTATION_PAUSE: "true"}}
    ]


def test_resume_removes_the_pause_and_stamps_a_resume() -> None:
    stamp = controls.stamp(NOW)
    assert controls.patch_for("resume", {names.ANNOTATION_PAUSE: "true"}, NOW) == [
        {"op": "remove", "path": "/metadata/annotations/modelrollout.io~1paused"},
        {"op": "add", "path": "/metadata/annotations/modelrollout.io~1resume", "value": stamp},
    ]
    assert controls.patch_for("resume", {"team": "search"}, NOW) == [
        {"op": "add", "path": "/metadata/annotations/modelrollout.io~1resume", "value": stamp}
    ]
    assert controls.patch_for("resume", None, NOW) == [
        {"op": "add", "path": "/metadata/annotations", "value": {names.ANNOTATION_RESUME: stamp}}
    ]


def test_unknown_control_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown control 'restart'"):
        controls.patch_for("restart", None, NOW)


def test_parser_knows_every_command() -> None:
    parser = kubectl_plugin._parser()
    for command in ("status", "history", "promote", "abort", "retry", "pause", "resume"):
        args = parser.parse_args(["-n", "ml", command, "embedder"])
        assert (args.command, args.name, args.namespace) == (command, "embedder", "ml")
    with pytest.raises(SystemExit):
        parser.parse_args(["restart", "embedder"])


def test_missing_kubeconfig_is_a_clear_error(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert kubectl_plugin.main(["--kubeconfig", str(tmp_path / "none"), "status", "embedder"]) == 1
    assert "cannot load kubeconfig" in capsys.readouterr().err
