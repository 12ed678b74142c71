"""The shell reads a Prometheus connection's Secrets and ConfigMaps on the real API server,
as a ServiceAccount holding the operator's ClusterRole: `get` by name is enough, and a
missing object, a missing key and a refusal are each told apart."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

from e2e.testbed import controlplane
from e2e.testbed import kubectl as kubectl_cli
from modelrollout.api.v1alpha1 import Prometheus
from modelrollout.kube import credentials
from modelrollout.kube.clients import Clients
from modelrollout.metrics import connection
from modelrollout.metrics.connection import Lack, Reference, Source, Unread

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
ROLE = yaml.safe_load((REPO / "manifests" / "rbac" / "clusterrole.yaml").read_text())


def clients_as(plane: controlplane.ControlPlane, namespace: str, account: str) -> Clients:
    api = config.new_client_from_config(config_file=str(plane.service_account_kubeconfig(namespace, account)))
    return Clients(client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api), client.CustomObjectsApi(api))


def test_the_operators_role_reads_what_a_spec_names_and_nothing_else(
    control_plane: controlplane.ControlPlane, kubectl: kubectl_cli.Kubectl, namespace: str
) -> None:
    kubectl("apply", "-f", "-", input=yaml.safe_dump(ROLE))
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "operator", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROLE["metadata"]["name"]},
        "subjects": [{"kind": "ServiceAccount", "name": "operator", "namespace": namespace}],
    }
    kubectl("apply", "-f", "-", input=yaml.safe_dump(binding))
    kubectl("create", "secret", "generic", "prom-auth", "-n", namespace, "--from-literal=username=analysis",
            "--from-literal=password=s3cret")  # fmt: skip
    kubectl("create", "configmap", "prom-ca", "-n", namespace, "--from-literal=ca.crt=PEM BUNDLE")
    spec = Prometheus.model_validate(
        {
            "url": "https://prometheus.monitoring:9090",
            "tls": {"caConfigMapRef": {"name": "prom-ca", "key": "ca.crt"}},
            "auth": {"basicAuth": {"secretRef": {"name": "prom-auth"}}},
        }
    )
    operator = clients_as(control_plane, namespace, "operator")
    found = credentials.read(operator, namespace, connection.references(spec))
    assert found == {
        Reference(Source.CONFIG_MAP, "prom-ca", "ca.crt"): "PEM BUNDLE",
        Reference(Source.SECRET, "prom-auth", "username"): "analysis",
        Reference(Source.SECRET, "prom-auth", "password"): "s3cret",
    }
    resolved = connection.resolve(spec, namespace, found)
    assert isinstance(resolved, connection.Connection) and resolved.ca_pem == "PEM BUNDLE"

    missing = (Reference(Source.SECRET, "prom-auth", "token"), Reference(Source.SECRET, "absent", "token"))
    assert credentials.read(operator, namespace, missing) == {
        missing[0]: Unread(Lack.NO_KEY),
        missing[1]: Unread(Lack.NOT_FOUND),
    }
    # Reading by name is all the role allows: listing every Secret is refused.
    with pytest.raises(client.exceptions.ApiException) as listed:
        operator.core.list_namespaced_secret(namespace)
    assert listed.value.status == 403

    stranger = clients_as(control_plane, namespace, "stranger")
    refused = credentials.read(stranger, namespace, connection.references(spec))
    first = next(iter(refused.values()))
    assert isinstance(first, Unread) and first.lack is Lack.FORBIDDEN
    unavailable = connection.resolve(spec, namespace, refused)
    assert isinstance(unavailable, connection.Unavailable)
    assert unavailable.reason is connection.Reason.UNREADABLE
    assert unavailable.message == (
        f"Prometheus https://prometheus.monitoring:9090 credentials: ConfigMap {namespace}/prom-ca key 'ca.crt': "
        "forbidden (403 Forbidden; the operator's role needs get on it)"
    )
