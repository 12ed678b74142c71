"""Properties of the statistical judge that must hold for any evidence (hypothesis)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from modelrollout.rollout import statistics
from modelrollout.rollout.statistics import Histogram
from modelrollout.rollout.verdicts import Check, Counts, Evidence, Kind, Result, judge
from modelrollout.serve.metrics import LATENCY_BUCKETS

LATENCY = Check("latency", Kind.LATENCY, "<=", 50.0, min_count=50, tolerance=1.2, quantile=0.99)
ABSOLUTE = replace(LATENCY, tolerance=None)
ERRORS = Check("errorRate", Kind.ERROR_RATE, "<=", 0.02, min_count=50, tolerance=0.005)
ACCURACY = Check("accuracy", Kind.ACCURACY, ">=", 0.8, min_count=20, tolerance=0.01)
WIDTH = len(LATENCY_BUCKETS) + 1
BETTER = {Result.PASS: 2, Result.INCONCLUSIVE: 1, Result.FAIL: 0}

buckets = st.lists(st.integers(0, 400), min_size=WIDTH, max_size=WIDTH)
looks = st.integers(1, 40)


def histogram(counts: list[int]) -> Histogram:
    return Histogram.of(LATENCY_BUCKETS, [float(c) for c in counts])


def slower(counts: list[int], moves: list[int]) -> list[int]:
    """The same requests, some of them moved one or more buckets up: worse in every bucket."""
    out = list(counts)
    for i in range(WIDTH - 1):
        moved = min(out[i], moves[i % len(moves)])
        out[i] -= moved
        out[i + 1] += moved
    return out


@settings(max_examples=200, deadline=None)
@given(buckets, buckets, st.lists(st.integers(0, 200), min_size=1, max_size=WIDTH), looks)
def test_a_canary_worse_in_every_bucket_never_gets_a_better_verdict(
    canary: list[int], stable: list[int], moves: list[int], look: int
) -> None:
    worse = slower(canary, moves)
    for check in (LATENCY, ABSOLUTE):
        before = judge(
            check, Evidence("latency", latency=histogram(canary), stable_latency=histogram(stable)), look, 10
        )
        after = judge(check, Evidence("latency", latency=histogram(worse), stable_latency=histogram(stable)), look, 10)
        assert BETTER[after.result] <= BETTER[before.result], (before.message, after.message)


@settings(max_examples=200, deadline=None)
@given(buckets, buckets, st.integers(2, 20), looks)
def test_more_latency_evidence_never_turns_a_clear_fail_into_a_pass(
    canary: list[int], stable: list[int], times: int, look: int
) -> None:
    def verdict(k: int) -> Result:
        ev = Evidence(
            "latency",
            latency=histogram([c * k for c in canary]),
            stable_latency=histogram([s * k for s in stable]),
        )
        return judge(LATENCY, ev, look, 10).result

    if verdict(1) is Result.FAIL:
        assert verdict(times) is Result.FAIL
    if verdict(1) is Result.PASS:
        assert verdict(times) is Result.PASS


shares = st.tuples(st.integers(0, 2000), st.integers(1, 2000)).map(lambda t: (min(t), max(t)))


@settings(max_examples=300, deadline=None)
@given(shares, shares, st.integers(2, 20), looks)
def test_more_counts_never_turn_a_clear_fail_into_a_pass(
    canary: tuple[int, int], stable: tuple[int, int], times: int, look: int
) -> None:
    for check in (ERRORS, ACCURACY):

        def verdict(k: int, check: Check = check) -> Result:
            ev = Evidence(
                check.name,
                counts=Counts(canary[0] * k, canary[1] * k),
                stable_counts=Counts(stable[0] * k, stable[1] * k),
            )
            return judge(check, ev, look, 10).result

        if verdict(1) is Result.FAIL:
            assert verdict(times) is Result.FAIL
        if verdict(1) is Result.PASS:
            assert verdict(times) is Result.PASS


@settings(max_examples=300, deadline=None)
@given(shares, shares, st.integers(1, 50), looks)
def test_more_errors_never_get_a_better_verdict(
    canary: tuple[int, int], stable: tuple[int, int], extra: int, look: int
) -> None:
    hits, total = canary
    worse = min(total, hits + extra)
    for check, bad_more in ((ERRORS, True), (ACCURACY, False)):
        # For accuracy, fewer correct answers is worse.
        before_hits, after_hits = (hits, worse) if bad_more else (worse, hits)
        before = judge(
            check, Evidence(check.name, counts=Counts(before_hits, total), stable_counts=Counts(*stable)), look
        )
        after = judge(
            check, Evidence(check.name, counts=Counts(after_hits, total), stable_counts=Counts(*stable)), look
        )
        assert BETTER[after.result] <= BETTER[before.result], (before.message, after.message)


@settings(deadline=None)
@given(st.floats(0.001, 0.5), st.integers(1, 100))
def test_the_looks_never_spend_more_than_alpha(alpha: float, planned: int) -> None:
    total = sum(statistics.spent(alpha, k, planned) for k in range(1, 20_000))
    assert total <= alpha


@settings(deadline=None)
@given(st.integers(0, 500), st.integers(1, 500), st.floats(0.5, 4.0))
def test_wilson_contains_the_share(hits: int, total: int, z: float) -> None:
    hits = min(hits, total)
    interval = statistics.wilson(hits, total, z)
    assert interval.low <= hits / total <= interval.high
