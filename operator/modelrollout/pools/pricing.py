"""What one serving replica costs per hour on a pool (pure).

A pool's price is per node hour and, for accelerator pools, per accelerator hour. A
replica on an accelerator pool takes one accelerator (the profile's resource) and its
share of the node's host; on a CPU pool it takes the share of the node its CPU request
(else limit) asks for, or the whole node when it asks for none: what the cluster cannot
give to another pod is what the replica costs.
"""

from __future__ import annotations

from modelrollout.api.v1alpha1 import Resources
from modelrollout.pools.profiles import Profile


def cpus(quantity: str | None) -> float | None:
    """A Kubernetes CPU quantity as cores ("500m" -> 0.5, "2" -> 2.0); None when absent or unreadable."""
    if not quantity:
        return None
    try:
        return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)
    except ValueError:
        return None


def replica_cpus(resources: Resources | None) -> float | None:
    if resources is None:
        return None
    return cpus(resources.requests.get("cpu")) or cpus(resources.limits.get("cpu"))


def per_replica_hour(profile: Profile, resources: Resources | None = None) -> float | None:
    """Price of one replica for an hour; None when the pool has no price."""
    price = profile.price
    if price is None or (price.node_hour is None and price.accelerator_hour is None):
        return None
    node = price.node_hour or 0.0
    share: float
    asked = replica_cpus(resources)
    if asked is not None and price.node_cpus:
        share = min(1.0, asked / price.node_cpus)
    elif profile.resource is not None:
        share = 1.0 / price.accelerators_per_node
    else:
        share = 1.0
    accelerator = (price.accelerator_hour or 0.0) if profile.resource is not None else 0.0
    return accelerator + node * share
