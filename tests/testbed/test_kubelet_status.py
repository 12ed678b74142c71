from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from e2e.testbed import kubelet
from modelrollout import names

T0 = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
T1 = T0 + datetime.timedelta(seconds=7)
POD = {
    "metadata": {"name": "p", "namespace": "ns", "uid": "u-1"},
    "spec": {"nodeName": "cpu-0"},
}


def test_modelrollout_command_runs_this_interpreters_package() -> None:
    container = {"name": "c", "command": ["modelrollout"], "args": ["serve", "--x=1"]}
    assert kubelet.command_line(container, "/py") == ["/py", "-m", "modelrollout", "serve", "--x=1"]


def test_other_commands_run_as_given() -> None:
    container = {"name": "c", "command": ["sh", "-c"], "args": ["exit 3"]}
    assert kubelet.command_line(container, "/py") == ["sh", "-c", "exit 3"]


def test_no_command_is_refused_naming_the_container() -> None:
    with pytest.raises(ValueError, match="container 'server': no command"):
        kubelet.command_line({"name": "server", "image": "x"})


def test_environment_literals_fields_then_extra() -> None:
    container = {
        "name": "c",
        "env": [
            {"name": "A", "value": "1"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": names.ENV_PORT, "value": "8080"},
            {"name": "EMPTY"},
        ],
    }
    env = kubelet.environment(container, POD, {names.ENV_PORT: "31000"})
    assert env == {"A": "1", "POD": "p", names.ENV_PORT: "31000", "EMPTY": ""}


def test_environment_from_secret_is_refused_naming_the_variable() -> None:
    container = {
        "name": "c",
        "env": [{"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
    }
    with pytest.raises(ValueError, match="env 'KEY'"):
        kubelet.environment(container, POD, {})


def test_running_status_not_ready_then_ready() -> None:
    container = {"name": "c", "image": "img"}
    starting = kubelet.running_status(container, T0, T0, ready=False)
    assert starting["phase"] == "Running"
    assert starting["podIP"] == "127.0.0.1"
    assert {c["type"]: c["status"] for c in starting["conditions"]}["Ready"] == "False"
    last = kubelet.terminated_state(container, T0, T1, 1, "boom")
    ready = kubelet.running_status(container, T0, T1, ready=True, restarts=2, last_exit=last)
    (status,) = ready["containerStatuses"]
    assert status["ready"] is True
    assert status["restartCount"] == 2
    assert status["state"] == {"running": {"startedAt": "2026-01-02T03:04:05Z"}}
    assert status["lastState"]["terminated"]["message"] == "boom"
    assert {c["type"]: c["status"] for c in ready["conditions"]}["ContainersReady"] == "True"


@pytest.mark.parametrize(
    ("code", "phase", "reported", "reason"),
    [(0, "Succeeded", 0, "Completed"), (3, "Failed", 3, "Error"), (-15, "Failed", 143, "Error")],
)
def test_terminated_status(code: int, phase: str, reported: int, reason: str) -> None:
    status = kubelet.terminated_status({"name": "c"}, T0, T1, code, "report")
    assert status["phase"] == phase
    terminated = status["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == reported
    assert terminated["reason"] == reason
    assert terminated["message"] == "report"
    assert terminated["finishedAt"] == "2026-01-02T03:04:12Z"


def test_termination_message_keeps_the_last_4096_bytes() -> None:
    status = kubelet.terminated_status({"name": "c"}, T0, T1, 1, "x" * 5000 + "END")
    message = status["containerStatuses"][0]["state"]["terminated"]["message"]
    assert len(message) == 4096
    assert message.endswith("END")


@pytest.mark.parametrize(
    ("policy", "code", "restarts"),
    [
        ("Always", 0, True),
        ("Always", 1, True),
        ("OnFailure", 0, False),
        ("OnFailure", 2, True),
        ("Never", 2, False),
    ],
)
def test_restart_policy(policy: str, code: int, restarts: bool) -> None:
    assert kubelet.restarts_after_exit(policy, code) is restarts


def test_selector_names_the_shared_labels() -> None:
    selector = kubelet.label_selector()
    assert selector.startswith(f"{names.LABEL_MANAGED_BY}={names.MANAGER},")
    assert f"{names.LABEL_COMPONENT} in (" in selector
    assert names.COMPONENT_SERVER in selector and names.COMPONENT_OPTIMIZER in selector


def test_python_path_puts_this_source_first() -> None:
    root = kubelet.package_root()
    assert (root / "modelrollout" / "serve" / "command.py").is_file()
    assert kubelet.python_path(None, root) == str(root)
    assert kubelet.python_path("/elsewhere", root) == f"{root}:/elsewhere"


def test_secret_volumes_become_local_folders_named_in_env(tmp_path: Path) -> None:
    container = {
        "name": "server",
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "key", "mountPath": "/etc/key"}],
    }
    pod = {
        "spec": {
            "volumes": [
                {"name": "tmp", "emptyDir": {}},
                {"name": "key", "secret": {"secretName": "clf-feedback", "optional": True}},
            ]
        }
    }
    assert kubelet.secret_mounts(container, pod) == [("/etc/key", "clf-feedback", True)]
    env = {"KEY": "/etc/key/current", "OTHER": "/etc/keyring/x", "SAME": "/etc/key"}
    assert kubelet.remap_paths(env, {"/etc/key": tmp_path}) == {
        "KEY": f"{tmp_path}/current",
        "OTHER": "/etc/keyring/x",  # a prefix of the name, not of the path
        "SAME": str(tmp_path),
    }


@pytest.mark.parametrize(
    ("lifecycle", "seconds"),
    [
        ({"preStop": {"sleep": {"seconds": 5}}}, 5.0),
        ({"preStop": {"exec": {"command": ["true"]}}}, 0.0),
        ({}, 0.0),
        (None, 0.0),
    ],
)
def test_pre_stop_sleep(lifecycle: dict[str, object] | None, seconds: float) -> None:
    assert kubelet.pre_stop_seconds({"name": "c", "lifecycle": lifecycle}) == seconds


def test_grace_from_the_deletion_then_the_pod_then_the_default() -> None:
    spec = {"terminationGracePeriodSeconds": 30}
    assert kubelet.termination_grace({"metadata": {"deletionGracePeriodSeconds": 0}, "spec": spec}) == 0.0
    assert kubelet.termination_grace({"metadata": {}, "spec": spec}) == 30.0
    assert kubelet.termination_grace({"metadata": {}, "spec": {}}) == 30.0
