from __future__ import annotations

from datetime import timedelta

import pytest

from modelrollout import names
from modelrollout.api.v1alpha1 import ConditionType, PauseReason, Phase
from modelrollout.rollout import actions, conditions, machine
from modelrollout.rollout.observations import Placement
from tests.rollout.world import World, healthy, quiet, slow, spec_with, unreachable, unsure


def deployed(version: str = "7") -> World:
    """A world whose first version went through optimize and deploy and is stable."""
    world = World(spec_with(model={"version": version}), measure=healthy)
    world.run_until(Phase.SUCCEEDED)
    return world


def condition(world: World, type_: ConditionType) -> tuple[str, str]:
    found = conditions.find(world.status.conditions, type_)
    assert found is not None, type_
    return found.status, found.reason


def test_first_version_becomes_stable_directly() -> None:
    world = World(spec_with(), measure=healthy)
    first = world.tick()
    assert first.status.phase is Phase.OPTIMIZING
    assert any(isinstance(a, actions.EnsureOptimizationJob) for a in first.actions)
    world.run_until(Phase.SUCCEEDED)
    phases = [d.status.phase for d in world.log]
    assert Phase.CANARY not in phases and Phase.DEPLOYING in phases
    assert world.status.stable is not None and world.status.stable.version == "7"
    assert world.status.stable.uri == "file:///artifacts/7/model.onnx"
    assert world.status.optimization is not None and world.status.optimization.succeeded
    assert world.queried == 0
    world.tick()
    assert condition(world, ConditionType.READY) == (conditions.TRUE, "Serving")
    assert condition(world, ConditionType.PROGRESSING)[0] == conditions.FALSE
    assert condition(world, ConditionType.OPTIMIZED) == (conditions.TRUE, "Optimized")
    assert world.status.observed_generation == world.generation
    assert {"RolloutStarted", "Optimized", "Deployed"} <= set(world.events())


def test_good_canary_walks_every_step_and_is_promoted() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8", "uri": "file:///models/minilm/8/model.onnx"}))
    world.run_until(Phase.CANARY)
    weights = []
    for _ in range(200):
        world.tick()
        weights.append(world.status.canary_weight)
        if world.status.phase is Phase.SUCCEEDED:
            break
    assert world.status.phase is Phase.SUCCEEDED
    assert [w for i, w in enumerate(weights) if i == 0 or w != weights[i - 1]][:3] == [25, 50, 100]
    assert world.status.stable is not None and world.status.stable.version == "8"
    assert world.status.canary is None and world.status.canary_weight == 0
    assert names.ROLE_CANARY not in world.deployments
    assert world.deployments[names.ROLE_STABLE].version == "8"
    assert world.status.history[-1].outcome == "Promoted"
    assert "Promoted" in world.events()
    assert world.queried >= 3


def test_each_step_lasts_at_least_its_pause() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    started = world.now
    while world.status.current_step == 0:
        world.tick()
    assert world.now - started >= timedelta(minutes=1)


def test_replicas_follow_the_weight() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    world.tick()
    assert world.deployments[names.ROLE_CANARY].replicas == 1
    assert world.deployments[names.ROLE_STABLE].replicas == 3


def test_slow_canary_is_rolled_back_after_failure_limit() -> None:
    world = deployed()
    world.measure = slow
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.ROLLED_BACK)
    assert world.status.analysis.failed_checks == 2
    assert world.status.stable is not None and world.status.stable.version == "7"
    assert names.ROLE_CANARY not in world.deployments
    assert world.deployments[names.ROLE_STABLE].replicas == 4
    assert world.actions_of(actions.SetTraffic)[-1].canary_weight == 0
    assert world.actions_of(actions.CountRollback)[-1].reason == "AnalysisFailed"
    assert world.events().count("CheckFailed") == 2 and "RolledBack" in world.events()
    assert condition(world, ConditionType.DEGRADED) == (conditions.TRUE, "RolledBack")
    assert "latency" in world.status.message
    assert all(d.status.phase is not Phase.PROMOTING for d in world.log)


def test_rolled_back_version_is_not_retried_until_asked() -> None:
    world = deployed()
    world.measure = slow
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.ROLLED_BACK)
    world.measure = healthy
    for _ in range(50):  # e.g. Argo CD self-heal re-applying the same spec
        world.tick()
        assert world.status.phase is Phase.ROLLED_BACK
        assert names.ROLE_CANARY not in world.deployments
    world.annotations[names.ANNOTATION_RETRY] = "2026-01-01T10:00"
    world.run_until(Phase.SUCCEEDED)
    assert world.status.stable is not None and world.status.stable.version == "8"
    assert "RetryRequested" in world.events()


def test_a_new_spec_after_rollback_starts_a_new_rollout() -> None:
    world = deployed()
    world.measure = slow
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.ROLLED_BACK)
    world.measure = healthy
    world.set_spec(spec_with(model={"version": "9"}))
    world.run_until(Phase.SUCCEEDED)
    assert world.status.stable is not None and world.status.stable.version == "9"


@pytest.mark.parametrize("provider", [quiet, unreachable], ids=["inconclusive", "error"])
def test_no_verdict_pauses_and_never_promotes(provider: object) -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    started = world.status.step_started_at
    assert started is not None
    world.measure = provider  # type: ignore[assignment]
    world.run_until(Phase.PAUSED)
    assert world.status.pause_reason == PauseReason.ANALYSIS_INCONCLUSIVE
    if provider is unreachable:
        # No answer at all: a streak of errors pauses, whatever the step's time.
        assert world.status.analysis.inconclusive_checks == 3
        assert "Prometheus errors" in world.status.message
    else:
        # Too little evidence: the step waits out its pause and the longest extension first.
        assert world.status.analysis.inconclusive_checks == 0
        assert (world.now - started).total_seconds() >= 60 + 600
        assert "still inconclusive" in world.status.message
    for _ in range(100):
        world.tick()
        assert world.status.phase is Phase.PAUSED and world.status.current_step == 0
    assert condition(world, ConditionType.PROGRESSING) == (conditions.UNKNOWN, "Paused")
    world.measure = healthy
    world.run_until(Phase.SUCCEEDED)
    assert "Resumed" in world.events()


def test_failures_still_roll_back_while_paused() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    world.measure = unreachable
    world.run_until(Phase.PAUSED)
    world.measure = slow
    world.run_until(Phase.ROLLED_BACK)


def test_optimization_failure_stops_the_rollout_and_stable_keeps_serving() -> None:
    world = deployed()
    world.job_fails = True
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.FAILED)
    assert world.status.optimization is not None and world.status.optimization.succeeded is False
    assert "protobuf" in world.status.optimization.reason
    assert condition(world, ConditionType.OPTIMIZED) == (conditions.FALSE, "OptimizationFailed")
    assert condition(world, ConditionType.DEGRADED)[0] == conditions.TRUE
    world.tick()
    assert world.deployments[names.ROLE_STABLE].version == "7"
    assert names.ROLE_CANARY not in world.deployments


def test_manual_pause_and_resume_restart_the_step_pause() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    world.annotations[names.ANNOTATION_PAUSE] = "true"
    world.tick()
    assert world.status.phase is Phase.PAUSED and world.status.pause_reason == PauseReason.MANUAL
    for _ in range(60):
        world.tick()
    assert world.status.phase is Phase.PAUSED and world.status.current_step == 0
    del world.annotations[names.ANNOTATION_PAUSE]
    world.tick()
    assert world.status.phase is Phase.CANARY and world.status.step_started_at is not None
    assert world.now - world.status.step_started_at <= timedelta(seconds=5)
    world.run_until(Phase.SUCCEEDED)


def test_promote_annotation_skips_the_remaining_steps() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    world.annotations[names.ANNOTATION_PROMOTE] = "now"
    world.tick()
    assert world.status.phase is Phase.PROMOTING
    world.run_until(Phase.SUCCEEDED, limit=5)
    assert world.status.stable is not None and world.status.stable.version == "8"


def test_promote_annotation_outside_a_rollout_does_not_leak_into_the_next() -> None:
    world = deployed()
    world.annotations[names.ANNOTATION_PROMOTE] = "early"
    world.tick()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    world.tick()
    assert world.status.phase is Phase.CANARY


def test_abort_rolls_back_and_is_remembered() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    world.annotations[names.ANNOTATION_ABORT] = "bad idea"
    world.tick()
    assert world.status.phase is Phase.ROLLED_BACK
    assert world.status.history[-1].outcome == "Aborted"
    for _ in range(5):
        world.tick()
        assert world.status.phase is Phase.ROLLED_BACK


def test_spec_back_at_stable_cancels_the_canary() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    world.set_spec(spec_with(model={"version": "7"}))
    world.tick()
    world.tick()
    assert world.status.phase is Phase.SUCCEEDED and world.status.canary is None
    assert names.ROLE_CANARY not in world.deployments
    assert "CanaryCancelled" in world.events()


def test_a_newer_version_supersedes_a_running_canary() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    world.set_spec(spec_with(model={"version": "9"}))
    decision = world.tick()
    assert decision.status.phase is Phase.OPTIMIZING and decision.status.canary_weight == 0
    assert "CanarySuperseded" in world.events()
    world.run_until(Phase.SUCCEEDED)
    assert world.status.stable is not None and world.status.stable.version == "9"


def test_no_node_for_the_pool_waits_with_a_reason() -> None:
    world = World(spec_with(serving={"accelerator": "npu"}), placement=Placement(False, "no node has intel.com/npu"))
    for _ in range(10):
        world.tick()
    assert world.status.phase is Phase.OPTIMIZING
    assert condition(world, ConditionType.SCHEDULABLE) == (conditions.FALSE, "NoNodeForPool")
    assert "intel.com/npu" in world.status.message
    assert world.events().count("NoNodeForPool") == 1
    world.placement = Placement()
    world.run_until(Phase.SUCCEEDED)
    assert condition(world, ConditionType.SCHEDULABLE)[0] == conditions.TRUE


def test_without_analysis_steps_only_wait_their_pause() -> None:
    world = World(spec_with())
    world.spec = world.spec.model_copy(update={"rollout": world.spec.rollout.model_copy(update={"analysis": None})})
    world.run_until(Phase.SUCCEEDED)
    spec8 = spec_with(model={"version": "8"})
    world.set_spec(spec8.model_copy(update={"rollout": spec8.rollout.model_copy(update={"analysis": None})}))
    world.run_until(Phase.SUCCEEDED)
    assert world.queried == 0
    assert world.status.stable is not None and world.status.stable.version == "8"


def test_optimization_disabled_serves_the_source_model() -> None:
    world = World(spec_with(optimization={"enabled": False}))
    world.run_until(Phase.SUCCEEDED)
    assert not world.actions_of(actions.EnsureOptimizationJob)
    assert world.status.stable is not None and world.status.stable.uri == world.spec.model.uri


def test_progress_deadline_is_reported() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}, rollout={"progressDeadline": "2m"}))
    world.run_until(Phase.CANARY)
    world.measure = quiet
    world.run_until(Phase.PAUSED)
    world.annotations[names.ANNOTATION_PAUSE] = "false"
    world.measure = healthy
    for _ in range(30):
        world.tick()
        if world.status.phase is Phase.CANARY and world.status.current_step == 1:
            break
    assert condition(world, ConditionType.PROGRESSING) == (conditions.FALSE, "ProgressDeadlineExceeded")


def test_decide_is_pure_and_idempotent() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    obs = world.observations()
    first = machine.decide(world.spec, world.status, obs)
    second = machine.decide(world.spec, world.status, obs)
    assert first == second
    again = machine.decide(world.spec, first.status, obs)
    assert again.status == first.status


def test_status_never_touches_spec_fields() -> None:
    world = deployed()
    dumped = world.status.model_dump(by_alias=True)
    assert "spec" not in dumped and "model" not in dumped


def test_analysis_due_waits_one_interval_after_the_step_starts() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    start = world.status.step_started_at
    assert start is not None
    assert not machine.analysis_due(world.spec, world.status, start + timedelta(seconds=29))
    assert machine.analysis_due(world.spec, world.status, start + timedelta(seconds=30))


def test_pods_the_scheduler_cannot_place_are_named_in_the_message() -> None:
    world = World(spec_with())
    world.run_until(Phase.DEPLOYING)
    world.tick()
    stuck = world.deployments[names.ROLE_STABLE]
    world.deployments[names.ROLE_STABLE] = stuck.__class__(
        stuck.version, stuck.revision, stuck.replicas, 1, pending_reason="0/6 nodes are available: 1 Insufficient npu"
    )
    decision = machine.decide(world.spec, world.status, world.observations())
    assert decision.status.phase is Phase.DEPLOYING
    assert decision.status.message == "deploying version 7: 1/4 ready (0/6 nodes are available: 1 Insufficient npu)"


def test_an_inconclusive_step_is_extended_then_paused_and_never_promoted() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    world.measure = unsure
    started = world.status.step_started_at
    assert started is not None
    for _ in range(int((60 + 600) / 5) - 2):
        world.tick()
        # Enough events for the floor on an intermediate step: it moves on; never promoted.
        assert world.status.phase is Phase.CANARY
    assert world.status.current_step == 1, "step 1 of 3 should move on without a clear failure"
    world.run_until(Phase.PAUSED, limit=400)
    assert world.status.current_step == 1, "the promotion gate needs a pass"
    assert world.status.pause_reason == PauseReason.ANALYSIS_INCONCLUSIVE
    assert all(d.status.phase is not Phase.PROMOTING for d in world.log)
    world.measure = healthy
    world.run_until(Phase.SUCCEEDED)
    assert "Resumed" in world.events()


def test_looks_are_counted_per_step_and_spent_in_order() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.measure = healthy
    world.run_until(Phase.CANARY)
    seen: list[tuple[int, int]] = []
    for _ in range(60):
        world.tick()
        assert world.status.current_step is not None or world.status.phase is not Phase.CANARY
        if world.log[-1].verdicts:
            seen.append((world.log[-1].status.current_step or 0, world.status.analysis.step_looks))
        if world.status.phase is not Phase.CANARY:
            break
    steps_seen = [s for s, _ in seen]
    assert steps_seen == sorted(steps_seen)
    first = [looks for step, looks in seen if step == 0]
    assert first and first[0] == 1 and first == list(range(1, len(first) + 1))


def test_resume_lifts_an_inconclusive_pause_and_the_step_starts_afresh() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    world.measure = unreachable
    world.run_until(Phase.PAUSED)
    world.measure = unsure
    world.annotations[names.ANNOTATION_RESUME] = "2026-01-01T10:00"
    world.tick()
    assert world.status.phase is Phase.CANARY and world.status.pause_reason == ""
    assert world.status.step_started_at == world.now - timedelta(seconds=5)
    assert world.status.analysis.step_looks == 0
    assert "Resumed" in world.events()
    # The same stamp again is not a second request.
    world.measure = unreachable
    world.run_until(Phase.PAUSED)
    for _ in range(5):
        world.tick()
        assert world.status.phase is Phase.PAUSED
