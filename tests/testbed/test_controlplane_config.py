from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from e2e.testbed import controlplane, nodes


def test_free_ports_are_distinct() -> None:
    ports = controlplane.free_ports(5)
    assert len(set(ports)) == 5


def test_apiserver_enforces_rbac_with_token_auth(tmp_path: Path) -> None:
    args = controlplane.apiserver_args(tmp_path, controlplane.Ports(1, 2, 3, 4, 5))
    assert "--authorization-mode=Node,RBAC" in args
    assert f"--token-auth-file={tmp_path / 'tokens.csv'}" in args
    assert "--etcd-servers=http://127.0.0.1:1" in args
    assert "--secure-port=3" in args
    assert "--bind-address=127.0.0.1" in args


def test_kwok_manages_only_fake_nodes(tmp_path: Path) -> None:
    args = controlplane.kwok_args(tmp_path)
    assert "--manage-all-nodes=false" in args
    assert f"--manage-nodes-with-annotation-selector={nodes.KWOK_NODE_SELECTOR}" in args


def test_kubeconfig_uses_the_token_and_ca(tmp_path: Path) -> None:
    config = controlplane.kubeconfig("https://127.0.0.1:9", "tok", tmp_path / "ca.crt")
    (cluster,) = config["clusters"]  # type: ignore[misc]
    assert cluster["cluster"] == {
        "server": "https://127.0.0.1:9",
        "certificate-authority": str(tmp_path / "ca.crt"),
    }
    (user,) = config["users"]  # type: ignore[misc]
    assert user["user"] == {"token": "tok"}


def _certificate(name: str, *, ca: bool, key: rsa.RSAPrivateKey) -> bytes:
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_ca_certificates_keeps_only_the_ca() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = _certificate("serving", ca=False, key=key)
    ca = _certificate("ca", ca=True, key=key)
    assert controlplane.ca_certificates(leaf + ca) == ca


def test_ca_certificates_without_a_ca_is_an_error() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(ValueError, match="no CA certificate"):
        controlplane.ca_certificates(_certificate("serving", ca=False, key=key))
