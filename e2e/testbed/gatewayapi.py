"""Installing the Gateway API CRDs (standard channel) from the pinned Go module."""

from __future__ import annotations

from pathlib import Path

from e2e.testbed import binaries
from e2e.testbed import kubectl as kubectl_

STANDARD_DIR = Path("config") / "crd" / "standard"


def crd_files(version: str) -> list[Path]:
    folder = binaries.go_module_dir("sigs.k8s.io/gateway-api", version) / STANDARD_DIR
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise RuntimeError(f"no CRDs in {folder}")
    return files


def install(kubectl: kubectl_.Kubectl, version: str) -> list[str]:
    """Apply the standard-channel CRDs and wait until established; returns the CRD names."""
    files = crd_files(version)
    args = ["apply", "--server-side", "--force-conflicts"]
    for path in files:
        args += ["-f", str(path)]
    kubectl(*args)
    crds = [
        item["metadata"]["name"]
        for item in kubectl.json("get", "crd")["items"]
        if item["spec"]["group"] == "gateway.networking.k8s.io"
    ]
    kubectl("wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{c}" for c in crds])
    return crds
