"""A bare control plane with the operator's install applied, for tests that run the operator alone.

`install` puts the generated CRD and the shipped RBAC on the plane and returns a
kubeconfig for the operator's own ServiceAccount, so what the operator does there is
what the shipped role allows. `within` polls a probe with a deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from e2e.testbed import binaries, controlplane
from e2e.testbed import kubectl as kubectl_cli
from modelrollout import names
from modelrollout.api import crds

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = ("modelrollout-system", "modelrollout-operator")


@dataclass(frozen=True)
class Bare:
    plane: controlplane.ControlPlane
    account: Path  # the operator ServiceAccount's kubeconfig
    work: Path


@contextmanager
def started(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Bare]:
    """A KWOK-only control plane (cpu pool) with the install applied; skips without binaries."""
    try:
        bins = binaries.build_control_plane(REPO / binaries.CLUSTER_MODULE)
    except binaries.MissingTool as error:
        pytest.skip(f"no control plane: {error}")
    work = tmp_path_factory.mktemp(name)
    with controlplane.ControlPlane(bins, pools=["cpu"], process_pods=False, work_dir=work / "cluster") as plane:
        yield Bare(plane, install(plane, work), work)


def install(plane: controlplane.ControlPlane, work: Path) -> Path:
    """CRD and RBAC on `plane`; the operator ServiceAccount's kubeconfig."""
    kubectl = kubectl_cli.Kubectl(plane.kubeconfig_path)
    (work / "crd.yaml").write_text(crds.render())
    kubectl("apply", "--server-side", "-f", str(work / "crd.yaml"))
    kubectl("wait", "--for=condition=Established", f"crd/{names.CRD_NAME}", "--timeout=60s")
    kubectl.run("create", "namespace", ACCOUNT[0], check=False)
    kubectl("apply", "-k", str(REPO / "manifests" / "rbac"))
    return plane.service_account_kubeconfig(*ACCOUNT)


def within(seconds: float, what: str, probe: Callable[[], Any]) -> float:
    """Poll `probe` until truthy; the seconds it took. Fails with `what` after `seconds`."""
    began = time.monotonic()
    while not probe():
        if time.monotonic() - began > seconds:
            raise AssertionError(f"{what}: not within {seconds:.0f}s")
        time.sleep(0.2)
    return time.monotonic() - began
