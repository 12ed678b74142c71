"""Fixtures for the end-to-end tests: one real control plane and one Prometheus per session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.testbed import bed as beds
from e2e.testbed import binaries, controlplane, kubelet, operators, prometheus
from e2e.testbed import kubectl as kubectl_cli

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def control_plane_binaries() -> binaries.ControlPlaneBinaries:
    try:
        return binaries.build_control_plane(REPO / binaries.CLUSTER_MODULE)
    except binaries.MissingTool as error:
        pytest.skip(f"no control plane: {error}")


@pytest.fixture(scope="session")
def versions() -> dict[str, str]:
    return binaries.read_versions(REPO / binaries.CLUSTER_MODULE)


@pytest.fixture(scope="session")
def control_plane(
    control_plane_binaries: binaries.ControlPlaneBinaries,
) -> Iterator[controlplane.ControlPlane]:
    # Process pods are left to the process kubelet, as in the operator's scenarios.
    with controlplane.ControlPlane(control_plane_binaries, process_pods=True) as plane:
        yield plane


@pytest.fixture(scope="session")
def kubeconfig(control_plane: controlplane.ControlPlane) -> Path:
    return control_plane.kubeconfig_path


@pytest.fixture(scope="session")
def kubectl(kubeconfig: Path) -> kubectl_cli.Kubectl:
    return kubectl_cli.Kubectl(kubeconfig)


@pytest.fixture
def namespace(kubectl: kubectl_cli.Kubectl) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (not waited for)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="session")
def prometheus_server() -> Iterator[prometheus.Prometheus]:
    try:
        binaries.prometheus()
    except binaries.MissingTool as error:
        pytest.skip(str(error))
    with prometheus.Prometheus() as server:
        yield server


@pytest.fixture(scope="session")
def process_kubelet(
    control_plane: controlplane.ControlPlane, prometheus_server: prometheus.Prometheus
) -> Iterator[kubelet.ProcessKubelet]:
    """Runs the operator's server and optimizer pods as local processes, for the session."""
    with kubelet.ProcessKubelet(control_plane.api_client(), prometheus_server=prometheus_server) as running:
        yield running


@pytest.fixture(scope="module")
def bed(
    control_plane: controlplane.ControlPlane,
    prometheus_server: prometheus.Prometheus,
    process_kubelet: kubelet.ProcessKubelet,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[beds.Bed]:
    """The operator as its own process under its ServiceAccount, per module; RBAC never refuses it."""
    with beds.Bed(
        work_dir=tmp_path_factory.mktemp("bed"),
        rbac=REPO / "manifests" / "rbac",
        plane=control_plane,
        prometheus_server=prometheus_server,
        process_kubelet=process_kubelet,
    ) as running:
        yield running
    refused = operators.rbac_refusals(running.operator.log_path.read_text(errors="replace"))
    assert refused == [], f"the operator was refused by RBAC: {refused[:3]}"
