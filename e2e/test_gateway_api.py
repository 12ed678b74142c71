"""Gateway API CRDs (standard channel) from the pinned module, served by the API server."""

from __future__ import annotations

import pytest
import yaml

from e2e.testbed import gatewayapi
from e2e.testbed import kubectl as kubectl_cli

pytestmark = pytest.mark.e2e


def test_install_and_use_httproute(kubectl: kubectl_cli.Kubectl, namespace: str, versions: dict[str, str]) -> None:
    installed = gatewayapi.install(kubectl, versions["GATEWAY_API_VERSION"])
    assert "httproutes.gateway.networking.k8s.io" in installed
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "split"},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "rules": [
                {
                    "backendRefs": [
                        {"name": "stable", "port": 8080, "weight": 90},
                        {"name": "canary", "port": 8080, "weight": 10},
                    ]
                }
            ],
        },
    }
    kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(route))
    got = kubectl.json("get", "httproute", "-n", namespace, "split")
    assert [b["weight"] for b in got["spec"]["rules"][0]["backendRefs"]] == [90, 10]
