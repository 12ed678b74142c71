from __future__ import annotations

import json
import pathlib

import pytest

from modelrollout.api import optimization as api
from modelrollout.optimize import reporting


def candidate(i: int, reason: str) -> api.CandidateResult:
    return api.CandidateResult(
        runtime=api.Runtime.OPENVINO, precision=api.Precision.INT8, method=api.Method.NNCF,
        device="CPU", p50Ms=1.23456789 + i, p99Ms=9.87654321, throughput=1234.56789,
        accuracy=0.987654321, accuracyDrop=0.0012345678, sizeBytes=123456789,
        peakMemoryBytes=987654321, passed=i % 2 == 0, reason=reason,
    )  # fmt: skip


def report(n: int, reason_len: int, top_reason: str = "") -> api.OptimizationReport:
    return api.OptimizationReport(
        model="m" * 60, version="v" * 20, metric=api.Metric.COSINE, maxDrop=0.01,
        succeeded=not top_reason, reason=top_reason,
        selected=api.SelectedArtifact(
            runtime=api.Runtime.OPENVINO, precision=api.Precision.INT8, method=api.Method.NNCF,
            uri="s3://bucket/" + "k" * 200 + "/model.xml", sha256="a" * 64, throughputRatio=1.5123456,
        ),
        candidates=[candidate(i, "é" * reason_len) for i in range(n)],
        durationSeconds=12.3456789,
    )  # fmt: skip


@pytest.mark.parametrize("n", [0, 1, 5, 7, 40, 400])
@pytest.mark.parametrize("reason_len", [0, 50, 3000])
def test_compact_always_fits_and_stays_a_valid_report(n: int, reason_len: int) -> None:
    full = report(n, reason_len)
    text = reporting.compact(full)
    assert len(text.encode()) <= reporting.TERMINATION_LIMIT
    parsed = api.OptimizationReport.model_validate_json(text)
    assert parsed.succeeded and parsed.selected is not None
    assert parsed.selected.uri == full.selected.uri if full.selected else False
    assert len(parsed.candidates) <= n


def test_small_reports_keep_every_candidate_summary() -> None:
    parsed = api.OptimizationReport.model_validate_json(reporting.compact(report(5, 10)))
    assert len(parsed.candidates) == 5
    assert parsed.candidates[0].p50Ms == pytest.approx(1.235)
    assert parsed.candidates[0].reason == "é" * 10
    assert parsed.candidates[0].peakMemoryBytes is None  # a detail, dropped


def test_huge_failure_reason_is_shortened() -> None:
    text = reporting.compact(report(3, 0, top_reason="x" * 10000))
    parsed = api.OptimizationReport.model_validate_json(text)
    assert not parsed.succeeded and parsed.reason.startswith("xxx") and len(text) <= 4096


def test_write_is_whole_json(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "sub" / "report.json"
    reporting.write(report(2, 5), path)
    assert json.loads(path.read_text())["candidates"][1]["peakMemoryBytes"] == 987654321
