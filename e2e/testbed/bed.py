"""The whole local test bed for rollouts: cluster, Prometheus, process kubelet, operator.

The demo and the end-to-end scenarios both stand on this, so what the README shows a
newcomer is exactly what the tests check.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from kubernetes import client

from e2e.testbed import binaries, controlplane, kubelet, prometheus, traffic
from e2e.testbed import kubectl as kubectl_cli
from e2e.testbed.operators import OperatorProcess
from modelrollout import names
from modelrollout.api import crds
from modelrollout.pools import profiles

Body = dict[str, Any]


class Timeout(AssertionError):
    pass


class Bed:
    def __init__(
        self,
        *,
        pools: Sequence[str] | None = None,
        work_dir: Path | None = None,
        resync_seconds: float = 300.0,
        rbac: Path | None = None,
        plane: controlplane.ControlPlane | None = None,
        prometheus_server: prometheus.Prometheus | None = None,
        process_kubelet: kubelet.ProcessKubelet | None = None,
    ) -> None:
        """Components passed in are used as they are (and left running); the rest are started.

        `rbac`: a kustomize folder with the operator's ServiceAccount and ClusterRole;
        when given, the operator runs with that account's token, so RBAC is enforced.
        """
        self._own_dir = work_dir is None
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="modelrollout-bed-"))
        self.pools = pools
        self.resync_seconds = resync_seconds
        self.rbac = rbac
        self._stack = contextlib.ExitStack()
        self._given = (plane, prometheus_server, process_kubelet)
        self.operator: OperatorProcess
        self.kubectl: kubectl_cli.Kubectl
        self.custom: client.CustomObjectsApi

    @property
    def artifacts(self) -> Path:
        return self.work_dir / "artifacts"

    def __enter__(self) -> Bed:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        plane, server, running = self._given
        self.plane = plane or self._stack.enter_context(
            controlplane.ControlPlane(
                binaries.build_control_plane(), pools=self.pools, process_pods=True, work_dir=self.work_dir / "cluster"
            )
        )
        self.prometheus = server or self._stack.enter_context(
            prometheus.Prometheus(work_dir=self.work_dir / "prometheus")
        )
        self.kubelet = running or self._stack.enter_context(
            kubelet.ProcessKubelet(
                self.plane.api_client(), prometheus_server=self.prometheus, work_dir=self.work_dir / "pods"
            )
        )
        self.kubectl = kubectl_cli.Kubectl(self.plane.kubeconfig_path)
        crd_file = self.work_dir / "crd.yaml"
        crd_file.write_text(crds.render())
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crd_file))
        self.kubectl("wait", "--for=condition=Established", f"crd/{names.CRD_NAME}", "--timeout=60s")
        self.custom = client.CustomObjectsApi(self.plane.api_client())
        self.artifacts.mkdir(parents=True, exist_ok=True)
        kubeconfig = self.plane.kubeconfig_path
        if self.rbac is not None:
            applied = yaml.safe_load_all(self.kubectl("kustomize", str(self.rbac)))
            account = next(d for d in applied if d and d["kind"] == "ServiceAccount")["metadata"]
            self.kubectl.run("create", "namespace", account["namespace"], check=False)
            self.kubectl("apply", "-k", str(self.rbac))
            kubeconfig = self.plane.service_account_kubeconfig(account["namespace"], account["name"])
        self.operator = OperatorProcess(
            self.work_dir,
            kubeconfig,
            {
                "image": "modelrollout:dev",
                "artifactStore": self.artifacts.as_uri(),
                "resyncSeconds": self.resync_seconds,
                "pools": simulated_pools(),
            },
        )
        self.operator.start()
        self._stack.callback(self.operator.stop)

    def stop(self) -> None:
        self._stack.close()
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    # --- driving ModelDeployments ---------------------------------------------------------

    def apply(self, body: Body) -> None:
        path = self.work_dir / f"{body['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(body))
        self.kubectl("apply", "-f", str(path))

    def get(self, namespace: str, name: str) -> Body:
        found: Body = self.custom.get_namespaced_custom_object(
            names.GROUP, names.VERSION, namespace, names.PLURAL, name
        )
        return found

    def annotate(self, namespace: str, name: str, key: str, value: str | None) -> None:
        arg = f"{key}-" if value is None else f"{key}={value}"
        self.kubectl("annotate", "--overwrite", "-n", namespace, f"{names.SINGULAR}/{name}", arg)

    def wait(
        self,
        namespace: str,
        name: str,
        until: Callable[[Body], bool],
        *,
        timeout: float,
        what: str,
        on_poll: Callable[[Body], None] | None = None,
    ) -> Body:
        """Poll the resource until `until` holds; fail with its last status otherwise."""
        deadline = time.monotonic() + timeout
        body: Body = {}
        while time.monotonic() < deadline:
            body = self.get(namespace, name)
            if on_poll is not None:
                on_poll(body)
            if until(body):
                return body
            time.sleep(0.5)
        status = yaml.safe_dump(body.get("status", {}), sort_keys=False)[:3000]
        raise Timeout(
            f"{what}: not reached in {timeout:.0f}s\nstatus:\n{status}\noperator log:\n{self.operator.tail()}"
        )

    def endpoints(self, namespace: str, name: str) -> list[tuple[str, int]]:
        """(version, port) of the instance's ready servers: a Service's endpoints."""
        return [
            (e.labels.get(names.LABEL_VERSION, ""), e.port)
            for e in self.kubelet.endpoints()
            if e.namespace == namespace and e.labels.get(names.LABEL_INSTANCE) == name
        ]

    def traffic(self, namespace: str, name: str, model: str, *, rate: float = 40.0) -> traffic.Traffic:
        return traffic.Traffic(model=model, endpoints=lambda: self.endpoints(namespace, name), rate=rate)

    def events(self, namespace: str, name: str) -> list[tuple[str, str, str]]:
        """(type, reason, message) of the Events on one ModelDeployment, oldest first."""
        items = (
            client.CoreV1Api(self.plane.api_client())
            .list_namespaced_event(
                namespace, field_selector=f"involvedObject.name={name},involvedObject.kind={names.KIND}"
            )
            .items
        )
        items.sort(key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp)
        return [(e.type, e.reason, e.message) for e in items]


def simulated_pools() -> dict[str, Any]:
    """The default pool profiles with every device set to CPU.

    KWOK nodes have no GPU or NPU behind their extended resources, and the pods run as
    processes on this machine; the profiles still place pods on the right nodes with
    the right requests and tolerations, which is what the test bed checks.
    """
    return {
        name: {
            **profile.model_dump(mode="json", by_alias=True, exclude={"name"}),
            "devices": {"onnxruntime": "CPU", "openvino": "CPU"},
        }
        for name, profile in profiles.defaults().items()
    }


def settled(body: Body) -> bool:
    """The operator has acted on the latest spec (what `kubectl wait` and Argo CD look at)."""
    return bool(body.get("status", {}).get("observedGeneration") == body["metadata"].get("generation"))


def phase(body: Body) -> str:
    return str(body.get("status", {}).get("phase", ""))


def condition(body: Body, type_: str) -> dict[str, Any]:
    for cond in body.get("status", {}).get("conditions", []):
        if cond.get("type") == type_:
            return dict(cond)
    return {}
