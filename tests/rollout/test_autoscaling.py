"""Whose the replicas are: the operator's (serving.replicas), or an HPA's on the stable Deployment."""

from __future__ import annotations

import pytest

from modelrollout import names
from modelrollout.api.v1alpha1 import ConditionType, Phase, Router
from modelrollout.rollout import actions, conditions, steps
from tests.rollout.world import World, healthy, spec_with


def ensured(world: World, role: str) -> list[int | None]:
    return [a.replicas for a in world.actions_of(actions.EnsureDeployment) if a.role == role]


def changes(counts: list[int | None]) -> list[int | None]:
    """The counts as they changed, each run of one count once."""
    return [c for i, c in enumerate(counts) if i == 0 or c != counts[i - 1]]


def autoscaled(hpa_replicas: int = 6, **spec: object) -> World:
    world = World(spec_with(**spec), measure=healthy, autoscalers={names.ROLE_STABLE: "web"}, hpa_replicas=hpa_replicas)
    world.run_until(Phase.SUCCEEDED)
    return world


def test_an_hpa_on_the_stable_owns_its_replicas_through_a_whole_rollout() -> None:
    world = autoscaled()
    assert world.deployments[names.ROLE_STABLE].replicas == 6
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    world.run_until(Phase.SUCCEEDED, limit=400)
    assert world.deployments[names.ROLE_STABLE].version == "8"
    stable = ensured(world, names.ROLE_STABLE)
    assert stable and set(stable) == {None}, "the operator wrote the stable's replicas over its HPA's"
    # The replicas router: c of 6 + c endpoints carry the weight, never more than the stable.
    assert changes(ensured(world, names.ROLE_CANARY)) == [2, 6]
    found = conditions.find(world.status.conditions, ConditionType.AUTOSCALED)
    assert found is not None and (found.status, found.reason) == (conditions.TRUE, "HorizontalPodAutoscaler")
    assert "web" in found.message
    assert world.events().count("AutoscalerFound") == 1, "one Event per change, not one per pass"


def test_with_gateway_api_the_canary_has_capacity_for_its_share_of_the_hpas_count() -> None:
    gateway = {"router": "gateway-api", "gateway": {"parentRefs": [{"name": "gw"}]}}
    world = autoscaled(hpa_replicas=8, rollout={"traffic": gateway})
    world.set_spec(spec_with(model={"version": "8"}, rollout={"traffic": gateway}))
    world.run_until(Phase.SUCCEEDED, limit=400)
    assert changes(ensured(world, names.ROLE_CANARY)) == [2, 4, 8]
    assert set(ensured(world, names.ROLE_STABLE)) == {None}


def test_the_declared_replicas_come_back_when_the_hpa_goes() -> None:
    world = autoscaled()
    world.autoscalers.clear()
    world.log.clear()
    world.tick()
    world.tick()
    assert ensured(world, names.ROLE_STABLE)[-1] == 4
    assert world.deployments[names.ROLE_STABLE].replicas == 4
    found = conditions.find(world.status.conditions, ConditionType.AUTOSCALED)
    assert found is not None and (found.status, found.reason) == (conditions.FALSE, "NoAutoscaler")
    assert world.events().count("AutoscalerGone") == 1


def test_without_an_hpa_the_replicas_are_declared_and_no_condition_is_shown() -> None:
    world = World(spec_with(), measure=healthy)
    world.run_until(Phase.SUCCEEDED)
    world.tick()
    assert set(ensured(world, names.ROLE_STABLE)) == {4}
    assert conditions.find(world.status.conditions, ConditionType.AUTOSCALED) is None


def test_an_hpa_on_the_canary_is_overruled_and_said_so() -> None:
    world = World(spec_with(), measure=healthy)
    world.run_until(Phase.SUCCEEDED)
    world.autoscalers[names.ROLE_CANARY] = "canary-hpa"
    world.set_spec(spec_with(model={"version": "8"}))
    world.run_until(Phase.CANARY)
    world.tick()
    assert all(isinstance(c, int) for c in ensured(world, names.ROLE_CANARY))
    assert ensured(world, names.ROLE_CANARY)[-1] == 1  # 25% of 4, the rollout's count
    found = conditions.find(world.status.conditions, ConditionType.AUTOSCALED)
    assert found is not None and found.status == conditions.FALSE and "canary-hpa" in found.message
    assert world.events().count("AutoscalerOverruled") == 1


@pytest.mark.parametrize(
    ("stable", "weight", "router", "canary"),
    [
        (6, 0, Router.REPLICAS, 0),
        (6, 25, Router.REPLICAS, 2),  # 2 of 8 endpoints
        (6, 50, Router.REPLICAS, 6),
        (6, 90, Router.REPLICAS, 6),  # bounded by the stable, which cannot be drained
        (6, 100, Router.REPLICAS, 6),
        (1, 10, Router.REPLICAS, 1),
        (8, 10, Router.GATEWAY_API, 1),
        (8, 50, Router.GATEWAY_API, 4),
        (8, 100, Router.GATEWAY_API, 8),
        (0, 10, Router.GATEWAY_API, 1),  # a stable not scaled yet still gets a canary
    ],
)
def test_canary_beside_an_autoscaled_stable(stable: int, weight: int, router: Router, canary: int) -> None:
    assert steps.canary_beside(stable, weight, router) == canary
