"""What the analysis reads for its Prometheus connection, and the connection made of it (pure)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelrollout.api.v1alpha1 import Prometheus
from modelrollout.metrics import connection
from modelrollout.metrics.connection import Connection, Lack, Reason, Reference, Source, Unavailable, Unread

CA = Reference(Source.SECRET, "prom-ca", "ca.crt")
USER = Reference(Source.SECRET, "prom-auth", "user")
PASSWORD = Reference(Source.SECRET, "prom-auth", "password")


def prometheus(**fields: Any) -> Prometheus:
    return Prometheus.model_validate({"url": "https://prom.example:9090/", **fields})


def test_a_plain_spec_needs_nothing_read_and_verifies_with_the_system_cas() -> None:
    spec = prometheus(timeout="5s")
    assert connection.references(spec) == ()
    got = connection.resolve(spec, "ml", {})
    assert got == Connection("https://prom.example:9090", 5.0, verify=True, ca_pem=None, headers={})


def test_basic_auth_with_a_ca_reads_one_secret_per_key_and_sends_basic() -> None:
    spec = prometheus(
        tls={"caSecretRef": {"name": "prom-ca", "key": "ca.crt"}, "serverName": "prometheus.monitoring.svc"},
        auth={"basicAuth": {"secretRef": {"name": "prom-auth"}, "usernameKey": "user"}},
        headers=[{"name": "X-Scope-OrgID", "value": "tenant-a"}],
    )
    assert connection.references(spec) == (CA, USER, PASSWORD)
    got = connection.resolve(spec, "ml", {CA: "PEM", USER: "analysis\n", PASSWORD: "pa ss\n"})
    assert isinstance(got, Connection)
    assert got.ca_pem == "PEM" and got.ca_from == "Secret ml/prom-ca key 'ca.crt'"
    assert got.server_name == "prometheus.monitoring.svc"
    assert got.headers == {
        "X-Scope-OrgID": "tenant-a",
        "Authorization": "Basic " + base64.b64encode(b"analysis:pa ss").decode(),
    }
    assert "pa ss" not in repr(got) and "Basic" not in repr(got)


def test_a_bearer_token_and_the_service_account_token() -> None:
    token = Reference(Source.SECRET, "prom-token", "token")
    spec = prometheus(auth={"bearerTokenSecretRef": {"name": "prom-token", "key": "token"}})
    got = connection.resolve(spec, "ml", {token: "abc.def\n"})
    assert isinstance(got, Connection) and got.headers == {"Authorization": "Bearer abc.def"}

    spec = prometheus(auth={"serviceAccountToken": True})
    file = Reference(Source.TOKEN_FILE, connection.SERVICE_ACCOUNT_TOKEN)
    assert connection.references(spec) == (file,)
    got = connection.resolve(spec, "ml", {file: "eyJ"})
    assert isinstance(got, Connection) and got.headers == {"Authorization": "Bearer eyJ"}


def test_a_ca_from_a_configmap_and_insecure_skip_verify() -> None:
    bundle = Reference(Source.CONFIG_MAP, "kube-root-ca.crt", "ca.crt")
    spec = prometheus(tls={"caConfigMapRef": {"name": "kube-root-ca.crt", "key": "ca.crt"}})
    got = connection.resolve(spec, "ml", {bundle: "PEM"})
    assert isinstance(got, Connection) and got.ca_pem == "PEM" and got.verify
    got = connection.resolve(prometheus(tls={"insecureSkipVerify": True}), "ml", {})
    assert isinstance(got, Connection) and not got.verify


@pytest.mark.parametrize(
    ("found", "reason", "said"),
    [
        ({}, Reason.MISSING, "Secret ml/prom-ca key 'ca.crt': not found"),
        ({CA: "PEM", USER: "u"}, Reason.MISSING, "Secret ml/prom-auth key 'password': not found"),
        ({CA: "PEM", USER: "u", PASSWORD: Unread(Lack.NO_KEY)}, Reason.MISSING, "key 'password': no such key"),
        ({CA: "  \n", USER: "u", PASSWORD: "p"}, Reason.MISSING, "Secret ml/prom-ca key 'ca.crt': empty"),
        (
            {CA: Unread(Lack.FORBIDDEN, "403 Forbidden")},
            Reason.UNREADABLE,
            "Secret ml/prom-ca key 'ca.crt': forbidden (403 Forbidden)",
        ),
    ],
)
def test_what_is_missing_is_named_with_its_namespace_and_key(
    found: connection.Found, reason: Reason, said: str
) -> None:
    spec = prometheus(
        tls={"caSecretRef": {"name": "prom-ca", "key": "ca.crt"}},
        auth={"basicAuth": {"secretRef": {"name": "prom-auth"}, "usernameKey": "user"}},
    )
    got = connection.resolve(spec, "ml", found)
    assert isinstance(got, Unavailable) and got.reason is reason
    assert got.message.startswith("Prometheus https://prom.example:9090 credentials: ")
    assert got.message.endswith(said)


def test_the_documented_examples_are_valid_specs() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "analysis.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]
    examples = [yaml.safe_load(b)["prometheus"] for b in blocks if b.startswith("prometheus:")]
    assert len(examples) == 3
    for example in examples:
        spec = Prometheus.model_validate(example)
        assert spec.auth is not None and connection.references(spec)
