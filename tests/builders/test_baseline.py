"""The baseline's children: a Deployment of the stable version beside the canary, and where its traffic comes from."""

from __future__ import annotations

from typing import Any

from modelrollout import names
from modelrollout.builders import deployments, httproutes, services
from modelrollout.pools import profiles
from tests.builders.test_builders import OWNER, REF, SETTINGS, spec


def _pod_labels(role: str) -> dict[str, str]:
    dep = deployments.server_deployment(OWNER, spec(), role, REF, 2, profiles.defaults()["cpu"], SETTINGS)
    labels: dict[str, str] = dep["spec"]["template"]["metadata"]["labels"]
    return labels


def _selects(svc: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in svc["spec"]["selector"].items())


def test_the_baseline_deployment_runs_the_stable_artifact_under_its_own_role() -> None:
    dep = deployments.server_deployment(
        OWNER, spec(), names.ROLE_BASELINE, REF, 2, profiles.defaults()["cpu"], SETTINGS
    )
    assert dep["metadata"]["name"] == "embedder-baseline"
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["selector"]["matchLabels"][names.LABEL_ROLE] == names.ROLE_BASELINE
    template = dep["spec"]["template"]
    assert template["metadata"]["labels"][names.LABEL_ROLE] == names.ROLE_BASELINE
    assert template["metadata"]["annotations"][f"{names.GROUP}/revision"] == REF.revision
    env = {e["name"]: e["value"] for e in template["spec"]["containers"][0]["env"]}
    # The server labels its metrics with the role: that is what the analysis queries select.
    assert env[names.ENV_ROLE] == names.ROLE_BASELINE
    assert (env[names.ENV_MODEL_URI], env[names.ENV_MODEL_VERSION]) == (REF.uri, REF.version)


def test_baseline_pods_share_the_main_service_but_not_the_stable_or_canary_ones() -> None:
    main, stable, canary, baseline = services.all_services(OWNER, SETTINGS)
    pods = _pod_labels(names.ROLE_BASELINE)
    # Replicas router: the main Service spreads requests per pod, so the baseline's
    # share is its pod count's, like the canary's.
    assert _selects(main, pods)
    assert not _selects(stable, pods) and not _selects(canary, pods)
    assert baseline["metadata"]["name"] == "embedder-baseline" and _selects(baseline, pods)
    assert not _selects(baseline, _pod_labels(names.ROLE_STABLE))
    assert not _selects(baseline, _pod_labels(names.ROLE_CANARY))


def test_http_route_gives_the_baseline_its_weight_out_of_stables() -> None:
    s = spec(rollout={"traffic": {"router": "gateway-api", "gateway": {"parentRefs": [{"name": "edge"}]}}})
    assert s.rollout.traffic.gateway is not None
    route = httproutes.http_route(OWNER, s.rollout.traffic.gateway, 25, SETTINGS, baseline_weight=25)
    assert httproutes.weights_of(route) == {"embedder-stable": 50, "embedder-canary": 25, "embedder-baseline": 25}
    plain = httproutes.http_route(OWNER, s.rollout.traffic.gateway, 25, SETTINGS)
    assert httproutes.weights_of(plain) == {"embedder-stable": 75, "embedder-canary": 25}
