from __future__ import annotations

from pathlib import Path

import pytest

from e2e.testbed import binaries

REPO = Path(__file__).resolve().parents[2]


def test_versions_are_pinned() -> None:
    versions = binaries.read_versions(REPO / binaries.CLUSTER_MODULE)
    assert versions["K8S_VERSION"].startswith("v1.")
    assert versions["KWOK_VERSION"].startswith("v0.8.")
    assert "GATEWAY_API_VERSION" in versions


def test_bad_versions_line_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "versions.env").write_text("# pins\nK8S_VERSION=v1.37.2\nnonsense\n")
    with pytest.raises(ValueError, match=r"versions.env:3: expected KEY=value"):
        binaries.read_versions(tmp_path)


def test_cluster_module_found_from_a_subfolder() -> None:
    assert binaries.find_cluster_module(REPO / "operator") == REPO / binaries.CLUSTER_MODULE


def test_prebuilt_dir_without_binaries_is_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(binaries.ENV_TESTBED_BIN, str(tmp_path))
    (tmp_path / "etcd").write_text("#!/bin/sh\n")
    (tmp_path / "etcd").chmod(0o755)
    with pytest.raises(binaries.MissingTool, match="kube-apiserver") as raised:
        binaries.build_control_plane()
    assert "etcd" not in str(raised.value).split("executable")[-1]


def test_kubectl_is_found() -> None:
    assert binaries.kubectl().name == "kubectl"
