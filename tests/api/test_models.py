from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from modelrollout.api import durations, v1alpha1
from tests import specs


def test_base_spec_is_valid_and_defaulted() -> None:
    spec = v1alpha1.ModelDeploymentSpec.model_validate(specs.base_spec())
    assert spec.model.format is v1alpha1.ModelFormat.ONNX
    assert [s.weight for s in spec.rollout.steps] == [10, 50, 100]
    assert spec.optimization.evaluation.max_drop == 0.01
    assert spec.serving.accelerator is v1alpha1.Accelerator.CPU
    assert spec.rollout.analysis is not None and spec.rollout.analysis.failure_limit == 2


@pytest.mark.parametrize("case", specs.invalid_cases(), ids=lambda c: c.name)
def test_invalid_spec_is_refused_naming_the_field(case: specs.InvalidCase) -> None:
    with pytest.raises(ValidationError) as err:
        v1alpha1.ModelDeploymentSpec.model_validate(case.spec)
    assert case.message in str(err.value)


def test_there_are_at_least_ten_invalid_cases() -> None:
    assert len(specs.invalid_cases()) >= 10


def test_spec_round_trips_through_aliases() -> None:
    spec = v1alpha1.ModelDeploymentSpec.model_validate(specs.base_spec())
    dumped = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert "maxDrop" in dumped["optimization"]["evaluation"]
    assert v1alpha1.ModelDeploymentSpec.model_validate(dumped) == spec


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("2m", 120.0), ("1h30m", 5400.0), ("250ms", 0.25), ("1m30s", 90.0)],
)
def test_durations_parse(text: str, seconds: float) -> None:
    assert durations.parse(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "2 m", "1d", "m", "-1s"])
def test_bad_durations_are_refused_with_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        durations.parse(text)


@pytest.mark.parametrize("seconds", [0, 1, 59, 60, 61, 3600, 5400, 0.25])
def test_format_seconds_round_trips(seconds: float) -> None:
    assert durations.parse(durations.format_seconds(seconds)) == seconds


def test_durations_are_timedeltas_in_the_model_and_text_in_manifests() -> None:
    analysis = v1alpha1.Analysis.model_validate(
        {"prometheus": {"url": "http://prometheus:9090"}, "interval": "1m30s", "slos": {"errorRate": {"max": 0.01}}}
    )
    assert analysis.interval == timedelta(seconds=90)
    assert analysis.max_step_extension == timedelta(minutes=10)  # a default is a timedelta too
    dumped = analysis.model_dump(mode="json", by_alias=True)
    assert dumped["interval"] == "1m30s"
    assert dumped["maxStepExtension"] == "10m"
    assert v1alpha1.Analysis.model_validate(dumped) == analysis


@given(st.integers(min_value=0, max_value=10**7))
def test_duration_text_round_trips(seconds: int) -> None:
    assert durations.parse(durations.text(timedelta(seconds=seconds))) == seconds
