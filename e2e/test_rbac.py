"""RBAC is enforced: a ServiceAccount may do what its Role grants and nothing more."""

from __future__ import annotations

import pytest
import yaml

from e2e.testbed import controlplane
from e2e.testbed import kubectl as kubectl_cli

pytestmark = pytest.mark.e2e


def test_service_account_is_limited_to_its_role(
    control_plane: controlplane.ControlPlane, kubectl: kubectl_cli.Kubectl, namespace: str
) -> None:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "pod-reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "pod-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
    }
    kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all([role, binding]))
    reader = kubectl_cli.Kubectl(control_plane.service_account_kubeconfig(namespace, "reader"))
    assert reader("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}") == (
        f"system:serviceaccount:{namespace}:reader"
    )
    reader("get", "pods", "-n", namespace)
    refused = reader.run("create", "configmap", "x", "-n", namespace, check=False)
    assert refused.returncode != 0
    assert "forbidden" in refused.stderr.lower(), refused.stderr
    elsewhere = reader.run("get", "pods", "-n", "default", check=False)
    assert "forbidden" in elsewhere.stderr.lower(), elsewhere.stderr
