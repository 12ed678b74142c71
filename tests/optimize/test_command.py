"""`modelrollout optimize` end to end on a real model, and every bad input it must refuse."""

from __future__ import annotations

import json
import pathlib
import socket

import numpy as np
import pytest

from modelrollout.api import optimization as api
from modelrollout.optimize import command

SECRET = "pa55w0rd-in-a-uri"
FAST = ["--benchmark-seconds", "0.05", "--benchmark-iterations", "20"]


def run(tmp: pathlib.Path, model_uri: str, *extra: str) -> tuple[int, api.OptimizationReport, str]:
    store = tmp / "store"
    store.mkdir(exist_ok=True)
    argv = [
        "--model-name", "digits", "--model-version", "3", "--model-uri", model_uri,
        "--work-dir", str(tmp / "work"), "--report", str(tmp / "report.json"),
        "--termination-log", str(tmp / "termination"), "--artifact-store", store.as_uri(),
        "--artifact-key", "ml/digits/3", *FAST, *extra,
    ]  # fmt: skip
    code = command.main(argv)
    report = api.OptimizationReport.model_validate_json((tmp / "report.json").read_text())
    term = (tmp / "termination").read_text()
    assert api.OptimizationReport.model_validate_json(term).succeeded == report.succeeded
    return code, report, term


def stored_files(tmp: pathlib.Path) -> list[pathlib.Path]:
    return [p for p in (tmp / "store").rglob("*") if p.is_file()]


def test_auto_on_cpu_selects_uploads_and_reports(
    mlp: pathlib.Path, digits_eval: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    code, report, _ = run(
        tmp_path, mlp.as_uri(), "--evaluation-uri", digits_eval.as_uri(),
        "--metric", "accuracy", "--max-drop", "0.02",
    )  # fmt: skip
    assert code == 0 and report.succeeded and report.selected is not None
    assert report.candidates[0].key == "onnxruntime-fp32-graph-opt"
    assert len(report.candidates) == 6
    # Plain NNCF keeps this classifier's accuracy, so accuracy control has nothing to add.
    skipped = next(c for c in report.candidates if c.key == "openvino-int8-nncf-accuracy")
    assert not skipped.passed and skipped.reason.startswith("not tried: openvino-int8-nncf already meets")
    assert report.hardware is not None and report.hardware.cpu
    assert not report.syntheticEvaluation and report.evaluationSamples > 0
    winner = next(c for c in report.candidates if c.key == report.selected.key)
    assert winner.passed and winner.reason == ""
    assert all(c.throughput for c in report.candidates if c.passed)
    uri = report.selected.uri
    assert uri.startswith((tmp_path / "store").as_uri() + "/ml/digits/3/" + winner.key + "/")
    files = stored_files(tmp_path)
    assert files and all(winner.key in str(f) for f in files)  # only the winner is uploaded


def test_generated_inputs_when_no_evaluation_data(mlp: pathlib.Path, tmp_path: pathlib.Path) -> None:
    code, report, _ = run(
        tmp_path, mlp.as_uri(), "--candidates",
        '[{"runtime":"openvino","precision":"fp32","method":"convert"}]',
    )  # fmt: skip
    assert code == 0, report.reason
    assert [c.key for c in report.candidates] == [
        "onnxruntime-fp32-graph-opt",
        "openvino-fp32-convert",
    ]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bad_inputs(mlp: pathlib.Path, tmp: pathlib.Path) -> dict[str, tuple[str, list[str], str]]:
    corrupt = tmp / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07garbage that is not a protobuf" * 10)
    truncated = tmp / "truncated.onnx"
    truncated.write_bytes(mlp.read_bytes()[: mlp.stat().st_size // 2])
    xml = tmp / "model.xml"
    xml.write_text("<net/>")
    xml.with_suffix(".bin").write_bytes(b"")
    wrong_calib = tmp / "calib.npz"
    np.savez(wrong_calib, features=np.zeros((20, 32), np.float32))
    bare = tmp / "bare"
    bare.mkdir()
    (bare / "model.xml").write_text("<net/>")  # and no model.bin at all
    wrong_keys = tmp / "keys.npz"
    np.savez(wrong_keys, inputs=np.zeros((20, 64), np.float32), y=np.zeros(20, np.int64))
    small_eval = tmp / "small.npz"
    np.savez(small_eval, features=np.zeros((20, 64), np.float32), labels=np.zeros(20, np.int64))
    return {
        "corrupt": (corrupt.as_uri(), [], "reference onnxruntime-fp32-graph-opt failed to load"),
        "truncated": (truncated.as_uri(), [], "reference onnxruntime-fp32-graph-opt failed to load"),
        "sha256": (mlp.as_uri(), ["--model-sha256", "0" * 64], "does not match expected"),
        "wrong format": (xml.as_uri(), [], "is OpenVINO IR, not onnx"),
        "missing file": ((tmp / "nope.onnx").as_uri(), [], "no such file"),
        "unreachable": (f"http://127.0.0.1:{_closed_port()}/m.onnx", [], "unreachable"),
        "bad scheme": ("ftp://host/m.onnx", [], "unsupported URI scheme"),
        "calibration shape": (
            mlp.as_uri(), ["--calibration-uri", wrong_calib.as_uri()],
            "calibration data: input 'features' has shape (20, 32), the model expects (N, 64)",
        ),
        "evaluation too small": (
            mlp.as_uri(), ["--evaluation-uri", small_eval.as_uri(), "--metric", "accuracy"],
            "20 samples are too few",
        ),
        "accuracy without labels": (mlp.as_uri(), ["--metric", "accuracy"], "needs evaluation data"),
        "IR without its bin": (
            (bare / "model.xml").as_uri(), ["--format", "openvino"], "OpenVINO IR weights model.bin are missing",
        ),
        "calibration keys": (mlp.as_uri(), ["--calibration-uri", wrong_keys.as_uri()],
            "calibration data: no array for model input 'features' (arrays: inputs, y)"),
        "evaluation keys": (
            mlp.as_uri(), ["--evaluation-uri", wrong_keys.as_uri(), "--metric", "accuracy"],
            "evaluation data: no array for model input 'features'",
        ),
        "dot-dot": (f"file://{tmp}/x/../m.onnx", [], "must not contain '..'"),
        "credentials": (
            f"http://alice:{SECRET}@127.0.0.1:{_closed_port()}/m.onnx", [], "http://***@127.0.0.1:",
        ),
    }  # fmt: skip


@pytest.mark.parametrize(
    "case",
    ["corrupt", "truncated", "sha256", "wrong format", "missing file", "unreachable", "bad scheme",
     "calibration shape", "evaluation too small", "accuracy without labels", "IR without its bin",
     "calibration keys", "evaluation keys", "dot-dot", "credentials"],
)  # fmt: skip
def test_bad_input_fails_with_one_line_reason_and_nothing_stored(
    mlp: pathlib.Path, tmp_path: pathlib.Path, case: str
) -> None:
    uri, extra, message = _bad_inputs(mlp, tmp_path)[case]
    code, report, term = run(tmp_path, uri, *extra)
    assert code == 1
    assert not report.succeeded and message in report.reason
    assert "\n" not in report.reason and json.loads(term)["reason"] == report.reason
    assert stored_files(tmp_path) == []
    assert SECRET not in term


def test_missing_s3_credentials(mlp: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    code, report, _ = run(tmp_path, "s3://models/digits/model.onnx")
    assert code == 1 and "no S3 credentials" in report.reason


def test_usage_error_still_writes_termination(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    term = tmp_path / "term"
    monkeypatch.setenv("MODELROLLOUT_TERMINATION_LOG", str(term))
    for var in ("MODELROLLOUT_MODEL_NAME", "MODELROLLOUT_MODEL_VERSION", "MODELROLLOUT_MODEL_URI"):
        monkeypatch.delenv(var, raising=False)
    assert command.main(["--max-drop", "2"]) == 2
    report = api.OptimizationReport.model_validate_json(term.read_text())
    assert not report.succeeded and report.reason.startswith("usage: --model-name")


def test_flags_fall_back_to_env(mlp: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELROLLOUT_MODEL_URI", mlp.as_uri())
    monkeypatch.setenv("MODELROLLOUT_METRIC", "top1-agreement")
    monkeypatch.setenv("MODELROLLOUT_MAX_DROP", "0.1")
    monkeypatch.setenv(
        "MODELROLLOUT_CANDIDATES",
        '[{"runtime":"onnxruntime","precision":"int8","method":"dynamic"}]',
    )
    monkeypatch.setenv("MODELROLLOUT_TERMINATION_LOG", str(tmp_path / "t"))
    argv = ["--model-name", "d", "--model-version", "1", "--work-dir", str(tmp_path / "w"), *FAST]
    assert command.main(argv) == 0
    report = api.OptimizationReport.model_validate_json((tmp_path / "w" / "report.json").read_text())
    assert report.metric is api.Metric.TOP1_AGREEMENT and report.maxDrop == 0.1
    assert [c.key for c in report.candidates] == [
        "onnxruntime-fp32-graph-opt",
        "onnxruntime-int8-dynamic",
    ]
