"""The analysis provider against a real Prometheus behind its own TLS and basic auth.

Prometheus serves HTTPS with a certificate from a throwaway CA and asks for basic auth
(`--web.config.file`: tls_server_config, basic_auth_users with a bcrypt hash). The
provider is built the way the operator builds it: from a spec's `prometheus` block and
the values its Secret references hold (`connection.resolve`). Prometheus' web config has
no bearer tokens; the bearer header is checked on the wire in tests/metrics/test_failures.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.testbed import prometheus
from e2e.testbed.certificates import Authority
from modelrollout import names
from modelrollout.api.v1alpha1 import Prometheus
from modelrollout.metrics import connection, queries
from modelrollout.metrics.connection import Connection, Reference, Source
from modelrollout.metrics.prometheus import PrometheusProvider
from modelrollout.rollout.verdicts import Check, Evidence, Kind, Round

pytestmark = pytest.mark.e2e

USER, PASSWORD = "analysis", "correct horse battery staple"
CA = Reference(Source.SECRET, "prom-ca", "ca.crt")
AUTH_USER = Reference(Source.SECRET, "prom-auth", "username")
AUTH_PASSWORD = Reference(Source.SECRET, "prom-auth", "password")
# PromQL the real server evaluates; no scrape needed for a value to come back.
ROUND = Round((Check("probe", Kind.CUSTOM, "<", 1.0, min_count=0, query="vector(0.25)"),), 60.0, look=1, planned=1)


@pytest.fixture(scope="module")
def authority() -> Authority:
    return Authority()


@pytest.fixture(scope="module")
def secured(authority: Authority, tmp_path_factory: pytest.TempPathFactory) -> Iterator[prometheus.Prometheus]:
    web = prometheus.Web(
        certificate=authority.issue("127.0.0.1", "localhost"), ca_pem=authority.cert_pem, users={USER: PASSWORD}
    )
    with prometheus.Prometheus(work_dir=tmp_path_factory.mktemp("prometheus-tls"), web=web) as server:
        yield server


def spec(server: prometheus.Prometheus, **fields: Any) -> Prometheus:
    return Prometheus.model_validate({"url": server.url, "timeout": "5s", **fields})


def measure(connected: Connection | connection.Unavailable) -> Evidence:
    assert isinstance(connected, Connection), connected
    scope = queries.Scope(namespace="ml", name="clf", model="clf", window="1m")
    (evidence,) = PrometheusProvider(connected).measure(ROUND, scope, queries.Side(names.ROLE_CANARY, "2"), None)
    return evidence


def with_ca_and_basic_auth(server: prometheus.Prometheus) -> Prometheus:
    return spec(
        server,
        tls={"caSecretRef": {"name": "prom-ca", "key": "ca.crt"}},
        auth={"basicAuth": {"secretRef": {"name": "prom-auth"}}},
    )


def test_the_harness_itself_needs_the_ca_and_the_password(secured: prometheus.Prometheus) -> None:
    assert secured.url.startswith("https://")
    assert secured.query("vector(1)")[0]["value"][1] == "1"
    assert "basic_auth_users" in (Path(secured.work_dir) / "web.yml").read_text()


def test_the_right_ca_and_credentials_measure(secured: prometheus.Prometheus, authority: Authority) -> None:
    found = {CA: authority.cert_pem.decode(), AUTH_USER: USER, AUTH_PASSWORD: PASSWORD + "\n"}
    evidence = measure(connection.resolve(with_ca_and_basic_auth(secured), "ml", found))
    assert evidence.error is None
    assert evidence.value == 0.25


def test_another_ca_is_a_readable_certificate_error(secured: prometheus.Prometheus) -> None:
    found = {CA: Authority("someone else").cert_pem.decode(), AUTH_USER: USER, AUTH_PASSWORD: PASSWORD}
    evidence = measure(connection.resolve(with_ca_and_basic_auth(secured), "ml", found))
    assert evidence.error is not None
    assert evidence.error.startswith(f"Prometheus {secured.url}: certificate signed by unknown authority"), (
        evidence.error
    )
    assert "query" not in evidence.error
    assert evidence.reason == "PrometheusCertificateRejected"


def test_the_system_cas_do_not_trust_a_private_ca(secured: prometheus.Prometheus) -> None:
    evidence = measure(connection.resolve(spec(secured), "ml", {}))
    assert evidence.error is not None and "certificate signed by unknown authority" in evidence.error


@pytest.mark.parametrize("password", [None, "wrong"], ids=["no-credentials", "wrong-password"])
def test_missing_or_wrong_credentials_are_a_readable_401(
    secured: prometheus.Prometheus, authority: Authority, password: str | None
) -> None:
    tls = {"caSecretRef": {"name": "prom-ca", "key": "ca.crt"}}
    if password is None:
        connected = connection.resolve(spec(secured, tls=tls), "ml", {CA: authority.cert_pem.decode()})
    else:
        found = {CA: authority.cert_pem.decode(), AUTH_USER: USER, AUTH_PASSWORD: password}
        connected = connection.resolve(with_ca_and_basic_auth(secured), "ml", found)
    evidence = measure(connected)
    assert evidence.reason == "PrometheusUnauthorized"
    assert evidence.error == (
        f"Prometheus {secured.url}: 401 Unauthorized: the credentials were refused or none were sent "
        "(spec.rollout.analysis.prometheus.auth)"
    )


def test_insecure_skip_verify_reaches_it_without_the_ca(secured: prometheus.Prometheus) -> None:
    fields = {"tls": {"insecureSkipVerify": True}, "auth": {"basicAuth": {"secretRef": {"name": "prom-auth"}}}}
    with pytest.warns(Warning, match="Unverified HTTPS request"):
        evidence = measure(
            connection.resolve(spec(secured, **fields), "ml", {AUTH_USER: USER, AUTH_PASSWORD: PASSWORD})
        )
    assert evidence.error is None and evidence.value == 0.25
