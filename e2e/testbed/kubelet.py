"""The process kubelet: runs the operator's own pods as local processes.

KWOK nodes run nothing. For the pods whose behaviour matters (inference servers and
optimization Jobs, see `stages.PROCESS_COMPONENTS`) this runs the first container's
command, args and env as a process on this machine and reports the outcome through
the pods/status subresource the way a kubelet does: Running, Ready once the server
answers its readiness endpoint, then Succeeded or Failed with the exit code and the
termination message. Deleting a pod does what a kubelet and the endpoints controller
do together: the pod leaves the endpoints at once, its container's preStop sleep runs,
then SIGTERM, SIGKILL when the grace period (counted from the deletion) runs out, and
the pod is removed. Running inference servers are listed for Prometheus.

The status documents are built by pure functions; the `ProcessKubelet` class is the
shell that watches, spawns and patches.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from kubernetes import client, watch
from kubernetes.client import exceptions

import modelrollout
from e2e.testbed import controlplane, processes, prometheus, stages
from modelrollout import names

logger = logging.getLogger(__name__)

POD_IP: Final = "127.0.0.1"
READY_PATH: Final = "/v2/health/ready"
TARGET_SOURCE: Final = "process-kubelet"  # its own file_sd file in the test bed's Prometheus
TERMINATION_MESSAGE_LIMIT: Final = 4096  # what a kubelet keeps of the message
_RESTART_BACKOFF_MAX_S: Final = 10.0


def label_selector() -> str:
    components = ",".join(stages.PROCESS_COMPONENTS)
    return f"{names.LABEL_MANAGED_BY}={names.MANAGER},{names.LABEL_COMPONENT} in ({components})"


# --- pure: what to run --------------------------------------------------------------------
def command_line(container: Mapping[str, Any], python: str = sys.executable) -> list[str]:
    """The container's command + args; `modelrollout` runs this interpreter's package."""
    argv = [*(container.get("command") or []), *(container.get("args") or [])]
    if not argv:
        raise ValueError(
            f"container {container.get('name')!r}: no command; the process kubelet cannot run an image's entry point"
        )
    if argv[0] == "modelrollout":
        return [python, "-m", "modelrollout", *argv[1:]]
    return argv


def package_root() -> Path:
    """The folder holding the `modelrollout` package this process runs."""
    return Path(modelrollout.__file__).resolve().parents[1]


def python_path(existing: str | None, root: Path) -> str:
    """PYTHONPATH with `root` first, so `python -m modelrollout` runs this same source
    (an installed copy elsewhere would otherwise win)."""
    return os.pathsep.join([str(root), *([existing] if existing else [])])


def environment(container: Mapping[str, Any], pod: Mapping[str, Any], extra: Mapping[str, str]) -> dict[str, str]:
    """Literal env values and the downward-API fields a pod commonly reads, then `extra`."""
    fields = {
        "metadata.name": pod["metadata"]["name"],
        "metadata.namespace": pod["metadata"]["namespace"],
        "metadata.uid": pod["metadata"].get("uid", ""),
        "spec.nodeName": pod["spec"].get("nodeName", ""),
        "status.podIP": POD_IP,
        "status.hostIP": POD_IP,
    }
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
        elif (path := item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")) in fields:
            env[item["name"]] = fields[str(path)]
        elif "valueFrom" in item:
            raise ValueError(
                f"container {container.get('name')!r} env {item['name']!r}: only literal values "
                f"and fieldRef {sorted(fields)} are supported by the process kubelet"
            )
        else:
            env[item["name"]] = ""
    env.update(extra)
    return env


def secret_mounts(container: Mapping[str, Any], pod: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    """(mount path, Secret name, optional) of each Secret volume the container mounts."""
    secrets = {v["name"]: v["secret"] for v in pod["spec"].get("volumes") or [] if isinstance(v.get("secret"), dict)}
    return [
        (m["mountPath"], secrets[m["name"]]["secretName"], bool(secrets[m["name"]].get("optional")))
        for m in container.get("volumeMounts") or []
        if m["name"] in secrets
    ]


def remap_paths(env: Mapping[str, str], mounts: Mapping[str, Path]) -> dict[str, str]:
    """Env values under a mount path, pointed at the local folder that stands for the mount.

    Processes share this machine's file system, so a mounted volume is a folder of the
    pod's own and the paths the pod's env names are rewritten to it.
    """
    out = dict(env)
    for name, value in env.items():
        for mount_path, local in mounts.items():
            if value == mount_path or value.startswith(mount_path.rstrip("/") + "/"):
                out[name] = str(local) + value[len(mount_path.rstrip("/")) :]
    return out


# --- pure: what to report -----------------------------------------------------------------
def _timestamp(when: datetime.datetime) -> str:
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _conditions(now: str, *, ready: bool) -> list[dict[str, str]]:
    flag = "True" if ready else "False"
    return [
        {"type": "Initialized", "status": "True", "lastTransitionTime": now},
        {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
        {"type": "Ready", "status": flag, "lastTransitionTime": now},
    ]


def running_status(
    container: Mapping[str, Any],
    started: datetime.datetime,
    now: datetime.datetime,
    *,
    ready: bool,
    restarts: int = 0,
    last_exit: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": "",
        "containerID": f"process://{container['name']}",
        "ready": ready,
        "started": True,
        "restartCount": restarts,
        "state": {"running": {"startedAt": _timestamp(started)}},
    }
    if last_exit is not None:
        status["lastState"] = {"terminated": dict(last_exit)}
    return {
        "phase": "Running",
        "podIP": POD_IP,
        "podIPs": [{"ip": POD_IP}],
        "hostIP": POD_IP,
        "hostIPs": [{"ip": POD_IP}],
        "startTime": _timestamp(started),
        "conditions": _conditions(_timestamp(now), ready=ready),
        "containerStatuses": [status],
    }


def terminated_state(
    container: Mapping[str, Any],
    started: datetime.datetime,
    finished: datetime.datetime,
    exit_code: int,
    message: str,
) -> dict[str, Any]:
    """A container's `state.terminated` (or `lastState.terminated` after a restart)."""
    return {
        # Killed by a signal: a container runtime reports 128 + the signal number.
        "exitCode": exit_code if exit_code >= 0 else 128 - exit_code,
        "reason": "Completed" if exit_code == 0 else "Error",
        "message": message[-TERMINATION_MESSAGE_LIMIT:],
        "startedAt": _timestamp(started),
        "finishedAt": _timestamp(finished),
        "containerID": f"process://{container['name']}",
    }


def terminated_status(
    container: Mapping[str, Any],
    started: datetime.datetime,
    finished: datetime.datetime,
    exit_code: int,
    message: str,
) -> dict[str, Any]:
    """Succeeded on exit 0, else Failed; the message is the termination log's content."""
    terminated = terminated_state(container, started, finished, exit_code, message)
    return {
        "phase": "Succeeded" if exit_code == 0 else "Failed",
        "podIP": POD_IP,
        "podIPs": [{"ip": POD_IP}],
        "hostIP": POD_IP,
        "startTime": _timestamp(started),
        "conditions": _conditions(_timestamp(finished), ready=False),
        "containerStatuses": [
            {
                "name": container["name"],
                "image": container.get("image", ""),
                "imageID": "",
                "ready": False,
                "started": False,
                "restartCount": 0,
                "state": {"terminated": terminated},
            }
        ],
    }


def pre_stop_seconds(container: Mapping[str, Any]) -> float:
    """The container's preStop sleep; 0 for none. Exec and HTTP hooks are not run here."""
    hook = (container.get("lifecycle") or {}).get("preStop") or {}
    return float((hook.get("sleep") or {}).get("seconds", 0))


def termination_grace(pod: Mapping[str, Any]) -> float:
    """What the deletion asked for, else the pod's own, else Kubernetes' default."""
    grace = pod["metadata"].get("deletionGracePeriodSeconds")
    if grace is None:
        grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
    return float(grace)


def restarts_after_exit(restart_policy: str, exit_code: int) -> bool:
    return restart_policy == "Always" or (restart_policy == "OnFailure" and exit_code != 0)


@dataclasses.dataclass(frozen=True)
class Endpoint:
    namespace: str
    pod: str
    labels: Mapping[str, str]
    port: int


# --- the shell ----------------------------------------------------------------------------
@dataclasses.dataclass
class _Run:
    """One pod's process and what is known about it."""

    pod: dict[str, Any]
    work: Path
    port: int | None
    proc: subprocess.Popen[bytes] | None = None
    started: datetime.datetime = dataclasses.field(default_factory=lambda: datetime.datetime.now(datetime.UTC))
    deleting: bool = False
    ready: bool = False
    done: threading.Event = dataclasses.field(default_factory=threading.Event)

    @property
    def key(self) -> str:
        return f"{self.pod['metadata']['namespace']}/{self.pod['metadata']['name']}"

    @property
    def termination_log(self) -> Path:
        return self.work / "termination-log"


class ProcessKubelet:
    """Watches the process pods of a cluster and runs them; a context manager."""

    def __init__(
        self,
        api_client: client.ApiClient,
        *,
        work_dir: Path | None = None,
        prometheus_server: prometheus.Prometheus | None = None,
        python: str = sys.executable,
        now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self.api = client.CoreV1Api(api_client)
        self._own_dir = work_dir is None
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="modelrollout-kubelet-"))
        self.prometheus = prometheus_server
        self.python = python
        self.now = now
        self._runs: dict[str, _Run] = {}  # by pod uid
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watch = watch.Watch()
        self._thread: threading.Thread | None = None
        self._workers: list[threading.Thread] = []

    def __enter__(self) -> ProcessKubelet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch_loop, name="process-kubelet", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop watching and end every process (SIGTERM, then SIGKILL)."""
        self._stopping.set()
        self._watch.stop()
        with self._lock:
            runs = list(self._runs.values())
        processes.terminate_all([run.proc for run in runs], grace=timeout / 2)
        for worker in [*self._workers, *([self._thread] if self._thread else [])]:
            worker.join(timeout)
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def running(self) -> dict[str, int]:
        """namespace/name of each pod with a live process, with its pid."""
        with self._lock:
            return {
                run.key: run.proc.pid for run in self._runs.values() if run.proc is not None and run.proc.poll() is None
            }

    def endpoints(self) -> list[Endpoint]:
        """Ready inference servers, as a Service's endpoints would list them."""
        with self._lock:
            return [
                Endpoint(
                    namespace=run.pod["metadata"]["namespace"],
                    pod=run.pod["metadata"]["name"],
                    labels=dict(run.pod["metadata"].get("labels") or {}),
                    port=run.port,
                )
                for run in self._runs.values()
                if run.port is not None
                and run.ready
                and not run.deleting
                and run.proc is not None
                and run.proc.poll() is None
            ]

    # --- watching -------------------------------------------------------------------------
    def _watch_loop(self) -> None:
        selector = label_selector()
        version = ""
        while not self._stopping.is_set():
            try:
                if not version:
                    listed = self.api.list_pod_for_all_namespaces(label_selector=selector)
                    for pod in listed.items:
                        self._handle("ADDED", self.api.api_client.sanitize_for_serialization(pod))
                    version = (listed.metadata.resource_version if listed.metadata else "") or ""
                for event in self._watch.stream(
                    self.api.list_pod_for_all_namespaces,
                    label_selector=selector,
                    resource_version=version,
                    timeout_seconds=10,  # bounds how long stop() waits for this thread
                    allow_watch_bookmarks=True,
                ):
                    if self._stopping.is_set():
                        return
                    obj = event["object"]
                    body = self.api.api_client.sanitize_for_serialization(obj)
                    version = body.get("metadata", {}).get("resourceVersion", version)
                    if event["type"] != "BOOKMARK":
                        self._handle(event["type"], body)
            except exceptions.ApiException as error:
                if error.status == 410:  # history compacted: list again
                    version = ""
                    continue
                logger.warning("pod watch failed: %s", error)
                self._stopping.wait(1.0)
            except Exception:
                if self._stopping.is_set():
                    return
                logger.exception("pod watch broke; reconnecting")
                self._stopping.wait(1.0)

    def _handle(self, kind: str, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        with self._lock:
            run = self._runs.get(uid)
        if kind == "DELETED":
            if run is not None:
                run.deleting = True
                processes.terminate(run.proc, grace=0)
            return
        if pod["metadata"].get("deletionTimestamp"):
            if run is None:
                self._delete_now(pod)
            elif not run.deleting:
                run.deleting = True
                self._spawn_worker(self._delete, run, pod)
            return
        if run is not None or not pod["spec"].get("nodeName"):
            return
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return  # finished before this kubelet started: nothing to run
        run = self._new_run(pod)
        with self._lock:
            self._runs[uid] = run
        self._spawn_worker(self._run, run)

    def _spawn_worker(self, target: Callable[..., None], *args: Any) -> None:
        worker = threading.Thread(target=target, args=args, daemon=True)
        self._workers.append(worker)
        worker.start()

    def _new_run(self, pod: dict[str, Any]) -> _Run:
        work = self.work_dir / f"{pod['metadata']['namespace']}_{pod['metadata']['name']}"
        work.mkdir(parents=True, exist_ok=True)
        server = pod["metadata"].get("labels", {}).get(names.LABEL_COMPONENT) == names.COMPONENT_SERVER
        port = controlplane.free_ports(1)[0] if server else None
        return _Run(pod=pod, work=work, port=port)

    # --- one pod ----------------------------------------------------------------------------
    def _run(self, run: _Run) -> None:
        pod = run.pod
        container = pod["spec"]["containers"][0]
        policy = pod["spec"].get("restartPolicy", "Always")
        restarts, last_exit = 0, None
        backoff = 1.0
        while not self._stopping.is_set() and not run.deleting:
            try:
                argv = command_line(container, self.python)
                extra = {names.ENV_TERMINATION_LOG: str(run.termination_log)}
                if run.port is not None:
                    extra[names.ENV_PORT] = str(run.port)
                    extra[names.ENV_GRPC_PORT] = "0"  # pods share the host: gRPC on a free port
                if argv[:3] == [self.python, "-m", "modelrollout"]:
                    extra["PYTHONPATH"] = python_path(os.environ.get("PYTHONPATH"), package_root())
                env = {**os.environ, **self._with_secrets(run, container, environment(container, pod, extra))}
            except ValueError as error:
                self._patch(run, terminated_status(container, run.started, self.now(), 1, str(error)))
                break
            run.termination_log.write_text("")
            process_started = self.now()
            with (run.work / "output.log").open("ab") as log:
                try:
                    run.proc = processes.spawn(argv, log, cwd=run.work, env=env)
                except OSError as error:
                    message = f"cannot start {argv[0]!r}: {error}"
                    self._patch(run, terminated_status(container, run.started, self.now(), 127, message))
                    break
            self._patch(
                run,
                running_status(
                    container,
                    run.started,
                    self.now(),
                    ready=False,
                    restarts=restarts,
                    last_exit=last_exit,
                ),
            )
            if self._wait_ready(run):
                run.ready = True
                self._patch(
                    run,
                    running_status(
                        container,
                        run.started,
                        self.now(),
                        ready=True,
                        restarts=restarts,
                        last_exit=last_exit,
                    ),
                )
                self._publish_targets()
            code = run.proc.wait()
            run.ready = False
            message = run.termination_log.read_text(errors="replace")
            self._publish_targets()
            if run.deleting or self._stopping.is_set():
                break
            if not restarts_after_exit(policy, code):
                self._patch(run, terminated_status(container, run.started, self.now(), code, message))
                break
            last_exit = terminated_state(container, process_started, self.now(), code, message)
            restarts += 1
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, _RESTART_BACKOFF_MAX_S)
        run.done.set()

    def _with_secrets(self, run: _Run, container: Mapping[str, Any], env: dict[str, str]) -> dict[str, str]:
        """Project the pod's Secret volumes into folders of its own, as a kubelet would mount them."""
        namespace = run.pod["metadata"]["namespace"]
        mounts: dict[str, Path] = {}
        for index, (mount_path, secret_name, optional) in enumerate(secret_mounts(container, run.pod)):
            folder = run.work / "secrets" / str(index)
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            try:
                secret = self.api.read_namespaced_secret(secret_name, namespace)
            except exceptions.ApiException as error:
                if error.status != 404 or not optional:
                    raise ValueError(f"secret {secret_name!r} for {mount_path}: {error.reason}") from None
                secret = None
            for key, value in ((secret.data or {}) if secret is not None else {}).items():
                (folder / key).write_bytes(base64.b64decode(value))
            mounts[mount_path] = folder
        return remap_paths(env, mounts)

    def _wait_ready(self, run: _Run) -> bool:
        """Ready: a server answers its readiness endpoint; any other process once started."""
        if run.port is None:
            return run.proc is not None and run.proc.poll() is None
        url = f"http://127.0.0.1:{run.port}{READY_PATH}"
        while run.proc is not None and run.proc.poll() is None and not run.deleting:
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        return False

    def _delete(self, run: _Run, pod: dict[str, Any]) -> None:
        # `run.deleting` already took the pod out of `endpoints()`, as the endpoints
        # controller does on the deletion timestamp; the hook's sleep is the time clients
        # have to notice while the server still answers everything.
        grace = termination_grace(pod)
        deadline = time.monotonic() + grace
        if run.proc is not None and run.proc.poll() is None:
            self._stopping.wait(min(pre_stop_seconds(pod["spec"]["containers"][0]), grace))
        # A kubelet gives at least two seconds after a hook that used up the grace period.
        processes.terminate(run.proc, grace=max(deadline - time.monotonic(), 2.0))
        run.done.wait(grace + 5)
        self._publish_targets()
        self._delete_now(pod)
        with self._lock:
            self._runs.pop(pod["metadata"]["uid"], None)

    def _delete_now(self, pod: dict[str, Any]) -> None:
        with contextlib.suppress(exceptions.ApiException):
            self.api.delete_namespaced_pod(
                pod["metadata"]["name"],
                pod["metadata"]["namespace"],
                grace_period_seconds=0,
                body=client.V1DeleteOptions(
                    grace_period_seconds=0,
                    preconditions=client.V1Preconditions(uid=pod["metadata"]["uid"]),
                ),
            )

    def _patch(self, run: _Run, status: dict[str, Any]) -> None:
        meta = run.pod["metadata"]
        try:
            self.api.patch_namespaced_pod_status(meta["name"], meta["namespace"], {"status": status})
        except exceptions.ApiException as error:
            if error.status != 404:  # a pod deleted meanwhile needs no status
                logger.warning("status of %s: %s", run.key, error)

    def _publish_targets(self) -> None:
        if self.prometheus is None:
            return
        with self._lock:
            targets = [
                prometheus.Target(
                    f"127.0.0.1:{run.port}",
                    {
                        "namespace": run.pod["metadata"]["namespace"],
                        "pod": run.pod["metadata"]["name"],
                    },
                )
                for run in self._runs.values()
                if run.port is not None and run.proc is not None and run.proc.poll() is None and not run.deleting
            ]
        # A pod still draining when the test bed shuts down may outlive Prometheus's folder.
        with contextlib.suppress(FileNotFoundError):
            self.prometheus.set_targets(targets, source=TARGET_SOURCE)
