from __future__ import annotations

import math

import pytest

from modelrollout.api import v1alpha1
from modelrollout.rollout import steps
from modelrollout.rollout.verdicts import (
    Check,
    Kind,
    Result,
    Sample,
    checks_for,
    judge,
    judge_all,
    overall,
    parse_condition,
)

LATENCY = Check("latency", Kind.LATENCY, "<=", 50.0, min_count=50, max_ratio_to_stable=1.5, quantile=0.99)
ACCURACY = Check("accuracy", Kind.ACCURACY, ">=", 0.9, min_count=20)
CUSTOM = Check("gpu", Kind.CUSTOM, "<", 0.8, min_count=0, query="avg(x)")


@pytest.mark.parametrize(
    ("check", "sample", "expected"),
    [
        (LATENCY, Sample("latency", 20.0, count=100), Result.PASS),
        (LATENCY, Sample("latency", 50.0, count=100), Result.PASS),
        (LATENCY, Sample("latency", 50.1, count=100), Result.FAIL),
        (LATENCY, Sample("latency", 20.0, count=49), Result.INCONCLUSIVE),
        (LATENCY, Sample("latency", 20.0, count=None), Result.INCONCLUSIVE),
        (LATENCY, Sample("latency", 20.0, count=math.nan), Result.INCONCLUSIVE),
        (LATENCY, Sample("latency", None, count=100), Result.INCONCLUSIVE),
        (LATENCY, Sample("latency", math.nan, count=100), Result.INCONCLUSIVE),
        (LATENCY, Sample("latency", math.inf, count=100), Result.INCONCLUSIVE),
        (LATENCY, Sample("latency", None, error="connection refused"), Result.ERROR),
        (LATENCY, Sample("latency", 40.0, count=100, stable_value=20.0), Result.FAIL),
        (LATENCY, Sample("latency", 29.0, count=100, stable_value=20.0), Result.PASS),
        (LATENCY, Sample("latency", 29.0, count=100, stable_value=0.0), Result.INCONCLUSIVE),
        (ACCURACY, Sample("accuracy", 0.95, count=30), Result.PASS),
        (ACCURACY, Sample("accuracy", 0.85, count=30), Result.FAIL),
        (ACCURACY, Sample("accuracy", 0.99, count=5), Result.INCONCLUSIVE),
        (CUSTOM, Sample("gpu", 0.5), Result.PASS),
        (CUSTOM, Sample("gpu", 0.8), Result.FAIL),
        (CUSTOM, Sample("gpu", None), Result.INCONCLUSIVE),
    ],
)
def test_judge(check: Check, sample: Sample, expected: Result) -> None:
    verdict = judge(check, sample)
    assert verdict.result is expected
    assert verdict.message.startswith(check.name)


def test_a_missing_sample_is_an_error() -> None:
    (verdict,) = judge_all([LATENCY], [])
    assert verdict.result is Result.ERROR


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([], Result.INCONCLUSIVE),  # an empty round proves nothing
        ([Result.PASS, Result.PASS], Result.PASS),
        ([Result.PASS, Result.INCONCLUSIVE], Result.INCONCLUSIVE),
        ([Result.INCONCLUSIVE, Result.ERROR], Result.ERROR),
        ([Result.ERROR, Result.FAIL, Result.PASS], Result.FAIL),
    ],
)
def test_overall_is_the_worst(results: list[Result], expected: Result) -> None:
    verdicts = [judge(CUSTOM, Sample("gpu", 0.1)) for _ in results]
    verdicts = [
        v.__class__(v.check, r, v.value, v.stable_value, v.message) for v, r in zip(verdicts, results, strict=True)
    ]
    assert overall(verdicts) is expected


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("result < 0.5", ("<", 0.5)), ("result>=10", (">=", 10.0)), ("result != 0", ("!=", 0.0))],
)
def test_parse_condition(text: str, parsed: tuple[str, float]) -> None:
    assert parse_condition(text) == parsed


def test_parse_condition_refuses_anything_else() -> None:
    with pytest.raises(ValueError, match="successCondition"):
        parse_condition("__import__('os')")


def test_checks_for_spec() -> None:
    analysis = v1alpha1.Analysis.model_validate(
        {
            "prometheus": {"url": "http://p:9090"},
            "minSamples": 10,
            "slos": {"latency": {"maxMs": 30}, "errorRate": {"max": 0.01}, "accuracy": {"min": 0.9}},
            "metrics": [{"name": "q", "query": "up", "successCondition": "result == 1"}],
        }
    )
    checks = checks_for(analysis)
    assert [c.name for c in checks] == ["latency", "errorRate", "accuracy", "q"]
    assert checks[0].min_count == 10 and checks[2].min_count == 20 and checks[3].min_count == 0


@pytest.mark.parametrize(
    ("total", "weight", "router", "expected"),
    [
        (4, 0, v1alpha1.Router.REPLICAS, (4, 0)),
        (4, 25, v1alpha1.Router.REPLICAS, (3, 1)),
        (4, 50, v1alpha1.Router.REPLICAS, (2, 2)),
        (4, 90, v1alpha1.Router.REPLICAS, (1, 3)),
        (4, 100, v1alpha1.Router.REPLICAS, (0, 4)),
        (10, 10, v1alpha1.Router.REPLICAS, (9, 1)),
        (1, 10, v1alpha1.Router.REPLICAS, (1, 1)),
        (1, 100, v1alpha1.Router.REPLICAS, (0, 1)),
        (4, 10, v1alpha1.Router.GATEWAY_API, (4, 1)),
        (4, 60, v1alpha1.Router.GATEWAY_API, (4, 3)),
        (4, 100, v1alpha1.Router.GATEWAY_API, (4, 4)),
    ],
)
def test_replica_split(total: int, weight: int, router: v1alpha1.Router, expected: tuple[int, int]) -> None:
    assert steps.replica_split(total, weight, router) == expected
