"""Profiles and the pure choices made with them: which profile, and can any node host it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from modelrollout.api.v1alpha1 import Accelerator, Serving
from modelrollout.rollout.observations import Placement


class Toleration(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    operator: str = "Exists"
    value: str | None = None
    effect: str | None = None

    def tolerates(self, taint: Mapping[str, Any]) -> bool:
        if self.key != taint.get("key"):
            return False
        if self.effect is not None and self.effect != taint.get("effect"):
            return False
        return self.operator == "Exists" or self.value == taint.get("value")


class Price(BaseModel):
    """What the pool's nodes cost, in one currency (the report carries the figures as given)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    node_hour: float | None = Field(default=None, ge=0, alias="nodeHour", description="Price of one node for an hour.")
    accelerator_hour: float | None = Field(
        default=None, ge=0, alias="acceleratorHour", description="Price of one accelerator for an hour."
    )
    node_cpus: float | None = Field(
        default=None, gt=0, alias="nodeCPUs", description="CPU cores of a node, to prorate a replica's share."
    )
    accelerators_per_node: int = Field(default=1, ge=1, alias="acceleratorsPerNode")
    currency: str = Field(default="USD", max_length=8)


class Profile(BaseModel):
    """One node pool: how to land on it and what to run there."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = ""
    accelerator: Accelerator
    node_selector: dict[str, str] = Field(default_factory=dict, alias="nodeSelector")
    tolerations: list[Toleration] = Field(default_factory=list)
    resource: str | None = Field(default=None, description="Extended resource requested per pod (one unit).")
    devices: dict[str, str] = Field(default_factory=lambda: {"onnxruntime": "CPU", "openvino": "CPU"})
    price: Price | None = Field(default=None, description="What the pool costs; gives cost per million inferences.")
    image: str | None = Field(
        default=None, description="Image with this accelerator's runtime libraries (Job and servers on the pool)."
    )

    def device_for(self, runtime: str) -> str:
        return self.devices.get(runtime, "CPU")


def defaults() -> dict[str, Profile]:
    raw = yaml.safe_load(resources.files("modelrollout.pools").joinpath("defaults.yaml").read_text())
    return parse(raw)


def parse(raw: Mapping[str, Any]) -> dict[str, Profile]:
    return {name: Profile.model_validate({**body, "name": name}) for name, body in raw.items()}


def merged(overrides: Mapping[str, Any] | None, prices: Mapping[str, Price] | None = None) -> dict[str, Profile]:
    """The shipped defaults with the cluster's overrides laid over them, profile by profile.

    `prices` replaces only the price of the profiles it names, so a cluster states its
    own prices without restating how to land on the pool.
    """
    profiles = defaults()
    profiles.update(parse(overrides or {}))
    for name, price in (prices or {}).items():
        if name not in profiles:
            raise UnknownPool(f"prices: no node pool profile {name!r} (known: {', '.join(sorted(profiles))})")
        profiles[name] = profiles[name].model_copy(update={"price": price})
    return profiles


class UnknownPool(ValueError):
    pass


def select(profiles: Mapping[str, Profile], serving: Serving) -> Profile:
    """The profile for a ModelDeployment: the pinned pool, else the accelerator's."""
    if serving.node_pool is not None:
        if serving.node_pool not in profiles:
            known = ", ".join(sorted(profiles))
            raise UnknownPool(f"spec.serving.nodePool: no node pool profile {serving.node_pool!r} (known: {known})")
        return profiles[serving.node_pool]
    for profile in profiles.values():
        if profile.accelerator is serving.accelerator:
            return profile
    raise UnknownPool(f"spec.serving.accelerator: no node pool profile for {serving.accelerator.value}")


@dataclass(frozen=True)
class NodeView:
    """What placement needs to know of a node."""

    name: str
    labels: Mapping[str, str]
    taints: Sequence[Mapping[str, Any]]
    allocatable: Mapping[str, str]
    ready: bool = True
    unschedulable: bool = False


def _quantity_positive(value: str | None) -> bool:
    if value is None:
        return False
    try:
        return float(value.rstrip("kmMGi")) > 0
    except ValueError:
        return False


def fits(profile: Profile, node: NodeView) -> str | None:
    """None when the node can host the profile's pods, else why not."""
    if node.unschedulable:
        return "cordoned"
    for key, value in profile.node_selector.items():
        if node.labels.get(key) != value:
            return f"label {key}={value} missing"
    for taint in node.taints:
        if taint.get("effect") not in {"NoSchedule", "NoExecute"}:
            continue
        if not any(t.tolerates(taint) for t in profile.tolerations):
            return f"taint {taint.get('key')}:{taint.get('effect')} not tolerated"
    if profile.resource is not None and not _quantity_positive(node.allocatable.get(profile.resource)):
        return f"no {profile.resource} allocatable"
    return None


def placement(profile: Profile, nodes: Sequence[NodeView]) -> Placement:
    """Whether some node can ever host the pool, with a reason that says why not."""
    if any(fits(profile, n) is None for n in nodes):
        return Placement(True, "")
    selector = ", ".join(f"{k}={v}" for k, v in profile.node_selector.items()) or "any node"
    need = f" with {profile.resource} allocatable" if profile.resource else ""
    return Placement(
        False,
        f"no node can host node pool {profile.name!r} ({selector}{need}): {len(nodes)} nodes checked",
    )
