"""`schedules.next_due` tells the truth: nothing changes before it, something changes at it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from modelrollout.api.v1alpha1 import Phase
from modelrollout.rollout import machine, schedules
from tests.rollout.world import World, healthy, slow, spec_with

TINY = timedelta(milliseconds=1)


def _decide_at(world: World, when: datetime) -> machine.Decision:
    """The pass the machine would make at `when` on the same world (analysis judged if due then)."""
    saved, queried = world.now, world.queried
    world.now = when
    try:
        return machine.decide(world.spec, world.status, world.observations())
    finally:
        world.now, world.queried = saved, queried


def _walk(world: World, until: set[Phase], ticks: int = 400) -> int:
    """Tick once a second; after every tick check the schedule against the machine. Checks made."""
    checked = 0
    for _ in range(ticks):
        world.tick(1)
        if world.status.phase in until:
            return checked
        now = world.now
        due = schedules.next_due(world.spec, world.status, now)
        if due is None or due <= now + TINY:
            continue
        at_now = _decide_at(world, now)
        if at_now.status != world.status:
            continue  # the children moved: a watch event wakes this pass, not the clock
        before = _decide_at(world, due - TINY)
        assert before.status == at_now.status, f"status moved before {due} (now {now})"
        assert before.actions == at_now.actions
        assert _decide_at(world, due).status != at_now.status, f"nothing was due at {due}"
        checked += 1
    raise AssertionError(f"stuck at {world.status.phase}")


def _deployed(**patch: object) -> World:
    world = World(spec_with(**patch))
    world.measure = healthy
    world.run_until(Phase.SUCCEEDED)
    world.set_spec(spec_with(**{**patch, "model": {"version": "8"}}))
    return world


@pytest.mark.parametrize(
    "patch",
    [
        {},
        {"rollout": {"analysis": None}},
        {"optimization": {"enabled": False}},
        {"rollout": {"analysis": {"interval": "7s"}, "steps": [{"weight": 10, "pause": "13s"}, {"weight": 100}]}},
    ],
    ids=["analysis", "pauses-only", "no-optimization", "odd-intervals"],
)
def test_a_good_canary_is_woken_exactly_when_work_is_due(patch: dict[str, object]) -> None:
    world = _deployed(**patch)
    checked = _walk(world, {Phase.SUCCEEDED})
    assert world.status.stable is not None and world.status.stable.version == "8"
    assert checked > 0


def test_a_failing_canary_is_woken_for_every_check() -> None:
    world = _deployed()
    world.measure = slow
    assert _walk(world, {Phase.ROLLED_BACK}) > 0


def test_the_progress_deadline_is_due_once() -> None:
    world = _deployed(
        rollout={"progressDeadline": "5s", "analysis": None, "steps": [{"weight": 50, "pause": "1h"}, {"weight": 100}]}
    )
    world.run_until(Phase.CANARY)
    started = world.status.rollout_started_at
    assert started is not None
    assert schedules.next_due(world.spec, world.status, started + timedelta(seconds=2)) == started + timedelta(
        seconds=5, milliseconds=1
    )
    later = started + timedelta(seconds=10)
    # Past the deadline only the step's pause is left to wait for.
    step_start = world.status.step_started_at
    assert step_start is not None
    assert schedules.next_due(world.spec, world.status, later) == step_start + timedelta(hours=1)


def test_nothing_is_due_at_rest() -> None:
    world = World(spec_with())
    world.measure = healthy
    world.run_until(Phase.SUCCEEDED)
    assert schedules.next_due(world.spec, world.status, world.now) is None
