"""`python -m e2e.testbed` brings up a usable cluster and tears it down on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from e2e.testbed import binaries
from e2e.testbed import kubectl as kubectl_cli

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[1]


@pytest.mark.usefixtures("control_plane_binaries")
def test_up_use_and_down(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "operator")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "e2e.testbed",
            "--pools=cpu",
            "--no-prometheus",
            f"--work-dir={tmp_path}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # blocks until ready (or exit: then it is empty)
        assert first.startswith("export KUBECONFIG="), first + (proc.stderr.read() if proc.stderr else "")
        kubeconfig = Path(first.strip().split("=", 1)[1])
        nodes = kubectl_cli.Kubectl(kubeconfig, binaries.kubectl())("get", "nodes", "-o", "name")
        assert nodes.split() == ["node/cpu-0", "node/cpu-1"]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0
    leftovers = [
        entry.name for entry in Path("/proc").glob("[0-9]*") if str(tmp_path).encode() in _read(entry / "cmdline")
    ]
    assert leftovers == []


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
