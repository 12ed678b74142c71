"""`reads.plan`: the pure core says what a pass must read; the shell reads exactly that."""

from __future__ import annotations

from modelrollout.api.v1alpha1 import Phase
from modelrollout.rollout import reads
from modelrollout.rollout.revisions import revision_of
from tests.rollout.world import World, healthy, spec_with


def test_a_resting_rollout_reads_nothing_but_its_deployments() -> None:
    world = World(spec_with())
    world.measure = healthy
    world.run_until(Phase.SUCCEEDED)
    assert reads.plan(world.spec, world.status, world.now) == reads.Reads(
        placement=False, job_revision=None, job_attempt=1, analysis=False
    )


def test_a_new_version_reads_the_nodes_and_its_job() -> None:
    world = World(spec_with())
    world.measure = healthy
    world.run_until(Phase.SUCCEEDED)
    world.set_spec(spec_with(model={"version": "8"}))
    plan = reads.plan(world.spec, world.status, world.now)
    assert plan.placement and plan.job_revision == revision_of(world.spec) and not plan.analysis
    world.set_spec(spec_with(model={"version": "9"}, optimization={"enabled": False}))
    assert reads.plan(world.spec, world.status, world.now).job_revision is None


def test_analysis_is_read_when_due_and_only_then() -> None:
    world = World(spec_with())
    world.measure = healthy
    world.run_until(Phase.SUCCEEDED)
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    due = []
    for _ in range(40):
        plan = reads.plan(world.spec, world.status, world.now)
        assert not plan.placement and plan.job_revision is None
        due.append(plan.analysis)
        world.tick(5)
    assert any(due) and not all(due)


def test_a_retry_after_a_failed_optimization_reads_the_new_attempts_job() -> None:
    world = World(spec_with())
    world.measure = healthy
    world.run_until(Phase.SUCCEEDED)
    world.job_fails = True
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.FAILED)
    assert reads.plan(world.spec, world.status, world.now).job_attempt == 1
    world.job_fails = False
    world.annotations["modelrollout.io/retry"] = "1"
    world.tick()
    plan = reads.plan(world.spec, world.status, world.now)
    assert (plan.job_revision, plan.job_attempt) == (world.status.target_revision, 2)
