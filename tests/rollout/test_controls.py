"""Day-2 controls (abort, promote, pause) in every phase they can arrive in."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modelrollout import names
from modelrollout.api.v1alpha1 import Outcome, PauseReason, Phase
from modelrollout.rollout import actions, machine
from tests.rollout.world import World, healthy, quiet, spec_with


def deployed(version: str = "7") -> World:
    world = World(spec_with(model={"version": version}), measure=healthy)
    world.run_until(Phase.SUCCEEDED)
    return world


def _optimizing(world: World) -> None:
    world.rollout_ticks = 1
    world.tick()
    assert world.status.phase is Phase.OPTIMIZING


def _deploying(world: World) -> None:
    world.rollout_ticks = 1000  # the canary's pods take their time
    world.run_until(Phase.DEPLOYING)
    world.tick()


def _canary(world: World) -> None:
    world.run_until(Phase.CANARY)


def _paused_by_hand(world: World) -> None:
    world.run_until(Phase.CANARY)
    world.annotations[names.ANNOTATION_PAUSE] = "true"
    world.tick()
    assert world.status.pause_reason is PauseReason.MANUAL


def _paused_inconclusive(world: World) -> None:
    world.run_until(Phase.CANARY)
    world.measure = quiet
    world.run_until(Phase.PAUSED)
    assert world.status.pause_reason is PauseReason.ANALYSIS_INCONCLUSIVE


def _promoting(world: World) -> None:
    world.run_until(Phase.CANARY)
    world.rollout_ticks = 1000  # stable takes long to roll out the new version
    world.run_until(Phase.PROMOTING)
    world.tick()
    assert world.deployments[names.ROLE_STABLE].version == "8"  # half-way: stable runs the new template


PHASES: dict[str, Callable[[World], None]] = {
    "optimizing": _optimizing,
    "deploying": _deploying,
    "canary": _canary,
    "paused-by-hand": _paused_by_hand,
    "paused-inconclusive": _paused_inconclusive,
    "promoting": _promoting,
}


@pytest.mark.parametrize("reach", PHASES.values(), ids=PHASES.keys())
def test_abort_in_every_phase_returns_to_stable_and_is_remembered(reach: Callable[[World], None]) -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    reach(world)
    world.rollout_ticks = 1
    world.annotations[names.ANNOTATION_ABORT] = "bad idea"
    decision = world.tick()
    assert decision.status.phase is Phase.ROLLED_BACK
    entry = world.status.history[-1]
    assert (entry.version, entry.outcome) == ("8", Outcome.ABORTED)
    assert world.actions_of(actions.CountRollback)[-1].reason == "Aborted"
    world.run_until(Phase.ROLLED_BACK)
    for _ in range(5):
        world.tick()
    assert world.status.phase is Phase.ROLLED_BACK
    assert names.ROLE_CANARY not in world.deployments
    stable = world.deployments[names.ROLE_STABLE]
    assert (stable.version, stable.replicas, stable.ready) == ("7", 4, 4)
    assert world.actions_of(actions.SetTraffic)[-1].canary_weight == 0
    assert [h.outcome for h in world.status.history].count(Outcome.ABORTED) == 1


@pytest.mark.parametrize("phase", [Phase.OPTIMIZING, Phase.DEPLOYING])
def test_abort_of_a_first_version_stops_it_serving(phase: Phase) -> None:
    world = World(spec_with(), measure=healthy, rollout_ticks=1000)
    world.run_until(phase)
    world.tick()
    world.annotations[names.ANNOTATION_ABORT] = "not this one"
    world.tick()
    assert world.status.phase is Phase.ROLLED_BACK and world.status.stable is None
    assert world.status.history[-1].outcome is Outcome.ABORTED and world.status.history[-1].version == "7"
    assert "nothing serves" in world.status.message
    world.tick()
    assert not world.deployments
    assert not world.actions_of(actions.EnsureDeployment)[-1:] or world.log[-1].status.phase is Phase.ROLLED_BACK


def test_abort_with_nothing_under_way_says_it_was_ignored() -> None:
    world = deployed()
    world.annotations[names.ANNOTATION_ABORT] = "oops"
    world.tick()
    assert world.status.phase is Phase.SUCCEEDED
    assert world.events().count("ControlIgnored") == 1
    world.tick()
    assert world.events().count("ControlIgnored") == 1  # once per value, not every pass


@pytest.mark.parametrize("reach", [_optimizing, _deploying], ids=["optimizing", "deploying"])
def test_promote_before_the_canary_runs_is_ignored_and_the_canary_is_judged(reach: Callable[[World], None]) -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    reach(world)
    world.annotations[names.ANNOTATION_PROMOTE] = "please"
    world.tick()
    assert "ControlIgnored" in world.events()
    world.rollout_ticks = 1
    world.run_until(Phase.CANARY)
    queried = world.queried
    world.tick()
    assert world.status.phase is Phase.CANARY and world.status.current_step == 0
    world.run_until(Phase.SUCCEEDED)
    assert world.queried - queried >= 3  # every step was analysed
    assert "PromoteRequested" not in world.events()


def test_a_failing_check_rolls_back_while_paused_by_hand() -> None:
    from tests.rollout.world import slow

    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    world.annotations[names.ANNOTATION_PAUSE] = "true"
    world.tick()
    world.measure = slow
    world.run_until(Phase.ROLLED_BACK)
    assert world.status.history[-1].outcome is Outcome.ROLLED_BACK


@pytest.mark.parametrize("value", ["false", "False", "no", "0", "off", ""])
def test_pause_values_that_mean_no(value: str) -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    world.annotations[names.ANNOTATION_PAUSE] = value
    world.tick()
    assert world.status.phase is Phase.CANARY


@pytest.mark.parametrize("value", ["true", "TRUE", "yes", "1", "on"])
def test_pause_values_that_mean_yes(value: str) -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    world.annotations[names.ANNOTATION_PAUSE] = value
    world.tick()
    assert world.status.phase is Phase.PAUSED and world.status.pause_reason is PauseReason.MANUAL
    assert "read as true" not in world.status.message


@pytest.mark.parametrize("value", ["please", "paused", "tru"])
def test_a_pause_value_neither_true_nor_false_pauses_and_says_how_it_was_read(value: str) -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    world.annotations[names.ANNOTATION_PAUSE] = value
    decision = world.tick()
    assert world.status.phase is Phase.PAUSED
    assert f"{value!r} read as true" in world.status.message
    paused = [a for a in decision.actions if isinstance(a, actions.EmitEvent) and a.reason == "Paused"]
    assert paused and paused[0].type == "Warning"


def test_pause_requested_reads_only_known_words() -> None:
    assert machine.pause_requested(None) is False
    assert machine.pause_requested(" TRUE ") is True
    assert machine.pause_requested("maybe") is None
