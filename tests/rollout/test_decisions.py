"""A small fixed-seed subset of `bench/decisions`: the judge's decisions go the right way.

The benchmark runs thousands of simulated rollouts for the figures; these few only check
the direction of each target, so they are quick and never flaky (fixed seeds).
"""

from __future__ import annotations

import pytest
from bench.decisions import simulation

RUNS = 12


@pytest.mark.parametrize("name", ["slower-1.5x", "accuracy-2pt", "errors+2pt"])
@pytest.mark.parametrize("rate", [20.0, 200.0])
def test_a_worse_canary_is_never_promoted(name: str, rate: float) -> None:
    outcomes = simulation.run_class(name, rate, "new", RUNS, seed=11)
    assert not [o for o in outcomes if o.result == "promoted"]


def test_an_equal_canary_is_promoted_at_200_requests_per_second() -> None:
    outcomes = simulation.run_class("equal", 200.0, "new", RUNS, seed=12)
    assert all(o.result == "promoted" for o in outcomes), [o.result for o in outcomes]


def test_an_equal_canary_is_not_rolled_back_at_20_requests_per_second() -> None:
    outcomes = simulation.run_class("equal", 20.0, "new", RUNS, seed=13)
    assert not [o for o in outcomes if o.result == "rolled back"]


def test_a_much_slower_canary_is_rolled_back_early_at_200_requests_per_second() -> None:
    outcomes = simulation.run_class("slower-1.5x", 200.0, "new", RUNS, seed=14)
    assert all(o.result == "rolled back" for o in outcomes)
    # Within the first step (2 minutes and its extension), not at the 50% step.
    assert max(o.seconds for o in outcomes) <= 300


def test_todays_judge_rolls_back_an_equal_canary_that_the_new_one_keeps() -> None:
    # The defect the new judge fixes, seen on the same simulated traffic.
    today = simulation.run_class("equal", 20.0, "today", RUNS, seed=15)
    assert [o for o in today if o.result == "rolled back"]
