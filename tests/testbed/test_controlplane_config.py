from __future__ import annotations

from pathlib import Path

from modelrollout.testbed import controlplane, nodes


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
