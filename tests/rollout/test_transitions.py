"""Transitions the happy paths do not reach: retries, supersedes, lagging and lost children, caps."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import get_type_hints

import pytest

from modelrollout import names
from modelrollout.api import v1alpha1
from modelrollout.api.v1alpha1 import MAX_HISTORY, MAX_MEASUREMENTS, ConditionType, Outcome, Phase
from modelrollout.rollout import actions, conditions, machine, verdicts
from modelrollout.rollout.observations import DeploymentState
from modelrollout.rollout.revisions import revision_of
from tests.rollout.world import World, healthy, quiet, slow, spec_with


def deployed(version: str = "7") -> World:
    world = World(spec_with(model={"version": version}), measure=healthy)
    world.run_until(Phase.SUCCEEDED)
    return world


def test_retry_after_a_failed_optimization_runs_a_new_job() -> None:
    world = deployed()
    world.job_fails = True
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.FAILED)
    failed = dict(world.jobs)
    world.job_fails = False  # e.g. the artifact store is back
    world.annotations[names.ANNOTATION_RETRY] = "1"
    world.run_until(Phase.SUCCEEDED)
    assert world.status.stable is not None and world.status.stable.version == "8"
    assert set(failed) < set(world.jobs), "the retry must run a Job of its own"
    created = world.actions_of(actions.EnsureOptimizationJob)
    assert [a.attempt for a in created if a.version == "8"][-1] == 2
    assert world.status.optimization is not None and world.status.optimization.attempt == 2


def test_retry_after_a_rollback_reuses_the_succeeded_job() -> None:
    world = deployed()
    world.measure = slow
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.ROLLED_BACK)
    jobs = dict(world.jobs)
    world.measure = healthy
    world.annotations[names.ANNOTATION_RETRY] = "1"
    world.run_until(Phase.SUCCEEDED)
    assert world.jobs.keys() == jobs.keys()


def test_a_superseded_canary_stops_serving_while_the_new_version_optimizes() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    world.tick()
    assert world.deployments[names.ROLE_CANARY].version == "8"
    world.set_spec(spec_with(model={"version": "9"}))
    decision = world.tick()
    assert decision.status.phase is Phase.OPTIMIZING
    assert actions.RemoveDeployment(names.ROLE_CANARY) in decision.actions
    assert actions.SetTraffic(0) in decision.actions
    assert names.ROLE_CANARY not in world.deployments
    assert world.deployments[names.ROLE_STABLE].replicas == 4
    entry = world.status.history[-1]
    assert (entry.version, entry.outcome) == ("8", Outcome.SUPERSEDED)
    world.run_until(Phase.SUCCEEDED)
    assert world.status.stable is not None and world.status.stable.version == "9"


@pytest.mark.parametrize("where", ["paused", "promoting"])
def test_a_newer_version_supersedes_a_paused_or_promoting_canary(where: str) -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    if where == "paused":
        world.measure = quiet
        world.run_until(Phase.PAUSED)
        world.measure = healthy
    else:
        world.rollout_ticks = 1000
        world.run_until(Phase.PROMOTING)
        world.tick()
        world.rollout_ticks = 1
    world.set_spec(spec_with(model={"version": "9"}))
    world.tick()
    assert world.status.phase is Phase.OPTIMIZING
    assert world.status.history[-1].outcome is Outcome.SUPERSEDED and world.status.history[-1].version == "8"
    world.tick()
    assert world.deployments[names.ROLE_STABLE].version == "7"  # a half-promoted stable goes back
    world.run_until(Phase.SUCCEEDED)
    assert world.status.stable is not None and world.status.stable.version == "9"
    assert [h.outcome for h in world.status.history][-2:] == [Outcome.SUPERSEDED, Outcome.PROMOTED]


def test_spec_back_at_stable_records_the_cancelled_version() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    world.set_spec(spec_with(model={"version": "7"}))
    world.tick()
    assert world.status.history[-1].outcome is Outcome.CANCELLED and world.status.history[-1].version == "8"


def test_a_canary_that_never_becomes_ready_is_rolled_back_at_the_deadline() -> None:
    world = deployed()
    world.broken = {"8"}
    world.set_spec(spec_with(model={"version": "8"}, rollout={"progressDeadline": "3m"}))
    world.run_until(Phase.DEPLOYING)
    started = world.now
    world.run_until(Phase.ROLLED_BACK)
    assert world.now - started >= timedelta(minutes=3)
    assert world.actions_of(actions.CountRollback)[-1].reason == "ProgressDeadlineExceeded"
    assert "not ready" in world.status.message
    assert names.ROLE_CANARY not in world.deployments
    assert world.deployments[names.ROLE_STABLE].version == "7"
    assert all(d.status.phase is not Phase.PROMOTING for d in world.log)


def test_a_canary_that_stops_being_ready_mid_rollout_is_rolled_back_at_the_deadline() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}, rollout={"progressDeadline": "4m"}))
    world.run_until(Phase.CANARY)
    world.broken = {"8"}
    world.deployments.pop(names.ROLE_CANARY)  # its pods crash: recreated, never ready again
    world.measure = quiet
    world.run_until(Phase.ROLLED_BACK)
    assert world.actions_of(actions.CountRollback)[-1].reason == "ProgressDeadlineExceeded"


def test_a_slow_but_healthy_rollout_past_the_deadline_is_reported_not_rolled_back() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}, rollout={"progressDeadline": "30s"}))
    world.run_until(Phase.SUCCEEDED)
    assert world.status.history[-1].outcome is Outcome.PROMOTED
    assert any(
        (c := conditions.find(d.status.conditions, ConditionType.PROGRESSING)) is not None
        and c.reason == "ProgressDeadlineExceeded"
        for d in world.log
    )


def test_a_canary_deployment_deleted_mid_canary_is_recreated() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    world.tick()
    world.deployments.pop(names.ROLE_CANARY)
    decision = world.tick()
    assert any(isinstance(a, actions.EnsureDeployment) and a.role == names.ROLE_CANARY for a in decision.actions)
    assert names.ROLE_CANARY in world.deployments
    world.run_until(Phase.SUCCEEDED)


def test_a_lagging_stable_rollout_is_waited_for_before_promotion_completes() -> None:
    world = deployed()
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    world.rollout_ticks = 6
    world.run_until(Phase.PROMOTING)
    seen = 0
    while world.status.phase is Phase.PROMOTING:
        stable = world.deployments[names.ROLE_STABLE]
        rolled_out = stable.updated and stable.ready >= 4 and stable.version == "8"
        world.tick()
        seen += 1
        # Done exactly when stable had rolled out; until then the canary keeps serving.
        assert (world.status.phase is Phase.SUCCEEDED) is rolled_out
        if not rolled_out:
            assert names.ROLE_CANARY in world.deployments
    assert seen >= 5
    assert world.status.phase is Phase.SUCCEEDED


def test_history_and_measurements_stay_bounded() -> None:
    world = deployed("1")
    for version in range(2, 2 + MAX_HISTORY + 5):
        world.set_spec(spec_with(model={"version": str(version)}))
        world.run_until(Phase.SUCCEEDED)
    assert len(world.status.history) == MAX_HISTORY
    assert world.status.history[-1].version == str(1 + MAX_HISTORY + 5)
    assert len(world.status.analysis.measurements) <= MAX_MEASUREMENTS
    world.set_spec(spec_with(model={"version": "99"}))
    world.run_until(Phase.CANARY)
    world.measure = quiet
    for _ in range(200):
        world.tick()
    assert len(world.status.analysis.measurements) == MAX_MEASUREMENTS


def _scenarios() -> list[World]:
    good = deployed()
    good.set_spec(spec_with(model={"version": "8"}))
    bad = deployed()
    bad.measure = slow
    bad.set_spec(spec_with(model={"version": "8"}))
    failing = deployed()
    failing.job_fails = True
    failing.set_spec(spec_with(model={"version": "8"}))
    lagging = World(spec_with(), measure=healthy, rollout_ticks=4)
    return [good, bad, failing, lagging]


def test_decide_is_pure_at_every_state_of_whole_rollouts() -> None:
    for world in _scenarios():
        for _ in range(120):
            obs = world.observations()
            first = machine.decide(world.spec, world.status, obs)
            assert machine.decide(world.spec, world.status, obs) == first
            moved = (first.status.phase, first.status.current_step) != (world.status.phase, world.status.current_step)
            if not moved:
                # Nothing moved: a second pass over its own result (verdicts are only read
                # when analysis is due, as the shell does) changes nothing more.
                due = machine.analysis_due(world.spec, first.status, world.now)
                again = machine.decide(world.spec, first.status, replace(obs, verdicts=obs.verdicts if due else None))
                assert again.status == first.status, world.status.phase
            world.log.append(first)
            world.status = first.status
            world.apply(first.actions)
            world.now += timedelta(seconds=5)


def test_status_changes_name_every_status_field() -> None:
    assert set(get_type_hints(v1alpha1.StatusChanges)) == set(v1alpha1.ModelDeploymentStatus.model_fields)


def test_an_overlong_message_is_cut_to_the_schema_bound() -> None:
    world = deployed()
    world.measure = lambda version: [  # a provider error as long as a Prometheus page
        verdicts.Evidence("latency", error="x" * 10_000),
        verdicts.Evidence("errorRate", error="y" * 10_000),
    ]
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.PAUSED)
    assert len(world.status.message) == machine.MAX_MESSAGE


def test_a_new_uri_under_the_same_version_is_promoted_only_once_stable_serves_its_revision() -> None:
    """`model.version` stays "7": only the revision tells the old stable pods from the new ones."""
    world = deployed("7")
    old = world.deployments[names.ROLE_STABLE].revision
    world.set_spec(spec_with(model={"version": "7", "uri": "file:///models/minilm/7b/model.onnx"}))
    new = revision_of(world.spec)
    assert new != old
    world.run_until(Phase.CANARY)
    world.rollout_ticks = 1000  # the Deployment controller has not taken the new template up yet
    world.run_until(Phase.PROMOTING)
    for _ in range(5):
        # Every replica ready and updated, of version "7", but of the old revision.
        world.deployments[names.ROLE_STABLE] = DeploymentState("7", old, 4, 4, updated=True)
        decision = world.tick()
        assert decision.status.phase is Phase.PROMOTING, decision.status.message
        assert "stable 0/4 ready" in decision.status.message
        assert actions.RemoveDeployment(names.ROLE_CANARY) not in decision.actions
        assert decision.status.stable is not None and decision.status.stable.revision == old
    assert "Promoted" not in world.events()
    world.rollout_ticks = 1
    world.run_until(Phase.SUCCEEDED)
    assert world.deployments[names.ROLE_STABLE].revision == new
    assert world.status.stable is not None and world.status.stable.revision == new
    assert (world.status.history[-1].outcome, world.status.history[-1].revision) == (Outcome.PROMOTED, new)


def test_missing_prometheus_credentials_hold_the_canary_and_say_which_secret() -> None:
    world = deployed()
    message = "Prometheus https://prom:9090 credentials: Secret ml/prom-auth key 'password': no such key"
    world.unavailable = ("PrometheusCredentialsMissing", message)
    before = len(world.log)
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.PAUSED)
    assert not any(d.status.phase in {Phase.PROMOTING, Phase.SUCCEEDED} for d in world.log[before:])
    healthy_condition = conditions.find(world.status.conditions, ConditionType.ANALYSIS_HEALTHY)
    assert healthy_condition is not None
    assert (healthy_condition.status, healthy_condition.reason) == (conditions.FALSE, "PrometheusCredentialsMissing")
    assert healthy_condition.message == message, "one line, not once per check"
    assert world.status.pause_reason is v1alpha1.PauseReason.ANALYSIS_INCONCLUSIVE
    assert world.status.stable is not None and world.status.stable.version == "7"

    world.unavailable = None  # the Secret is fixed: the next checks pass and the rollout goes on
    world.run_until(Phase.SUCCEEDED)
    assert world.status.stable is not None and world.status.stable.version == "8"
    healthy_condition = conditions.find(world.status.conditions, ConditionType.ANALYSIS_HEALTHY)
    assert healthy_condition is not None and healthy_condition.status == conditions.TRUE


def test_refused_credentials_make_analysis_unhealthy_with_the_reason_a_timeout_does_not() -> None:
    world = deployed()
    refused = "Prometheus https://prom:9090: 401 Unauthorized"
    world.measure = lambda version: [
        verdicts.Evidence(name, error=refused, reason="PrometheusUnauthorized") for name in ("latency", "errorRate")
    ]
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.PAUSED)
    found = conditions.find(world.status.conditions, ConditionType.ANALYSIS_HEALTHY)
    assert found is not None and (found.status, found.reason) == (conditions.FALSE, "PrometheusUnauthorized")
    assert found.message == f"latency: {refused}; errorRate: {refused}"

    world.measure = lambda version: [
        verdicts.Evidence("latency", error="Prometheus https://prom:9090: no answer within 10s"),
        verdicts.Evidence("errorRate", error=refused, reason="PrometheusUnauthorized"),
    ]
    checked = world.status.analysis.last_check
    while world.status.analysis.last_check == checked:
        world.tick(30)
    found = conditions.find(world.status.conditions, ConditionType.ANALYSIS_HEALTHY)
    assert found is not None and (found.status, found.reason) == (conditions.UNKNOWN, "CheckError")
