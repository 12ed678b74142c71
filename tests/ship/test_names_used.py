"""Every metric name the PrometheusRule, the dashboard and the docs use exists in names.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import pytest

from modelrollout import names

REPO: Final = Path(__file__).resolve().parents[2]
HISTOGRAM_SUFFIXES: Final = ("_bucket", "_sum", "_count")
SOURCES: Final = [
    REPO / "manifests" / "monitoring" / "prometheusrule.yaml",
    REPO / "manifests" / "monitoring" / "grafana-dashboard.json",
    *sorted((REPO / "docs").glob("*.md")),
    Path(__file__).parent / "alerts_test.yaml",
]
KNOWN: Final = {v for k, v in vars(names).items() if k.startswith("METRIC_") and isinstance(v, str)}
HISTOGRAMS: Final = {
    names.METRIC_REQUEST_DURATION,
    names.METRIC_MODEL_LOAD,
    names.METRIC_OPTIMIZATION_SECONDS,
    names.METRIC_RECONCILE_DURATION,
}


def _base(token: str) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        if token.endswith(suffix) and token.removesuffix(suffix) in HISTOGRAMS:
            return token.removesuffix(suffix)
    return token


@pytest.mark.parametrize("source", SOURCES, ids=[p.name for p in SOURCES])
def test_metric_names_exist(source: Path) -> None:
    tokens = set(re.findall(r"modelrollout_[a-z_]+[a-z]", source.read_text()))
    # Recording rule names in the docs carry a colon and are not metrics of ours.
    unknown = sorted(t for t in tokens if _base(t) not in KNOWN)
    assert unknown == [], f"{source.name} uses metrics that names.py does not define: {unknown}"


def test_sources_exist() -> None:
    assert all(p.exists() for p in SOURCES)
    assert any(p.parent.name == "docs" for p in SOURCES)


def test_the_check_catches_an_unknown_name() -> None:
    assert _base("modelrollout_rollout_phase_bucket") == "modelrollout_rollout_phase_bucket"
    assert _base("modelrollout_reconcile_duration_seconds_bucket") in KNOWN
