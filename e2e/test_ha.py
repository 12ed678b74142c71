"""Two replicas with Kopf peering: only one acts, and when it dies the other finishes the rollout.

A bare control plane (KWOK pods only, optimization off: nothing here needs a real
server), the peering CRD and object, and two operator processes under the one
ServiceAccount, each with its own pod name (hence its own priority), as the shipped
Deployment runs them. The standby must write nothing: each replica's client counts its
requests by method (`/metrics`), and every Event names the replica that posted it.
The active one is then SIGKILLed mid-canary, as in a node failure, and the rollout is
promoted at once: the standby has to notice the leader is gone and act on it.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from e2e.testbed import bare, operators
from e2e.testbed import kubectl as kubectl_cli
from e2e.testbed.operators import OperatorProcess
from modelrollout import names
from modelrollout.handlers import command

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
FAILOVER = 30.0  # seconds: the target, with the default peering lifetime
# Longer than Kopf's own retries (about 54 s by default): only endless retries ride it out.
OUTAGE = 70.0
WRITES = ("POST", "PUT", "PATCH", "DELETE")
_REQUESTS = re.compile(r'^modelrollout_api_requests_total\{[^}]*method="([A-Z]+)"[^}]*\} ([0-9.e+]+)$', re.M)


def writes(operator: OperatorProcess) -> float:
    """Write requests the replica's own client made so far."""
    return sum(float(count) for method, count in _REQUESTS.findall(operator.metrics()) if method in WRITES)


def spec(version: str) -> dict[str, Any]:
    return {
        "model": {"name": "classifier", "version": version, "uri": f"file:///m/{version}/model.onnx"},
        "optimization": {"enabled": False},
        "serving": {"replicas": 1},
        # The first step waits an hour: only the promotion after the kill moves it on.
        "rollout": {"steps": [{"weight": 50, "pause": "1h"}, {"weight": 100}]},
    }


@dataclass
class Pair:
    active: OperatorProcess
    standby: OperatorProcess
    names: dict[int, str]  # id() of each replica -> its pod name

    def name(self, operator: OperatorProcess) -> str:
        return self.names[id(operator)]


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bare.Bare]:
    with bare.started(tmp_path_factory, "ha") as started:
        kubectl = kubectl_cli.Kubectl(started.plane.kubeconfig_path)
        kubectl("apply", "-f", str(REPO / "manifests" / "crd" / "kopf-peering-crd.yaml"))
        kubectl("wait", "--for=condition=Established", "crd/clusterkopfpeerings.kopf.dev", "--timeout=60s")
        kubectl("apply", "-f", str(REPO / "manifests" / "crd" / "peering.yaml"))
        yield started


@pytest.fixture(scope="module")
def pair(bed: bare.Bare) -> Iterator[Pair]:
    pods = ("modelrollout-operator-a", "modelrollout-operator-b")
    replicas = []
    for pod in pods:
        work = bed.work / pod
        work.mkdir()
        replicas.append(
            OperatorProcess(
                work,
                bed.account,
                {"image": "modelrollout:dev", "artifactStore": "file:///tmp"},
                ("--peering", names.PEERING_NAME),
                env={names.ENV_POD_NAME: pod},
            )
        )
    # The higher priority leads; which one that is follows from the pod names alone.
    by_priority = sorted(zip(pods, replicas, strict=True), key=lambda p: command.peering_priority(p[0]))
    (low_name, standby), (high_name, active) = by_priority
    try:
        for replica in replicas:
            replica.start()
        # A replica starts paused and resumes only if no live peer outranks it: once both
        # have announced themselves, the standby has seen the leader and stays paused.
        announced = {command.peering_priority(pod) for pod in pods}
        bare.within(60, "both replicas in the peering object", lambda: peers(bed) == announced)
        yield Pair(active, standby, {id(active): high_name, id(standby): low_name})
    finally:
        for replica in replicas:
            replica.stop()
    for replica in replicas:
        text = log(replica)
        assert "Traceback" not in text, replica.tail(80)
        # A restarted API server refuses for a moment while its authorizer catches up
        # (the outage test); Kopf retries those, and the rollout finishing proves they passed.
        lasting = "\n".join(line for line in text.splitlines() if "will retry" not in line)
        assert not operators.rbac_refusals(lasting), replica.tail(80)
        assert "Possibly conflicting operators" not in text, replica.tail(80)  # two with one priority


def peers(bed: bare.Bare) -> set[int]:
    """The priorities the peering object lists (one entry per live replica)."""
    custom = client.CustomObjectsApi(bed.plane.api_client())
    peering = custom.get_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", names.PEERING_NAME)
    return {int(entry["priority"]) for entry in (peering.get("status") or {}).values()}


def log(operator: OperatorProcess) -> str:
    return operator.log_path.read_text(errors="replace") if operator.log_path.exists() else ""


def test_only_one_acts_and_the_standby_finishes_the_rollout_when_it_dies(bed: bare.Bare, pair: Pair) -> None:
    api = bed.plane.api_client()
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    namespace = f"ha-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))

    def status() -> dict[str, Any]:
        got = custom.get_namespaced_custom_object(names.GROUP, names.VERSION, namespace, names.PLURAL, "m")
        return dict(got.get("status") or {})

    def patch(body: dict[str, Any]) -> None:
        custom.patch_namespaced_custom_object(names.GROUP, names.VERSION, namespace, names.PLURAL, "m", body)

    def events() -> list[client.CoreV1Event]:
        found = core.list_namespaced_event(namespace, field_selector="involvedObject.name=m").items
        return list(found)

    body = {"apiVersion": names.API_VERSION, "kind": names.KIND, "metadata": {"name": "m"}, "spec": spec("1")}
    custom.create_namespaced_custom_object(names.GROUP, names.VERSION, namespace, names.PLURAL, body)
    bare.within(60, "version 1 Succeeded", lambda: status().get("phase") == "Succeeded")
    patch({"spec": spec("2")})
    bare.within(60, "version 2 on its first canary step", lambda: status().get("phase") == "Canary")
    time.sleep(3)  # let the pass after the step's start settle: its Events and writes count below

    # Only the leader acted: the standby's client wrote nothing, every Event is the
    # leader's, and none was posted twice.
    assert writes(pair.active) > 0, "the leader's write counter counts nothing: the check would prove nothing"
    assert writes(pair.standby) == 0, pair.standby.metrics()
    before = events()
    assert before, "no Events: the checks below would prove nothing"
    instances = Counter(e.reporting_instance for e in before)
    assert set(instances) == {pair.name(pair.active)}, instances
    twice = [key for key, n in Counter((e.reason, e.message) for e in before).items() if n > 1]
    assert not twice, twice
    reasons = Counter(e.reason for e in before)
    print(f"\nEvents from the leader before the kill: {dict(reasons)}")
    assert "Resuming operations" not in log(pair.standby), pair.standby.tail(40)

    # The leader dies mid-canary; the promotion that follows at once needs the standby.
    pair.active.kill()
    killed = time.monotonic()
    patch({"metadata": {"annotations": {names.ANNOTATION_PROMOTE: "ha"}}})
    bare.within(FAILOVER + 30, "the standby acts on the promotion", lambda: status().get("phase") != "Canary")
    failover = time.monotonic() - killed
    print(f"failover: the standby acted {failover:.1f}s after the leader was killed (target {FAILOVER:.0f}s)")
    assert failover <= FAILOVER, f"failover took {failover:.1f}s, over {FAILOVER:.0f}s"

    bare.within(120, "version 2 Succeeded", lambda: status().get("phase") == "Succeeded")
    assert status().get("stableVersion") == "2", status()
    assert writes(pair.standby) > 0
    after = [e for e in events() if e.metadata.uid not in {b.metadata.uid for b in before}]
    assert after and {e.reporting_instance for e in after} == {pair.name(pair.standby)}, [
        (e.reason, e.reporting_instance) for e in after
    ]
    assert "Resuming operations" in log(pair.standby), pair.standby.tail(40)
    alone = {command.peering_priority(pair.name(pair.standby))}
    bare.within(30, "the dead leader's entry cleaned from the peering object", lambda: peers(bed) == alone)


def test_an_api_server_restart_mid_canary_leaves_the_rollout_to_finish(bed: bare.Bare, pair: Pair) -> None:
    # The leader, or the standby once the test above has killed the leader.
    alive = pair.active.proc is not None and pair.active.proc.poll() is None
    operator = pair.active if alive else pair.standby
    api = bed.plane.api_client()
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    namespace = f"ha-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))

    def status() -> dict[str, Any]:
        try:
            got = custom.get_namespaced_custom_object(names.GROUP, names.VERSION, namespace, names.PLURAL, "m")
        except (client.exceptions.ApiException, OSError):
            return {}  # the API server is still coming back
        return dict(got.get("status") or {})

    body = {"apiVersion": names.API_VERSION, "kind": names.KIND, "metadata": {"name": "m"}, "spec": spec("1")}
    custom.create_namespaced_custom_object(names.GROUP, names.VERSION, namespace, names.PLURAL, body)
    bare.within(60, "version 1 Succeeded", lambda: status().get("phase") == "Succeeded")
    custom.patch_namespaced_custom_object(names.GROUP, names.VERSION, namespace, names.PLURAL, "m", {"spec": spec("2")})
    bare.within(60, "version 2 on its first canary step", lambda: status().get("phase") == "Canary")

    began = time.monotonic()
    bed.plane.restart_apiserver(down=OUTAGE)
    print(f"\nAPI server down and back in {time.monotonic() - began:.1f}s")
    assert operator.proc is not None and operator.proc.poll() is None, f"the operator gave up:\n{operator.tail(40)}"
    # Only a watch that came back sees the promotion: a change made after the restart.
    custom = client.CustomObjectsApi(bed.plane.api_client())
    custom.patch_namespaced_custom_object(
        names.GROUP, names.VERSION, namespace, names.PLURAL, "m", {"metadata": {"annotations": {
            names.ANNOTATION_PROMOTE: "after-restart"}}}
    )  # fmt: skip
    took = bare.within(120, "version 2 Succeeded after the restart", lambda: status().get("phase") == "Succeeded")
    print(f"the operator acted on a change made after the restart within {took:.1f}s")
    assert status().get("stableVersion") == "2", status()
