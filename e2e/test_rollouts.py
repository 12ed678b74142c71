"""The product end to end: the operator, as its own process under its own ServiceAccount,
rolls real inference servers out on the real control plane, judged by a real Prometheus.

The process kubelet runs the optimization Jobs and the inference servers the cluster
schedules; clients send requests with feedback through the Service's ready endpoints,
so the replica split the operator sets is the traffic split the servers see.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from e2e.testbed import bed as beds
from e2e.testbed import certificates, models, nodes, prometheus, samples, traffic
from modelrollout import names

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
NAME = "clf"
Body = dict[str, Any]


def model(tmp_path: Path, version: str, **knobs: int) -> str:
    return models.classifier(tmp_path / version / "model.onnx", **knobs).as_uri()


def broken_model(tmp_path: Path, version: str) -> Path:
    """A file no runtime can read, under the name a model would have."""
    broken = tmp_path / version / "model.onnx"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"\x08\x07this is not a protobuf" * 50)
    return broken


def apply(bed: beds.Bed, namespace: str, version: str, uri: str, **options: Any) -> None:
    options.setdefault("prometheus_url", bed.prometheus.url)
    bed.apply(samples.model_deployment(NAME, namespace, version, uri, **options))


def reach(
    bed: beds.Bed,
    namespace: str,
    phase: str,
    *,
    stable: str | None = None,
    timeout: float = 240,
    watch: Callable[[Body], None] | None = None,
) -> Body:
    def done(body: Body) -> bool:
        status = body.get("status", {})
        return (
            beds.settled(body)
            and beds.phase(body) == phase
            and (stable is None or status.get("stableVersion") == stable)
        )

    return bed.wait(namespace, NAME, done, timeout=timeout, what=f"{phase} (stable {stable})", on_poll=watch)


def first_version(bed: beds.Bed, namespace: str, tmp_path: Path, **options: Any) -> Body:
    apply(bed, namespace, "1", model(tmp_path, "1", work=40), **options)
    return reach(bed, namespace, "Succeeded", stable="1")


def reasons(bed: beds.Bed, namespace: str) -> list[str]:
    return [reason for _, reason, _ in bed.events(namespace, NAME)]


def deployment(bed: beds.Bed, namespace: str, role: str) -> client.V1Deployment | None:
    apps = client.AppsV1Api(bed.plane.api_client())
    try:
        return apps.read_namespaced_deployment(f"{NAME}-{role}", namespace)
    except client.exceptions.ApiException as error:
        if error.status == 404:
            return None
        raise


def pods_of(bed: beds.Bed, namespace: str, selector: str) -> list[client.V1Pod]:
    return list(client.CoreV1Api(bed.plane.api_client()).list_namespaced_pod(namespace, label_selector=selector).items)


def only_stable_left(bed: beds.Bed, namespace: str, version: str, timeout: float = 90) -> None:
    """Wait until every server pod left is a stable one of `version`: the others have
    drained and stopped (preStop, drain, in-flight requests), so load running until now
    covered the whole of their termination."""
    selector = f"{names.LABEL_INSTANCE}={NAME},{names.LABEL_COMPONENT}={names.COMPONENT_SERVER}"
    deadline = time.monotonic() + timeout
    while True:
        left = {
            (p.metadata.labels[names.LABEL_ROLE], p.metadata.labels[names.LABEL_VERSION])
            for p in pods_of(bed, namespace, selector)
        }
        if left == {(names.ROLE_STABLE, version)}:
            return
        assert time.monotonic() < deadline, f"server pods still there: {sorted(left)}"
        time.sleep(0.5)


def no_failures(load: traffic.Traffic) -> None:
    """Zero failed requests: pods left the endpoints before they stopped and drained."""
    print(f"\nrequests sent {dict(load.sent)}, failed {dict(load.failed)}")
    assert sum(load.failed.values()) == 0, f"failed {dict(load.failed)} of sent {dict(load.sent)}"


def feedback_key(bed: beds.Bed, namespace: str) -> client.V1Secret:
    return client.CoreV1Api(bed.plane.api_client()).read_namespaced_secret(f"{NAME}-feedback", namespace)


def test_a_good_version_is_promoted_through_every_step(bed: beds.Bed, namespace: str, tmp_path: Path) -> None:
    first_version(bed, namespace, tmp_path)
    key = feedback_key(bed, namespace)
    assert [(o.kind, o.name) for o in key.metadata.owner_references] == [(names.KIND, NAME)]
    weights: list[int] = []

    def track(body: Body) -> None:
        weight = body.get("status", {}).get("canaryWeight", 0)
        if beds.phase(body) == "Canary" and (not weights or weights[-1] != weight):
            weights.append(weight)

    with bed.traffic(namespace, NAME, "classifier", rate=20) as load:
        apply(bed, namespace, "2", model(tmp_path, "2", work=40))
        body = reach(bed, namespace, "Succeeded", stable="2", watch=track)
        only_stable_left(bed, namespace, "2")
    status = body["status"]
    assert weights == [50, 100]
    assert status["history"][-1]["outcome"] == "Promoted" and status["history"][-1]["version"] == "2"
    assert status["analysis"]["lastResult"] == "pass"
    assert {"StepStarted", "Promoting", "Promoted"} <= set(reasons(bed, namespace))
    assert beds.condition(body, "Ready")["status"] == "True"
    assert deployment(bed, namespace, names.ROLE_CANARY) is None
    stable = deployment(bed, namespace, names.ROLE_STABLE)
    assert stable is not None and stable.spec.template.metadata.labels[names.LABEL_VERSION] == "2"
    assert load.sent["2"] > 0 and load.sent["1"] > 0
    no_failures(load)
    # Feedback went through the Service: stable pods judged the canary's tokens, and
    # counted them for the canary's version and role, with the key no pass replaced.
    judged_by_stable = bed.prometheus.query(
        f'sum(max_over_time({names.METRIC_FEEDBACK}{{namespace="{namespace}",version="2",role="canary",'
        f'pod=~"{NAME}-{names.ROLE_STABLE}-.*"}}[15m]))'
    )
    assert judged_by_stable and float(judged_by_stable[0]["value"][1]) > 0, judged_by_stable
    assert feedback_key(bed, namespace).data == key.data
    metrics = bed.operator.metrics()
    assert (
        f'{names.METRIC_ANALYSIS_CHECKS}{{name="{NAME}",namespace="{namespace}",result="pass",slo="latency"}}'
        in metrics
    )


def test_a_three_times_slower_canary_is_rolled_back(
    bed: beds.Bed, namespace: str, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    first_version(bed, namespace, tmp_path)
    marks: dict[str, float] = {}

    def track(body: Body) -> None:
        if "first_scrape" not in marks:
            served = bed.prometheus.query(f'sum({names.METRIC_REQUESTS}{{namespace="{namespace}", version="2"}})')
            if served and float(served[0]["value"][1]) > 0:
                marks["first_scrape"] = time.monotonic()

    with bed.traffic(namespace, NAME, "classifier", rate=20) as load:
        apply(bed, namespace, "2", model(tmp_path, "2", work=120))
        body = reach(bed, namespace, "RolledBack", watch=track, timeout=300)
        deadline = time.monotonic() + 60
        while any(version == "2" for version, _ in bed.endpoints(namespace, NAME)):
            assert time.monotonic() < deadline, "the canary kept serving after the rollback"
            time.sleep(0.2)
        marks["back_on_stable"] = time.monotonic()
        only_stable_left(bed, namespace, "1")
    assert load.sent["2"] > 0 and load.sent["1"] > 0
    no_failures(load)
    seconds = marks["back_on_stable"] - marks["first_scrape"]
    record_property("time_to_rollback_seconds", round(seconds, 1))
    print(f"\ntime from the canary's first scrape to all traffic on stable: {seconds:.1f}s")
    status = body["status"]
    assert status["stableVersion"] == "1" and status["canaryWeight"] == 0
    assert "latency" in status["message"]
    assert beds.condition(body, "Degraded")["status"] == "True"
    assert status["targetRevision"] in status["rolledBackRevisions"]
    assert "RolledBack" in reasons(bed, namespace)
    assert deployment(bed, namespace, names.ROLE_CANARY) is None
    assert f'{names.METRIC_ROLLBACKS}{{name="{NAME}",namespace="{namespace}",reason="AnalysisFailed"}} 1.0' in (
        bed.operator.metrics()
    )
    # Argo CD self-heal re-applies the version, here with a serving change that is a new
    # generation but not a new revision: once the operator has seen that generation, the
    # rolled-back version is still not retried and no new Job appears.
    jobs = client.BatchV1Api(bed.plane.api_client()).list_namespaced_job(namespace).items
    apply(bed, namespace, "2", model(tmp_path, "2", work=120), replicas=3)
    generation = bed.get(namespace, NAME)["metadata"]["generation"]
    assert generation > body["metadata"]["generation"]
    again = bed.wait(
        namespace,
        NAME,
        lambda b: b.get("status", {}).get("observedGeneration") == generation,
        timeout=60,
        what=f"observedGeneration {generation}",
    )
    assert beds.phase(again) == "RolledBack" and again["status"]["stableVersion"] == "1"
    assert "RetryRequested" not in reasons(bed, namespace)
    assert len(client.BatchV1Api(bed.plane.api_client()).list_namespaced_job(namespace).items) == len(jobs)
    assert deployment(bed, namespace, names.ROLE_CANARY) is None


def test_a_baseline_of_stable_runs_beside_the_canary_takes_traffic_and_is_judged_against(
    bed: beds.Bed, namespace: str, tmp_path: Path
) -> None:
    first_version(bed, namespace, tmp_path, compare_with="baseline")
    assert deployment(bed, namespace, names.ROLE_BASELINE) is None  # nothing to compare a first version with
    seen: dict[str, Any] = {}

    def track(body: Body) -> None:
        if beds.phase(body) != "Canary" or body["status"].get("canaryWeight") != 50 or "baseline" in seen:
            return
        found = deployment(bed, namespace, names.ROLE_BASELINE)
        if found is not None:
            seen["baseline"] = found
            seen["canary"] = deployment(bed, namespace, names.ROLE_CANARY)

    with bed.traffic(namespace, NAME, "classifier", rate=20):
        apply(bed, namespace, "2", model(tmp_path, "2", work=40), compare_with="baseline")
        body = reach(bed, namespace, "Succeeded", stable="2", watch=track)
    baseline, canary = seen.get("baseline"), seen.get("canary")
    assert baseline is not None, "no baseline Deployment while the canary was judged"
    labels = baseline.spec.template.metadata.labels
    assert (labels[names.LABEL_ROLE], labels[names.LABEL_VERSION]) == (names.ROLE_BASELINE, "1")
    assert canary is not None and baseline.spec.replicas == canary.spec.replicas
    # Its pods took traffic through the main Service, and the analysis read their series.
    # (over a range: the pods are gone by now, and their series with them)
    served = bed.prometheus.query(
        f'sum(max_over_time({names.METRIC_REQUESTS}{{namespace="{namespace}", role="{names.ROLE_BASELINE}", '
        'version="1"}[10m]))'
    )
    assert served and float(served[0]["value"][1]) > 0
    judged = [m for m in body["status"]["analysis"]["measurements"] if m["check"] == "latency" and m["step"] == 0]
    assert any("vs baseline" in m["message"] for m in judged), judged
    # Gone with the rollout: the Deployment and, after their grace period, its pods.
    assert deployment(bed, namespace, names.ROLE_BASELINE) is None
    deadline = time.monotonic() + 60
    while pods_of(bed, namespace, f"{names.LABEL_ROLE}={names.ROLE_BASELINE}"):
        assert time.monotonic() < deadline, "baseline pods outlived the rollout"
        time.sleep(0.5)


def test_a_canary_with_lower_online_accuracy_is_rolled_back(bed: beds.Bed, namespace: str, tmp_path: Path) -> None:
    first_version(bed, namespace, tmp_path)
    with bed.traffic(namespace, NAME, "classifier", rate=20) as load:
        apply(bed, namespace, "2", model(tmp_path, "2", work=40, swapped=8))
        body = reach(bed, namespace, "RolledBack", timeout=300)
        only_stable_left(bed, namespace, "1")
    assert load.sent["2"] > 0 and load.sent["1"] > 0
    no_failures(load)
    status = body["status"]
    assert status["stableVersion"] == "1"
    failed = [m for m in status["analysis"]["measurements"] if m["result"] == "fail"]
    assert failed and {m["check"] for m in failed} == {"accuracy"}
    assert all(m["value"] < 0.9 for m in failed)


def test_prometheus_down_pauses_and_never_promotes_then_resumes(
    bed: beds.Bed, namespace: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A Prometheus of this test's own that reads the same targets, so stopping it
    # leaves the other tests' Prometheus alone.
    work = tmp_path_factory.mktemp("prometheus")
    (work / "targets").symlink_to(bed.prometheus.targets_dir, target_is_directory=True)
    own = prometheus.Prometheus(work_dir=work)
    own.start()
    try:
        # This scenario is about verdicts going missing, not latency: the windows that
        # straddle the outage are noisy, so the latency bound here is a loose one.
        options = {"prometheus_url": own.url, "steps": [{"weight": 50, "pause": "20s"}, {"weight": 100, "pause": "2s"}]}
        first_version(bed, namespace, tmp_path, **options)
        with bed.traffic(namespace, NAME, "classifier", rate=20):
            apply(bed, namespace, "2", model(tmp_path, "2", work=40), max_latency_ratio=5.0, **options)
            reach(bed, namespace, "Canary")
            own.stop()
            paused = bed.wait(
                namespace,
                NAME,
                lambda b: b.get("status", {}).get("pauseReason") == "AnalysisInconclusive",
                timeout=60,
                what="paused for lack of verdicts",
            )
            assert beds.phase(paused) == "Paused"
            assert "Prometheus errors" in paused["status"]["message"]
            # Longer than the step's pause: a step with no verdict must not advance.
            started = time.monotonic()
            while time.monotonic() - started < 25:
                status = bed.get(namespace, NAME)["status"]
                assert status["phase"] == "Paused" and status["currentStep"] == 0, status["message"]
                time.sleep(1)
            errors = [m for m in status["analysis"]["measurements"] if m["result"] == "error"]
            slo_errors = [m for m in errors if m["check"] in {"latency", "errorRate", "accuracy"}]
            assert slo_errors, errors
            assert all(str(own.port) in m["message"] for m in slo_errors), slo_errors
            own.start()
            body = reach(bed, namespace, "Succeeded", stable="2", timeout=240)
    finally:
        own.stop()
    assert "Resumed" in reasons(bed, namespace)
    assert body["status"]["history"][-1]["outcome"] == "Promoted"


def test_a_prometheus_behind_tls_and_basic_auth_waits_for_its_secrets_then_promotes(
    bed: beds.Bed, namespace: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Prometheus' own web config: TLS from a private CA, basic auth; it reads the bed's targets.
    password = "analysis-pass-7f3e"
    authority = certificates.Authority()
    web = prometheus.Web(
        certificate=authority.issue("127.0.0.1"), ca_pem=authority.cert_pem, users={"analysis": password}
    )
    work = tmp_path_factory.mktemp("prometheus-tls")
    (work / "targets").symlink_to(bed.prometheus.targets_dir, target_is_directory=True)
    secured = prometheus.Prometheus(work_dir=work, web=web)
    secured.start()
    try:
        connect = {
            "tls": {"caSecretRef": {"name": "prom-ca", "key": "ca.crt"}},
            "auth": {"basicAuth": {"secretRef": {"name": "prom-auth"}}},
        }
        options = {"prometheus_url": secured.url, "prometheus": connect, "max_latency_ratio": 5.0}
        first_version(bed, namespace, tmp_path, **options)
        with bed.traffic(namespace, NAME, "classifier", rate=20):
            apply(bed, namespace, "2", model(tmp_path, "2", work=40), **options)

            def unhealthy(body: Body) -> bool:
                found = [c for c in body.get("status", {}).get("conditions", []) if c["type"] == "AnalysisHealthy"]
                return bool(found) and found[0]["reason"] == "PrometheusCredentialsMissing"

            body = bed.wait(namespace, NAME, unhealthy, timeout=120, what="AnalysisHealthy naming the Secret")
            (condition,) = [c for c in body["status"]["conditions"] if c["type"] == "AnalysisHealthy"]
            assert condition["status"] == "False"
            assert condition["message"] == (
                f"Prometheus {secured.url} credentials: Secret {namespace}/prom-ca key 'ca.crt': not found"
            )
            paused = bed.wait(
                namespace,
                NAME,
                lambda b: b.get("status", {}).get("pauseReason") == "AnalysisInconclusive",
                timeout=60,
                what="paused for lack of credentials",
            )
            assert paused["status"]["currentStep"] == 0 and paused["status"]["stableVersion"] == "1"

            core = client.CoreV1Api(bed.plane.api_client())
            core.create_namespaced_secret(
                namespace, {"metadata": {"name": "prom-ca"}, "stringData": {"ca.crt": authority.cert_pem.decode()}}
            )
            core.create_namespaced_secret(
                namespace,
                {"metadata": {"name": "prom-auth"}, "stringData": {"username": "analysis", "password": password}},
            )
            body = reach(bed, namespace, "Succeeded", stable="2", timeout=240)
    finally:
        secured.stop()
    assert body["status"]["history"][-1]["outcome"] == "Promoted"
    assert "Resumed" in reasons(bed, namespace)
    # The operator read the Secrets under its own ServiceAccount (get only) and kept them to itself.
    assert password not in json.dumps(body)
    assert not any(password in message for _, _, message in bed.events(namespace, NAME))


def test_gpu_pool_gets_the_job_and_the_pods_with_requests_and_tolerations(
    bed: beds.Bed, namespace: str, tmp_path: Path
) -> None:
    first_version(bed, namespace, tmp_path, accelerator="nvidia-gpu")
    job_pods = pods_of(bed, namespace, f"{names.LABEL_COMPONENT}={names.COMPONENT_OPTIMIZER}")
    server_pods = pods_of(bed, namespace, f"{names.LABEL_COMPONENT}={names.COMPONENT_SERVER}")
    assert job_pods and len(server_pods) == 2
    for pod in [*job_pods, *server_pods]:
        assert pod.spec.node_name.startswith("nvidia-gpu-"), pod.spec.node_name
        container = pod.spec.containers[0]
        assert container.resources.limits["nvidia.com/gpu"] == "1"
        assert container.resources.requests["nvidia.com/gpu"] == "1"
        assert any(t.key == "nvidia.com/gpu" and t.effect == "NoSchedule" for t in pod.spec.tolerations)


def test_npu_without_an_npu_node_waits_with_a_reason_then_proceeds(
    bed: beds.Bed, namespace: str, tmp_path: Path
) -> None:
    core = client.CoreV1Api(bed.plane.api_client())
    npu_pool = nodes.select(nodes.load_pools(), ["npu"])
    manifests = nodes.node_manifests(npu_pool, names.LABEL_NODE_POOL)
    for manifest in manifests:
        core.delete_node(manifest["metadata"]["name"])
    try:
        # One NPU node with one accelerator: one replica is what it can hold.
        apply(bed, namespace, "1", model(tmp_path, "1", work=40), accelerator="npu", replicas=1)
        body = bed.wait(
            namespace,
            NAME,
            lambda b: beds.condition(b, "Schedulable").get("reason") == "NoNodeForPool",
            timeout=60,
            what="Schedulable=False",
        )
        assert beds.phase(body) == "Optimizing"
        assert "npu.intel.com/accel" in beds.condition(body, "Schedulable")["message"]
        assert "npu.intel.com/accel" in body["status"]["message"]
        assert "NoNodeForPool" in reasons(bed, namespace)
    finally:
        nodes.create_nodes(core, manifests)
        nodes.wait_ready(core, [m["metadata"]["name"] for m in manifests])
    body = reach(bed, namespace, "Succeeded", stable="1")
    assert beds.condition(body, "Schedulable")["status"] == "True"


def test_a_broken_model_stops_the_rollout_and_stable_keeps_serving(
    bed: beds.Bed, namespace: str, tmp_path: Path
) -> None:
    first_version(bed, namespace, tmp_path)
    broken = broken_model(tmp_path, "2")
    with bed.traffic(namespace, NAME, "classifier", rate=20) as load:
        apply(bed, namespace, "2", broken.as_uri())
        body = reach(bed, namespace, "Failed", timeout=180)
        served_before = load.sent["1"]
        deadline = time.monotonic() + 30
        while load.sent["1"] < served_before + 20:
            assert time.monotonic() < deadline, "stable stopped serving after the failed optimization"
            time.sleep(0.2)
    status = body["status"]
    assert status["optimization"]["succeeded"] is False
    assert "model" in status["optimization"]["reason"].lower()
    assert status["stableVersion"] == "1" and beds.condition(body, "Optimized")["reason"] == "OptimizationFailed"
    assert load.failed["1"] == 0
    assert deployment(bed, namespace, names.ROLE_CANARY) is None


def test_a_canary_that_never_becomes_ready_is_rolled_back_at_the_progress_deadline(
    bed: beds.Bed, namespace: str, tmp_path: Path
) -> None:
    """Unoptimized, so nothing checks the model before the server loads it: its pods crash-loop."""
    first_version(bed, namespace, tmp_path)
    broken = broken_model(tmp_path, "2")
    body = samples.model_deployment(NAME, namespace, "2", broken.as_uri(), prometheus_url=bed.prometheus.url)
    body["spec"]["optimization"] = {"enabled": False}
    body["spec"]["rollout"]["progressDeadline"] = "20s"
    with bed.traffic(namespace, NAME, "classifier", rate=20) as load:
        bed.apply(body)
        done = reach(bed, namespace, "RolledBack", stable="1", timeout=180)
    status = done["status"]
    assert status["history"][-1]["version"] == "2" and status["history"][-1]["outcome"] == "RolledBack"
    rolled_back = [message for _, reason, message in bed.events(namespace, NAME) if reason == "RolledBack"]
    assert rolled_back and "ProgressDeadlineExceeded" in rolled_back[-1], rolled_back
    assert deployment(bed, namespace, names.ROLE_CANARY) is None
    stable = deployment(bed, namespace, names.ROLE_STABLE)
    assert stable is not None and stable.spec.template.metadata.labels[names.LABEL_VERSION] == "1"
    # Stable answered throughout; the canary's pods never joined the endpoints.
    assert load.sent["1"] > 0 and load.sent.get("2", 0) == 0
    assert sum(load.failed.values()) == 0, dict(load.failed)


def test_an_operator_killed_mid_canary_finishes_the_rollout_after_restart(
    bed: beds.Bed, namespace: str, tmp_path: Path
) -> None:
    steps = [{"weight": 50, "pause": "15s"}, {"weight": 100, "pause": "2s"}]
    first_version(bed, namespace, tmp_path, steps=steps)
    with bed.traffic(namespace, NAME, "classifier", rate=20):
        apply(bed, namespace, "2", model(tmp_path, "2", work=40), steps=steps)
        before = reach(bed, namespace, "Canary")
        bed.operator.kill()
        # While it is down nothing moves, for longer than the step's pause (after which a
        # running operator would have advanced): the canary keeps its share, status stays.
        down = time.monotonic()
        while time.monotonic() - down < 20:
            status = bed.get(namespace, NAME)["status"]
            assert (status["currentStep"], status["canaryWeight"]) == (
                before["status"]["currentStep"],
                before["status"]["canaryWeight"],
            )
            time.sleep(1)
        bed.operator.start()
        body = reach(bed, namespace, "Succeeded", stable="2")
    status = body["status"]
    promoted = [h for h in status["history"] if h["version"] == "2"]
    assert [h["outcome"] for h in promoted] == ["Promoted"]
    optimizer_jobs = client.BatchV1Api(bed.plane.api_client()).list_namespaced_job(namespace).items
    revisions = [job.metadata.annotations[f"{names.GROUP}/revision"] for job in optimizer_jobs]
    assert len(revisions) == len(set(revisions)) == 2  # one per version
    # A second create of the same Job would be a silent conflict: the operator logs each
    # Job it really created, once, across both of its lives.
    log = bed.operator.log_path.read_text(errors="replace")
    for job in optimizer_jobs:
        assert log.count(f"created optimization Job {job.metadata.name}") == 1, job.metadata.name
    assert reasons(bed, namespace).count("Promoted") == 1
