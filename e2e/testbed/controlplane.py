"""A real Kubernetes control plane as plain processes on 127.0.0.1.

etcd, kube-apiserver (token authentication, `Node,RBAC` authorization, a generated
service-account key), kube-controller-manager, kube-scheduler and KWOK, each on free
loopback ports, with all state in one work directory. `ControlPlane` is a context
manager; `stop()` leaves no process behind, also after a failed start.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final, TextIO, cast

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from kubernetes import client, config
from kubernetes.client import exceptions

from e2e.testbed import audits, binaries, nodes, processes, stages
from modelrollout import names

ADMIN_USER: Final = "testbed-admin"
SERVICE_CIDR: Final = "10.96.0.0/12"
POD_CIDR: Final = "10.0.0.0/16"
SA_ISSUER: Final = "https://kubernetes.default.svc.cluster.local"


class StartError(RuntimeError):
    """A component did not come up; the message carries the tail of its log."""


@dataclasses.dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int

    @classmethod
    def free(cls) -> Ports:
        return cls(*free_ports(5))


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free on 127.0.0.1 right now (held open together to stay distinct)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def etcd_args(work: Path, ports: Ports) -> list[str]:
    client_url = f"http://127.0.0.1:{ports.etcd_client}"
    peer_url = f"http://127.0.0.1:{ports.etcd_peer}"
    return [
        "--name=testbed",
        f"--data-dir={work / 'etcd'}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=testbed={peer_url}",
        "--unsafe-no-fsync",  # throwaway data: durability costs seconds on every write
        "--log-level=warn",
    ]


def apiserver_args(work: Path, ports: Ports) -> list[str]:
    return [
        f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={ports.apiserver}",
        f"--cert-dir={work / 'certs'}",
        f"--token-auth-file={work / 'tokens.csv'}",
        "--authorization-mode=Node,RBAC",
        f"--service-account-issuer={SA_ISSUER}",
        f"--service-account-key-file={work / 'sa.key'}",
        f"--service-account-signing-key-file={work / 'sa.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        # The `kubernetes` Service's endpoint would be 127.0.0.1, which is refused.
        "--endpoint-reconciler-type=none",
        "--allow-privileged=true",
        # What service accounts (the operator) ask for, to prove RBAC from real calls.
        f"--audit-policy-file={work / 'audit-policy.yaml'}",
        f"--audit-log-path={work / 'logs' / 'audit.log'}",
        "--audit-log-format=json",
        "--v=1",
    ]


def _client_args(work: Path, port: int) -> list[str]:
    """What controller-manager and scheduler share: the admin kubeconfig, loopback, no election."""
    kubeconfig = work / "kubeconfig"
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--v=1",
    ]


def controller_manager_args(work: Path, ports: Ports) -> list[str]:
    return [
        *_client_args(work, ports.controller_manager),
        f"--service-account-private-key-file={work / 'sa.key'}",
        f"--root-ca-file={work / 'ca.crt'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--node-monitor-grace-period=40s",
        "--concurrent-gc-syncs=5",
    ]


def scheduler_args(work: Path, ports: Ports) -> list[str]:
    return _client_args(work, ports.scheduler)


def kwok_args(work: Path) -> list[str]:
    return [
        f"--kubeconfig={work / 'kubeconfig'}",
        f"--config={work / 'kwok-stages.yaml'}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={nodes.KWOK_NODE_SELECTOR}",
        f"--cidr={POD_CIDR}",
        "--node-ip=127.0.0.1",
        "--node-lease-duration-seconds=40",
    ]


def kubeconfig(server: str, token: str, ca_file: Path, user: str = ADMIN_USER) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "testbed",
                "cluster": {"server": server, "certificate-authority": str(ca_file)},
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "testbed", "context": {"cluster": "testbed", "user": user}}],
        "current-context": "testbed",
    }


def ca_certificates(bundle: bytes) -> bytes:
    """The CA certificates of a PEM bundle.

    The API server's generated `apiserver.crt` holds the serving certificate followed
    by its CA; a trust bundle (the controller-manager's `--root-ca-file`, published to
    pods and ClusterTrustBundles) must hold CAs only.
    """
    found = []
    for cert in x509.load_pem_x509_certificates(bundle):
        with contextlib.suppress(x509.ExtensionNotFound):
            if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
                found.append(cert.public_bytes(serialization.Encoding.PEM))
    if not found:
        raise ValueError("no CA certificate in the bundle")
    return b"".join(found)


def _exit(proc: subprocess.Popen[bytes], deadline: float) -> None:
    try:
        proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _exit_unreaped(proc: subprocess.Popen[bytes], deadline: float) -> None:
    """Wait for `proc` to exit (SIGKILL at `deadline`) but leave it unreaped."""
    if proc.returncode is not None:
        return
    flags = os.WEXITED | os.WNOWAIT
    while os.waitid(os.P_PID, proc.pid, flags | os.WNOHANG) is None:
        if time.monotonic() > deadline:
            proc.kill()
            os.waitid(os.P_PID, proc.pid, flags)
            return
        time.sleep(0.05)


class ControlPlane(processes.Supervised):
    """A control plane in `work_dir` (a fresh temp dir by default)."""

    def __init__(
        self,
        bins: binaries.ControlPlaneBinaries,
        *,
        work_dir: Path | None = None,
        pools: Sequence[str] | None = None,
        counts: Mapping[str, int] | None = None,
        process_pods: bool = False,
        keep_work_dir: bool = False,
        start_timeout: float = 90.0,
    ) -> None:
        """`pools`: node pools of `nodepools.yaml` to create (all when None); `counts`:
        nodes per pool instead of the file's `count` (e.g. a wide cpu pool for scale runs).

        `process_pods`: leave the operator's inference-server and optimizer pods to the
        process kubelet instead of KWOK.
        """
        self.bins = bins
        self.pools = nodes.with_counts(nodes.select(nodes.load_pools(), pools), counts or {})  # fail before I/O
        self._own_dir = work_dir is None
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="modelrollout-testbed-"))
        self.process_pods = process_pods
        self.keep_work_dir = keep_work_dir
        self.start_timeout = start_timeout
        self.ports = Ports.free()
        self.token = secrets.token_urlsafe(32)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[TextIO] = []
        self._group: int | None = None

    # --- public face -------------------------------------------------------------------
    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    @property
    def kubeconfig_path(self) -> Path:
        return self.work_dir / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        """The CA of the API server's self-signed serving certificate."""
        return self.work_dir / "ca.crt"

    @property
    def node_names(self) -> list[str]:
        return [name for pool in self.pools for name in pool.node_names()]

    def log_path(self, component: str) -> Path:
        return self.work_dir / "logs" / f"{component}.log"

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the clients of the API server, then the API server, then etcd; reap all.

        Each step gets SIGTERM and `timeout` seconds, then SIGKILL: an API server whose
        etcd is gone first spends its shutdown retrying.
        """
        servers = ("kube-apiserver", "etcd")
        steps = [[n for n in self._procs if n not in servers], *[[n] for n in servers]]
        leader = next((p for p in self._procs.values() if p.pid == self._group), None)
        for step in steps:
            procs = [self._procs[n] for n in step if n in self._procs]
            for proc in procs:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for proc in procs:
                if proc is leader:
                    _exit_unreaped(proc, deadline)
                else:
                    _exit(proc, deadline)
        if self._group is not None and leader is not None and leader.returncode is None:
            # The group leader is a zombie until reaped, so its group id cannot have been
            # reused: whatever a component started itself dies here.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._group, signal.SIGKILL)
        for proc in self._procs.values():
            proc.wait()
        self._procs.clear()
        self._group = None
        for log in self._logs:
            log.close()
        self._logs.clear()
        if self._own_dir and not self.keep_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def restart_apiserver(self, down: float = 0.0, timeout: float = 15.0) -> None:
        """SIGTERM the API server, leave it down `down` seconds, start it again until ready.

        Same flags, certificates and signing key: its clients' kubeconfigs and tokens stay
        valid, as with an API server restarted by an upgrade or a crash.
        """
        proc = self._procs["kube-apiserver"]
        proc.send_signal(signal.SIGTERM)
        _exit(proc, time.monotonic() + timeout)
        time.sleep(down)
        self._spawn("kube-apiserver", [str(self.bins.kube_apiserver), *apiserver_args(self.work_dir, self.ports)])
        deadline = time.monotonic() + self.start_timeout
        self._wait("kube-apiserver", deadline, lambda: self._https_ok(self.ports.apiserver, "/readyz"))

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self._procs.items()}

    # --- start-up ------------------------------------------------------------------------
    def _start(self) -> None:
        work = self.work_dir
        (work / "logs").mkdir(parents=True, exist_ok=True)
        self._write_secrets()
        audits.write_policy(work / "audit-policy.yaml")
        composed = stages.compose(stages.load_stages(), skip_process_pods=self.process_pods)
        (work / "kwok-stages.yaml").write_text(stages.render(composed))

        deadline = time.monotonic() + self.start_timeout
        self._spawn("etcd", [str(self.bins.etcd), *etcd_args(work, self.ports)])
        self._wait("etcd", deadline, self._etcd_healthy)
        self._spawn(
            "kube-apiserver",
            [str(self.bins.kube_apiserver), *apiserver_args(work, self.ports)],
        )
        self._wait("kube-apiserver", deadline, lambda: self._https_ok(self.ports.apiserver, "/readyz"))
        self.ca_file.write_bytes(ca_certificates((work / "certs" / "apiserver.crt").read_bytes()))
        self.kubeconfig_path.write_text(yaml.safe_dump(kubeconfig(self.server, self.token, self.ca_file)))
        self._spawn(
            "kube-controller-manager",
            [str(self.bins.kube_controller_manager), *controller_manager_args(work, self.ports)],
        )
        self._spawn("kube-scheduler", [str(self.bins.kube_scheduler), *scheduler_args(work, self.ports)])
        self._spawn("kwok", [str(self.bins.kwok), *kwok_args(work)])
        self._wait(
            "kube-controller-manager",
            deadline,
            lambda: self._https_ok(self.ports.controller_manager, "/healthz"),
        )
        self._wait("kube-scheduler", deadline, lambda: self._https_ok(self.ports.scheduler, "/healthz"))
        api = self.core_api()
        nodes.create_nodes(api, nodes.node_manifests(self.pools, names.LABEL_NODE_POOL))
        try:
            nodes.wait_ready(api, self.node_names, max(1.0, deadline - time.monotonic()))
        except TimeoutError as error:
            raise StartError(f"{error}\n{self._tail('kwok')}") from error
        self._wait("default service account", deadline, self._default_service_account)

    def _write_secrets(self) -> None:
        work = self.work_dir
        (work / "tokens.csv").write_text(f"{self.token},{ADMIN_USER},{ADMIN_USER},system:masters\n")
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (work / "sa.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        for secret in ("tokens.csv", "sa.key"):
            (work / secret).chmod(0o600)

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = self.log_path(name).open("a")  # a restarted component's log goes on
        self._logs.append(log)
        proc = processes.spawn(argv, log, cwd=self.work_dir, group=self._group)
        if self._group is None:
            self._group = proc.pid
        self._procs[name] = proc

    def _wait(self, name: str, deadline: float, probe: Callable[[], bool]) -> None:
        while True:
            for component, proc in self._procs.items():
                if proc.poll() is not None:
                    raise StartError(
                        f"{component} exited with {proc.returncode} while waiting for {name}\n{self._tail(component)}"
                    )
            if probe():
                return
            if time.monotonic() > deadline:
                component = name if name in self._procs else list(self._procs)[-1]
                raise StartError(f"{name} not ready in {self.start_timeout:.0f}s\n{self._tail(component)}")
            time.sleep(0.1)

    def _tail(self, component: str, lines: int = 30) -> str:
        path = self.log_path(component)
        text = path.read_text(errors="replace") if path.exists() else ""
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last {lines} lines of {path} ---\n{tail}"

    # --- probes ----------------------------------------------------------------------------
    def _etcd_healthy(self) -> bool:
        url = f"http://127.0.0.1:{self.ports.etcd_client}/health"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return b'"health":"true"' in response.read()
        except (urllib.error.URLError, OSError):
            return False

    def _https_ok(self, port: int, path: str) -> bool:
        # The serving certificates are self-signed and made at start-up; this only
        # asks "is it up", so it skips verification (clients use the kubeconfig's CA).
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        request = urllib.request.Request(
            f"https://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=2, context=context) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _default_service_account(self) -> bool:
        # Pod admission refuses pods until the controller-manager made this account.
        try:
            self.core_api().read_namespaced_service_account("default", "default")
        except exceptions.ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    # --- clients ---------------------------------------------------------------------------
    def api_client(self) -> client.ApiClient:
        made = config.new_client_from_config(config_file=str(self.kubeconfig_path))
        return cast(client.ApiClient, made)

    def core_api(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client())

    def service_account_kubeconfig(self, namespace: str, name: str, *, hours: int = 24) -> Path:
        """A kubeconfig acting as ServiceAccount `namespace/name` (created if missing).

        The operator runs with this, so its ClusterRole is what RBAC enforces, as in a
        cluster; the admin kubeconfig would bypass RBAC through system:masters.
        """
        api = self.core_api()
        try:
            api.create_namespaced_service_account(
                namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
            )
        except exceptions.ApiException as error:
            if error.status != 409:
                raise
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=hours * 3600)
        )
        issued = api.create_namespaced_service_account_token(name, namespace, request)
        if issued.status is None or not issued.status.token:
            raise RuntimeError(f"no token issued for service account {namespace}/{name}")
        path = self.work_dir / f"kubeconfig-{namespace}-{name}"
        user = f"system:serviceaccount:{namespace}:{name}"
        path.write_text(yaml.safe_dump(kubeconfig(self.server, issued.status.token, self.ca_file, user)))
        path.chmod(0o600)
        return path
