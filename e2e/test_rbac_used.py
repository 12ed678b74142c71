"""The operator's RBAC grants exactly what it uses, proven from the API server's audit log.

One control plane (KWOK pods only), the operator as its own process under its
ServiceAccount with HA peering on, and a scenario that walks every path needing a grant:
an optimization Job, a first version, a canary through the gateway-api router, an abort,
and a deleted child put back. Afterwards the audit log says what the account asked for;
every rule in `manifests/rbac` must have been used, and nothing was refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from e2e.testbed import audits, bare, controlplane, gatewayapi
from e2e.testbed import kubectl as kubectl_cli
from e2e.testbed.operators import OperatorProcess
from modelrollout import names

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
ROLE = REPO / "manifests" / "rbac" / "clusterrole.yaml"


def spec(version: str, *, optimize: bool = False) -> dict[str, Any]:
    return {
        "model": {"name": "classifier", "version": version, "uri": f"file:///m/{version}/model.onnx"},
        "optimization": {"enabled": optimize},
        "serving": {"replicas": 1},
        "rollout": {
            "steps": [{"weight": 50, "pause": "1h"}, {"weight": 100}],
            "traffic": {"router": "gateway-api", "gateway": {"parentRefs": [{"name": "gw"}]}},
            # Credentials and a CA named by the analysis: read by name (get) on each check.
            "analysis": {
                "prometheus": {
                    "url": "https://127.0.0.1:1",
                    "tls": {"caConfigMapRef": {"name": "prom-ca", "key": "ca.crt"}},
                    "auth": {"basicAuth": {"secretRef": {"name": "prom-auth"}}},
                },
                "interval": "2s",
                "slos": {"errorRate": {"max": 0.05}},
            },
        },
    }


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, versions: dict[str, str]) -> Iterator[Path]:
    """Runs the scenario; yields the audit log."""
    with bare.started(tmp_path_factory, "rbac-used") as bed:
        plane, account, work = bed.plane, bed.account, bed.work
        kubectl = kubectl_cli.Kubectl(plane.kubeconfig_path)
        gatewayapi.install(kubectl, versions["GATEWAY_API_VERSION"])
        operator = OperatorProcess(
            work, account, {"image": "modelrollout:dev", "artifactStore": "file:///tmp"}, ("--peering", "modelrollout")
        )
        kubectl("apply", "-f", str(REPO / "manifests" / "crd" / "kopf-peering-crd.yaml"))
        kubectl("wait", "--for=condition=Established", "crd/clusterkopfpeerings.kopf.dev", "--timeout=60s")
        kubectl("apply", "-f", str(REPO / "manifests" / "crd" / "peering.yaml"))
        operator.start()
        try:
            _scenario(plane)
        finally:
            operator.stop()
        yield plane.log_path("audit")


def _scenario(plane: controlplane.ControlPlane) -> None:
    api = plane.api_client()
    core, apps, custom = client.CoreV1Api(api), client.AppsV1Api(api), client.CustomObjectsApi(api)
    namespace = f"r-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))

    def create(name: str, body: dict[str, Any]) -> None:
        obj = {"apiVersion": names.API_VERSION, "kind": names.KIND, "metadata": {"name": name}, "spec": body}
        custom.create_namespaced_custom_object(names.GROUP, names.VERSION, namespace, names.PLURAL, obj)

    def status(name: str) -> dict[str, Any]:
        got = custom.get_namespaced_custom_object(names.GROUP, names.VERSION, namespace, names.PLURAL, name)
        return dict(got.get("status") or {})

    def patch(name: str, body: dict[str, Any]) -> None:
        custom.patch_namespaced_custom_object(names.GROUP, names.VERSION, namespace, names.PLURAL, name, body)

    create("job", spec("1", optimize=True))
    bare.within(60, "an optimization Job", lambda: client.BatchV1Api(api).list_namespaced_job(namespace).items)
    create("m", spec("1"))
    bare.within(60, "version 1 Succeeded", lambda: status("m").get("phase") == "Succeeded")
    patch("m", {"spec": spec("2")})
    bare.within(60, "version 2 on canary", lambda: status("m").get("phase") == "Canary")

    def credentials_missing() -> bool:
        found = [c for c in status("m").get("conditions", []) if c["type"] == "AnalysisHealthy"]
        return bool(found) and found[0].get("reason") == "PrometheusCredentialsMissing"

    bare.within(60, "an analysis pass that looked for the credentials", credentials_missing)
    # A child deleted by hand is put back.
    apps.delete_namespaced_deployment(f"m-{names.ROLE_CANARY}", namespace)
    bare.within(60, "canary Deployment back", lambda: _exists(lambda: apps.read_namespaced_deployment(
        f"m-{names.ROLE_CANARY}", namespace)))  # fmt: skip
    patch("m", {"metadata": {"annotations": {names.ANNOTATION_ABORT: "rbac"}}})
    bare.within(60, "version 2 RolledBack", lambda: status("m").get("phase") == "RolledBack")


def _exists(read: Callable[[], Any]) -> bool:
    try:
        read()
    except client.exceptions.ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def test_every_grant_is_used_and_nothing_is_refused(recorded: Path) -> None:
    user = audits.service_account_user(*bare.ACCOUNT)
    used = audits.used(recorded, user)
    assert used, "the audit log recorded nothing for the operator: the checks below would prove nothing"
    assert not audits.refused(recorded, user), sorted(map(str, audits.refused(recorded, user)))
    granted = audits.granted(yaml.safe_load(ROLE.read_text()))
    unused = granted - used
    assert not unused, "granted but never used: " + ", ".join(sorted(map(str, unused)))
