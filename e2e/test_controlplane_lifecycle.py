"""Starting and stopping the control plane leaves no process behind, also on failure."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from e2e.testbed import binaries, controlplane
from e2e.testbed import kubectl as kubectl_cli

pytestmark = pytest.mark.e2e


NPU_POD = """
apiVersion: v1
kind: Pod
metadata: {name: wants-npu, namespace: default}
spec:
  tolerations: [{key: npu.intel.com/accel, operator: Exists, effect: NoSchedule}]
  containers:
  - name: c
    image: registry.invalid/c:1
    resources: {limits: {npu.intel.com/accel: "1"}}
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_start_selected_pools_then_stop_leaves_nothing(
    control_plane_binaries: binaries.ControlPlaneBinaries, tmp_path: Path
) -> None:
    plane = controlplane.ControlPlane(control_plane_binaries, pools=["cpu"], work_dir=tmp_path)
    with plane:
        pids = plane.pids()
        assert set(pids) == {
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
        }
        nodes = plane.core_api().list_node().items
        assert sorted(n.metadata.name for n in nodes) == ["cpu-0", "cpu-1"]
        # With no NPU pool, a pod asking for an NPU waits, and the scheduler says why.
        kubectl = kubectl_cli.Kubectl(plane.kubeconfig_path)
        kubectl("apply", "-f", "-", input=NPU_POD)
        kubectl("wait", "pod/wants-npu", "--for=condition=PodScheduled=False", "--timeout=60s")
        scheduled = {c["type"]: c for c in kubectl.json("get", "pod", "wants-npu")["status"]["conditions"]}[
            "PodScheduled"
        ]
        assert scheduled["reason"] == "Unschedulable"
        assert "Insufficient npu.intel.com/accel" in scheduled["message"], scheduled["message"]
    assert [name for name, pid in pids.items() if alive(pid)] == []


def test_failed_start_stops_what_it_started(
    control_plane_binaries: binaries.ControlPlaneBinaries, tmp_path: Path
) -> None:
    broken = tmp_path / "kube-apiserver"
    broken.write_text("#!/bin/sh\necho 'refusing to start: test' >&2\nexit 3\n")
    broken.chmod(0o755)
    bins = dataclasses.replace(control_plane_binaries, kube_apiserver=broken)
    work = tmp_path / "work"
    plane = controlplane.ControlPlane(bins, work_dir=work)
    with pytest.raises(controlplane.StartError, match="kube-apiserver exited with 3") as raised:
        plane.start()
    assert "refusing to start: test" in str(raised.value)
    assert plane.pids() == {}
    # etcd was up before the API server failed: nothing that names this work dir is left.
    assert (work / "logs" / "etcd.log").exists()
    assert [pid for pid in _processes_mentioning(str(work)) if alive(pid)] == []


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
            if text in cmdline:
                found.append(int(entry.name))
    return found
