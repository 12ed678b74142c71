"""The HTTPRoute of the gateway-api router: backend weights carry the split."""

from __future__ import annotations

from typing import Any

from modelrollout import names
from modelrollout.api.v1alpha1 import GatewayRouting
from modelrollout.builders import common
from modelrollout.settings import OperatorSettings


def http_route(
    owner: common.Owner,
    gateway: GatewayRouting,
    canary_weight: int,
    settings: OperatorSettings,
    *,
    baseline_weight: int = 0,
) -> dict[str, Any]:
    """Stable gets what the canary (and the baseline, when one runs) do not; the baseline's
    backend is listed only while it has a weight, so a route without one is unchanged."""
    split = [(names.ROLE_STABLE, 100 - canary_weight - baseline_weight), (names.ROLE_CANARY, canary_weight)]
    if baseline_weight > 0:
        split.append((names.ROLE_BASELINE, baseline_weight))
    backends = [
        {
            "name": common.service_name(owner, role),
            "port": settings.server_port,
            "weight": weight,
        }
        for role, weight in split
    ]
    spec: dict[str, Any] = {
        "parentRefs": [p.model_dump(by_alias=True, exclude_none=True) for p in gateway.parent_refs],
        "rules": [{"backendRefs": backends}],
    }
    if gateway.hostnames:
        spec["hostnames"] = list(gateway.hostnames)
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": common.metadata(owner, common.route_name(owner), common.labels(owner, names.COMPONENT_SERVER)),
        "spec": spec,
    }


def weights_of(route: dict[str, Any]) -> dict[str, int]:
    """{service: weight} as a route carries them (for verifying what was applied)."""
    rules = route.get("spec", {}).get("rules", [])
    return {b["name"]: int(b.get("weight", 1)) for r in rules for b in r.get("backendRefs", [])}
