from __future__ import annotations

import math
from dataclasses import replace
from statistics import NormalDist

import pytest

from modelrollout.api import v1alpha1
from modelrollout.api.v1alpha1 import IntervalOf
from modelrollout.rollout import steps
from modelrollout.rollout.statistics import Histogram
from modelrollout.rollout.verdicts import (
    Check,
    Counts,
    Evidence,
    Kind,
    Result,
    checks_for,
    judge,
    judge_all,
    overall,
    parse_condition,
)
from modelrollout.serve.metrics import LATENCY_BUCKETS

LATENCY = Check("latency", Kind.LATENCY, "<=", 50.0, min_count=50, tolerance=1.2, quantile=0.99)
ABSOLUTE = replace(LATENCY, tolerance=None)
ERRORS = Check("errorRate", Kind.ERROR_RATE, "<=", 0.01, min_count=50, tolerance=0.005)
ACCURACY = Check("accuracy", Kind.ACCURACY, ">=", 0.9, min_count=20, tolerance=0.01)
CUSTOM = Check("gpu", Kind.CUSTOM, "<", 0.8, min_count=0, query="avg(x)")


def lognormal(n: float, p99_ms: float, sigma: float = 0.5) -> Histogram:
    """`n` requests spread over the server's buckets as a lognormal with that p99 would be."""
    dist = NormalDist(math.log(p99_ms / 1000) - sigma * 2.3263478740408408, sigma)
    cdf = [dist.cdf(math.log(b)) for b in LATENCY_BUCKETS] + [1.0]
    counts = [n * (b - a) for a, b in zip([0.0, *cdf], cdf, strict=False)]
    return Histogram.of(LATENCY_BUCKETS, counts)


def latency(canary: Histogram, stable: Histogram | None = None) -> Evidence:
    return Evidence("latency", latency=canary, stable_latency=stable)


@pytest.mark.parametrize(
    ("check", "evidence", "expected"),
    [
        # Same distribution, plenty of requests: the ratio's interval is under 1.2.
        (LATENCY, latency(lognormal(20000, 22), lognormal(100000, 22)), Result.PASS),
        # 1.5x slower: the whole interval is above 1.2.
        (LATENCY, latency(lognormal(20000, 33), lognormal(100000, 22)), Result.FAIL),
        # 1.5x slower on 60 requests: too little to say either way.
        (LATENCY, latency(lognormal(60, 33), lognormal(600, 22)), Result.INCONCLUSIVE),
        # Below the floor, on either side.
        (LATENCY, latency(lognormal(49, 22), lognormal(100000, 22)), Result.INCONCLUSIVE),
        (LATENCY, latency(lognormal(20000, 22), lognormal(10, 22)), Result.INCONCLUSIVE),
        (LATENCY, latency(lognormal(20000, 22), None), Result.INCONCLUSIVE),
        (LATENCY, Evidence("latency"), Result.INCONCLUSIVE),
        # The absolute bound alone, on the canary's interval.
        (ABSOLUTE, latency(lognormal(20000, 30)), Result.PASS),
        (ABSOLUTE, latency(lognormal(20000, 70)), Result.FAIL),
        (ABSOLUTE, latency(lognormal(20000, 50)), Result.INCONCLUSIVE),
        (LATENCY, Evidence("latency", error="connection refused"), Result.ERROR),
        (ERRORS, Evidence("errorRate", counts=Counts(10, 10000), stable_counts=Counts(10, 10000)), Result.PASS),
        (ERRORS, Evidence("errorRate", counts=Counts(200, 10000), stable_counts=Counts(10, 10000)), Result.FAIL),
        # Over the absolute max while stable is as bad: still a failure.
        (ERRORS, Evidence("errorRate", counts=Counts(300, 10000), stable_counts=Counts(300, 10000)), Result.FAIL),
        (ERRORS, Evidence("errorRate", counts=Counts(1, 100), stable_counts=Counts(10, 10000)), Result.INCONCLUSIVE),
        (ERRORS, Evidence("errorRate", counts=Counts(0, 10), stable_counts=Counts(0, 10000)), Result.INCONCLUSIVE),
        (ACCURACY, Evidence("accuracy", counts=Counts(9500, 10000), stable_counts=Counts(9500, 10000)), Result.PASS),
        # Two points less accurate than stable, above `min`: fails on the drop.
        (ACCURACY, Evidence("accuracy", counts=Counts(9300, 10000), stable_counts=Counts(9500, 10000)), Result.FAIL),
        # 28 of 30 is 93%, but 30 events cannot show it is at least 90%.
        (replace(ACCURACY, tolerance=None), Evidence("accuracy", counts=Counts(28, 30)), Result.INCONCLUSIVE),
        (replace(ACCURACY, tolerance=None), Evidence("accuracy", counts=Counts(20, 30)), Result.FAIL),
        (replace(ACCURACY, tolerance=None), Evidence("accuracy", counts=Counts(5, 5)), Result.INCONCLUSIVE),
        (CUSTOM, Evidence("gpu", value=0.5), Result.PASS),
        (CUSTOM, Evidence("gpu", value=0.8), Result.FAIL),
        (CUSTOM, Evidence("gpu", value=None), Result.INCONCLUSIVE),
        (CUSTOM, Evidence("gpu", value=math.nan), Result.INCONCLUSIVE),
    ],
)
def test_judge(check: Check, evidence: Evidence, expected: Result) -> None:
    verdict = judge(check, evidence)
    assert verdict.result is expected, verdict.message
    assert verdict.message


def test_the_message_says_why_with_the_interval_and_confidence() -> None:
    verdict = judge(LATENCY, latency(lognormal(20000, 33), lognormal(100000, 22)), look=3, planned=10)
    assert verdict.result is Result.FAIL
    assert verdict.effect is not None and 1.4 < verdict.effect < 1.7
    assert verdict.interval is not None and 1.2 < verdict.interval.low <= verdict.effect <= verdict.interval.high
    assert verdict.message.startswith("latency p99 canary ")
    assert "ms vs stable" in verdict.message and "> 1.2 tolerated: fail, 99% confidence" in verdict.message
    assert verdict.samples == pytest.approx(20000) and verdict.stable_samples == pytest.approx(100000)


@pytest.mark.parametrize(
    ("check", "evidence", "of"),
    [
        # The ratio decided: its interval is the one kept, around the effect.
        (LATENCY, latency(lognormal(20000, 33), lognormal(100000, 22)), IntervalOf.EFFECT),
        # No stable to compare with: the canary's own interval, in ms.
        (ABSOLUTE, latency(lognormal(20000, 70)), IntervalOf.VALUE),
        # Over the absolute max while as bad as stable: the absolute bound decided.
        (ERRORS, Evidence("errorRate", counts=Counts(300, 10000), stable_counts=Counts(300, 10000)), IntervalOf.VALUE),
        (
            ACCURACY,
            Evidence("accuracy", counts=Counts(9300, 10000), stable_counts=Counts(9500, 10000)),
            IntervalOf.EFFECT,
        ),
        (CUSTOM, Evidence("gpu", value=0.5), None),
    ],
)
def test_the_interval_says_what_it_bounds(check: Check, evidence: Evidence, of: IntervalOf | None) -> None:
    verdict = judge(check, evidence)
    assert verdict.interval_of is of
    if of is None:
        assert verdict.interval is None
        return
    centre = verdict.effect if of is IntervalOf.EFFECT else verdict.value
    assert verdict.interval is not None and centre is not None
    assert verdict.interval.low <= centre <= verdict.interval.high


def test_a_later_look_needs_more_evidence() -> None:
    # The same evidence judged at look 1 and at look 50 of a step: the budget left for a
    # late look is smaller, so its interval is wider.
    evidence = latency(lognormal(3000, 26), lognormal(30000, 22))
    early, late = judge(LATENCY, evidence, look=1, planned=4), judge(LATENCY, evidence, look=50, planned=4)
    assert early.interval is not None and late.interval is not None
    assert late.interval.low < early.interval.low and late.interval.high > early.interval.high


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
    verdicts = [replace(judge(CUSTOM, Evidence("gpu", value=0.1)), result=r) for r in results]
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
