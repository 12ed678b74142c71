"""analysis.compareWith: baseline: a Deployment of the stable version beside the canary, judged against.

The baseline starts with the canary (so both are equally fresh), has its replica count
and its share of traffic, is what the queries read instead of stable, and is gone
whenever the canary is.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modelrollout import names
from modelrollout.api import v1alpha1
from modelrollout.api.v1alpha1 import CompareWith, Phase, Router
from modelrollout.metrics import queries
from modelrollout.rollout import actions, steps, verdicts
from tests.rollout.world import World, latencies, spec_with

GATEWAY = {"router": "gateway-api", "gateway": {"parentRefs": [{"name": "edge"}]}}


def baseline_spec(version: str, **rollout: object) -> v1alpha1.ModelDeploymentSpec:
    return spec_with(
        model={"version": version},
        rollout={
            "analysis": {
                "compareWith": "baseline",
                "slos": {"latency": {"maxMs": 50, "maxRatioToStable": 1.2}, "errorRate": {"max": 0.01}},
            },
            **rollout,
        },
    )


def compared(version: str) -> list[verdicts.Evidence]:
    """Canary and the side it is compared with alike: every check passes."""
    return [
        verdicts.Evidence("latency", latency=latencies(5000, 20.0), stable_latency=latencies(5000, 20.0)),
        verdicts.Evidence("errorRate", counts=verdicts.Counts(0, 5000), stable_counts=verdicts.Counts(0, 5000)),
    ]


def slower(version: str) -> list[verdicts.Evidence]:
    """Within the absolute bound, but far slower than what it is compared with."""
    return [
        verdicts.Evidence("latency", latency=latencies(5000, 40.0), stable_latency=latencies(5000, 10.0)),
        verdicts.Evidence("errorRate", counts=verdicts.Counts(0, 5000), stable_counts=verdicts.Counts(0, 5000)),
    ]


def deployed(**rollout: object) -> World:
    world = World(baseline_spec("7", **rollout), measure=compared)
    world.run_until(Phase.SUCCEEDED)
    return world


def baseline_actions(world: World) -> list[actions.EnsureDeployment]:
    return [a for a in world.actions_of(actions.EnsureDeployment) if a.role == names.ROLE_BASELINE]


def test_the_first_version_runs_no_baseline() -> None:
    world = deployed()
    assert baseline_actions(world) == []
    assert names.ROLE_BASELINE not in world.deployments


def test_the_baseline_starts_with_the_canary_at_its_size_running_stable() -> None:
    world = deployed()
    world.set_spec(baseline_spec("8"))
    world.run_until(Phase.DEPLOYING)
    first = world.tick()  # the canary and the baseline are asked for in the same pass
    ensured = {a.role: a for a in first.actions if isinstance(a, actions.EnsureDeployment)}
    assert ensured[names.ROLE_BASELINE].ref == world.status.stable
    assert ensured[names.ROLE_BASELINE].replicas == ensured[names.ROLE_CANARY].replicas == 1
    world.run_until(Phase.CANARY)
    assert world.deployments[names.ROLE_BASELINE].version == "7"
    # 25% of 4 replicas behind one Service: canary 1, baseline 1 (out of stable's), stable 2.
    sizes = {role: world.deployments[role].replicas for role in names.ROLES}
    assert sizes == {names.ROLE_STABLE: 2, names.ROLE_BASELINE: 1, names.ROLE_CANARY: 1}
    assert world.log[-1].actions.count(actions.SetTraffic(25, 25)) == 1


def test_the_queries_read_the_baseline_and_status_says_so() -> None:
    world = deployed()
    world.set_spec(baseline_spec("8"))
    world.run_until(Phase.CANARY)
    world.run_until(Phase.PROMOTING)
    sides = {weight: side for weight, side in world.compared if weight < 100}
    assert set(sides) == {25, 50}, "both compared steps were looked at"
    assert set(sides.values()) == {queries.Side(names.ROLE_BASELINE, "7")}
    latency = next(m for m in world.status.analysis.measurements if m.check == "latency" and m.step == 1)
    assert "vs baseline" in latency.message and latency.stable_value is not None


def test_at_all_traffic_nothing_is_compared_and_the_baseline_goes() -> None:
    world = deployed()
    world.set_spec(baseline_spec("8", steps=[{"weight": 25, "pause": "1m"}, {"weight": 100, "pause": "2m"}]))
    world.run_until(Phase.CANARY)
    while world.status.canary_weight < 100:
        world.tick()
    world.tick()
    assert names.ROLE_BASELINE not in world.deployments
    assert world.status.analysis.compared_with is CompareWith.BASELINE  # the last look was at 25%
    world.run_until(Phase.PROMOTING)
    assert world.compared[-1] == (100, None)
    assert world.status.analysis.compared_with is None


def test_a_canary_slower_than_the_baseline_is_rolled_back_naming_it() -> None:
    world = deployed()
    world.measure = slower
    world.set_spec(baseline_spec("8"))
    world.run_until(Phase.ROLLED_BACK)
    assert "vs baseline" in world.status.message
    assert names.ROLE_BASELINE not in world.deployments


def _promote(world: World) -> None:
    world.run_until(Phase.SUCCEEDED)


def _roll_back(world: World) -> None:
    world.measure = slower
    world.run_until(Phase.ROLLED_BACK)


def _abort(world: World) -> None:
    world.annotations[names.ANNOTATION_ABORT] = "now"
    world.run_until(Phase.ROLLED_BACK)


def _promote_by_hand(world: World) -> None:
    world.annotations[names.ANNOTATION_PROMOTE] = "now"
    world.run_until(Phase.SUCCEEDED)


def _supersede(world: World) -> None:
    world.set_spec(baseline_spec("9", analysis={"compareWith": "stable"}))
    world.run_until(Phase.OPTIMIZING)
    world.tick()


def _cancel(world: World) -> None:
    world.set_spec(baseline_spec("7"))
    world.run_until(Phase.SUCCEEDED)
    world.tick()


def _switch_to_stable(world: World) -> None:
    spec = baseline_spec("8")
    assert spec.rollout.analysis is not None
    analysis = spec.rollout.analysis.model_copy(update={"compare_with": CompareWith.STABLE})
    world.set_spec(spec.model_copy(update={"rollout": spec.rollout.model_copy(update={"analysis": analysis})}))
    world.tick()


@pytest.mark.parametrize(
    "end", [_promote, _roll_back, _abort, _promote_by_hand, _supersede, _cancel, _switch_to_stable]
)
def test_the_baseline_is_removed_on_every_way_out(end: Callable[[World], None]) -> None:
    world = deployed()
    world.set_spec(baseline_spec("8"))
    world.run_until(Phase.CANARY)
    world.tick()
    assert names.ROLE_BASELINE in world.deployments
    end(world)
    assert names.ROLE_BASELINE not in world.deployments, end.__name__
    assert actions.RemoveDeployment(names.ROLE_BASELINE) in world.actions_of(actions.RemoveDeployment)
    for _ in range(3):
        world.tick()
        assert names.ROLE_BASELINE not in world.deployments, "recreated after the rollout ended"
    assert all(a.baseline_weight == 0 for a in world.log[-1].actions if isinstance(a, actions.SetTraffic))


def test_promoted_by_hand_the_baseline_serves_until_stable_has_rolled_out() -> None:
    world = deployed()
    world.set_spec(baseline_spec("8"))
    world.run_until(Phase.CANARY)
    world.tick()
    world.rollout_ticks = 4
    world.annotations[names.ANNOTATION_PROMOTE] = "now"
    world.run_until(Phase.PROMOTING)
    while world.status.phase is Phase.PROMOTING:
        assert names.ROLE_BASELINE in world.deployments, "capacity of the old version dropped before stable rolled out"
        world.tick()
    assert world.status.phase is Phase.SUCCEEDED
    assert names.ROLE_BASELINE not in world.deployments


def test_the_first_step_waits_for_the_baseline_to_be_ready() -> None:
    world = deployed(progressDeadline="3m")
    world.broken = {"7"}  # stable's pods keep running; a new pod of version 7 never turns ready
    world.set_spec(baseline_spec("8", progressDeadline="3m"))
    world.run_until(Phase.DEPLOYING)
    for _ in range(6):
        world.tick()
    assert world.status.phase is Phase.DEPLOYING
    assert "baseline 0/1 ready" in world.status.message
    world.run_until(Phase.ROLLED_BACK)
    assert names.ROLE_BASELINE not in world.deployments


def test_with_gateway_api_the_route_gives_the_baseline_the_canarys_weight() -> None:
    world = deployed(traffic=GATEWAY)
    world.set_spec(baseline_spec("8", traffic=GATEWAY))
    world.run_until(Phase.CANARY)
    world.tick()
    sizes = {role: world.deployments[role].replicas for role in names.ROLES}
    assert sizes == {names.ROLE_STABLE: 4, names.ROLE_BASELINE: 1, names.ROLE_CANARY: 1}
    assert actions.SetTraffic(25, 25) in world.log[-1].actions


@pytest.mark.parametrize(
    ("total", "weight", "router", "expected"),
    [
        (4, 25, Router.REPLICAS, (2, 1, 1)),
        (4, 50, Router.REPLICAS, (1, 2, 2)),  # stable keeps one: the canary gets 2 of 5 pods
        (10, 10, Router.REPLICAS, (8, 1, 1)),
        (1, 10, Router.REPLICAS, (1, 1, 1)),
        (4, 0, Router.REPLICAS, (4, 0, 0)),
        (4, 100, Router.REPLICAS, (0, 0, 4)),
        (4, 25, Router.GATEWAY_API, (4, 1, 1)),
        (4, 50, Router.GATEWAY_API, (4, 2, 2)),
    ],
)
def test_baseline_split(total: int, weight: int, router: Router, expected: tuple[int, int, int]) -> None:
    assert steps.baseline_split(total, weight, router) == expected


def test_a_spec_with_a_baseline_and_steps_up_to_half_is_valid() -> None:
    spec = baseline_spec("8", steps=[{"weight": 10}, {"weight": 50}, {"weight": 100}])
    assert spec.rollout.analysis is not None and spec.rollout.analysis.compare_with is CompareWith.BASELINE
    assert spec_with().rollout.analysis is not None
    assert spec_with().rollout.analysis.compare_with is CompareWith.STABLE  # type: ignore[union-attr]
