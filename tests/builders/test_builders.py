from __future__ import annotations

import json

from modelrollout import names
from modelrollout.api.v1alpha1 import ModelDeploymentSpec, VersionRef
from modelrollout.builders import common, deployments, feedbackkeys, httproutes, jobs, services
from modelrollout.pools import profiles
from modelrollout.settings import OperatorSettings
from tests import specs

OWNER = common.Owner(name="embedder", namespace="ml", uid="u-1", model="minilm")
SETTINGS = OperatorSettings(artifactStore="pvc://artifacts/models", image="modelrollout:test")
REF = VersionRef(
    version="7", revision="abc123", runtime="onnxruntime", uri="pvc://artifacts/models/ml/embedder/7/model.onnx"
)


def spec(**patch: object) -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate(specs.merge(specs.base_spec(), patch))


def test_every_child_is_owned_and_labelled() -> None:
    objs = [
        jobs.optimization_job(OWNER, spec(), "abc123", profiles.defaults()["cpu"], SETTINGS),
        deployments.server_deployment(OWNER, spec(), names.ROLE_CANARY, REF, 2, profiles.defaults()["cpu"], SETTINGS),
        *services.all_services(OWNER, SETTINGS),
    ]
    for obj in objs:
        meta = obj["metadata"]
        assert meta["ownerReferences"] == [OWNER.reference()]
        assert meta["labels"][names.LABEL_INSTANCE] == "embedder"
        assert meta["labels"][names.LABEL_MANAGED_BY] == names.MANAGER
        assert meta["namespace"] == "ml"


def test_gpu_deployment_lands_on_the_gpu_pool() -> None:
    gpu = profiles.defaults()["nvidia-gpu"]
    dep = deployments.server_deployment(
        OWNER, spec(serving={"accelerator": "nvidia-gpu"}), names.ROLE_STABLE, REF, 3, gpu, SETTINGS
    )
    pod = dep["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert (
        container["resources"]["requests"]["nvidia.com/gpu"]
        == container["resources"]["limits"]["nvidia.com/gpu"]
        == "1"
    )
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env[names.ENV_DEVICE] == "CUDA" and env[names.ENV_ROLE] == names.ROLE_STABLE
    assert env[names.ENV_MODEL_URI] == REF.uri
    assert dep["spec"]["replicas"] == 3
    # The selector must survive promotion, so it never names the version.
    assert names.LABEL_VERSION not in dep["spec"]["selector"]["matchLabels"]
    assert dep["spec"]["template"]["metadata"]["labels"][names.LABEL_VERSION] == "7"
    assert pod["volumes"][1]["persistentVolumeClaim"]["claimName"] == "artifacts"
    # A retired version drains: routers first stop sending, then in-flight requests finish.
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] < pod["terminationGracePeriodSeconds"]


def test_job_args_carry_the_spec() -> None:
    s = spec(
        optimization={
            "candidates": [{"runtime": "openvino", "precision": "int8", "method": "nncf"}],
            "evaluation": {"uri": "s3://data/eval.npz", "metric": "cosine", "maxDrop": 0.02},
        }
    )
    job = jobs.optimization_job(OWNER, s, "abc123", profiles.defaults()["cpu"], SETTINGS)
    container = job["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    value = dict(zip(args[::2], args[1::2], strict=False))
    assert value["--max-drop"] == "0.02" and value["--evaluation-uri"] == "s3://data/eval.npz"
    assert json.loads(value["--candidates"]) == [{"runtime": "openvino", "precision": "int8", "method": "nncf"}]
    assert value["--artifact-key"] == "ml/embedder/7-abc123"
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert job["spec"]["activeDeadlineSeconds"] == 1800
    assert job["metadata"]["name"] == "embedder-optimize-abc123"


def test_long_names_are_shortened_with_a_hash() -> None:
    owner = common.Owner(name="x" * 70, namespace="ml", uid="u", model="m")
    assert len(common.deployment_name(owner, names.ROLE_CANARY)) <= 63
    assert common.deployment_name(owner, names.ROLE_CANARY) != common.deployment_name(owner, names.ROLE_STABLE)


def test_http_route_weights_follow_the_canary_weight() -> None:
    s = spec(rollout={"traffic": {"router": "gateway-api", "gateway": {"parentRefs": [{"name": "edge"}]}}})
    assert s.rollout.traffic.gateway is not None
    route = httproutes.http_route(OWNER, s.rollout.traffic.gateway, 30, SETTINGS)
    assert httproutes.weights_of(route) == {"embedder-stable": 70, "embedder-canary": 30}
    assert route["spec"]["parentRefs"] == [{"name": "edge"}]


def test_services_select_all_pods_or_one_role() -> None:
    svc, stable, canary, _baseline = services.all_services(OWNER, SETTINGS)
    assert names.LABEL_ROLE not in svc["spec"]["selector"]
    assert stable["spec"]["selector"][names.LABEL_ROLE] == names.ROLE_STABLE
    assert canary["metadata"]["name"] == "embedder-canary"


def _job_args(s: ModelDeploymentSpec, pool: str = "cpu") -> tuple[dict[str, str], dict[str, object]]:
    job = jobs.optimization_job(OWNER, s, "abc123", profiles.defaults()[pool], SETTINGS)
    container = job["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    return dict(zip(args[::2], args[1::2], strict=False)), container


def test_job_measures_with_the_serving_pods_resources_and_threads() -> None:
    resources = {"requests": {"cpu": "1500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}
    s = spec(serving={"resources": resources})
    value, container = _job_args(s)
    assert container["resources"] == resources
    assert value["--threads"] == "2"
    server = deployments.server_deployment(OWNER, s, "stable", REF, 2, profiles.defaults()["cpu"], SETTINGS)
    env = {e["name"]: e["value"] for e in server["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env[names.ENV_THREADS] == value["--threads"]  # the server runs as the Job measured


def test_job_args_carry_objective_samples_deadline_and_price() -> None:
    s = spec(
        optimization={
            "objective": "cost",
            "maxLatencyMs": 25,
            "timeout": "20m",
            "evaluation": {"samples": 64},
        },
        serving={"resources": {"requests": {"cpu": "2"}}},
    )
    value, _ = _job_args(s)
    assert value["--objective"] == "cost" and value["--max-latency-ms"] == "25.0"
    assert value["--evaluation-samples"] == "64"
    assert value["--deadline-seconds"] == str(20 * 60 - 120)  # 10% for the pod's start and the upload
    assert value["--pool"] == "cpu"
    # Half of a 4-CPU node at the default price.
    assert float(value["--price-per-hour"]) == 0.17 / 2


def test_job_without_cpu_resources_lets_the_runtime_choose_threads() -> None:
    value, _ = _job_args(spec())
    assert value["--threads"] == "0" and "--max-latency-ms" not in value


def test_pool_image_is_used_for_the_job_and_the_server() -> None:
    pool = profiles.defaults()["nvidia-gpu"].model_copy(update={"image": "modelrollout:cuda"})
    s = spec(serving={"accelerator": "nvidia-gpu"})
    job = jobs.optimization_job(OWNER, s, "abc123", pool, SETTINGS)
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "modelrollout:cuda"
    server = deployments.server_deployment(OWNER, s, "stable", REF, 2, pool, SETTINGS)
    assert server["spec"]["template"]["spec"]["containers"][0]["image"] == "modelrollout:cuda"


def test_search_deadline_leaves_room_for_start_and_upload() -> None:
    assert jobs.search_deadline(1800) == 1620
    assert jobs.search_deadline(300) == 240
    assert jobs.search_deadline(60) == 30


def test_a_deployment_an_hpa_scales_is_applied_without_replicas() -> None:
    cpu = profiles.defaults()["cpu"]
    declared = deployments.server_deployment(OWNER, spec(), names.ROLE_STABLE, REF, 3, cpu, SETTINGS)
    autoscaled = deployments.server_deployment(OWNER, spec(), names.ROLE_STABLE, REF, None, cpu, SETTINGS)
    assert declared["spec"]["replicas"] == 3
    # Absent, not null: an applied null would still claim the field from the HPA.
    assert "replicas" not in autoscaled["spec"]
    assert {k: v for k, v in declared["spec"].items() if k != "replicas"} == autoscaled["spec"]


def test_server_pods_read_the_feedback_key_from_the_owned_secret() -> None:
    secret = feedbackkeys.secret(OWNER, "k" * 64)
    assert secret["metadata"]["name"] == "embedder-feedback"
    assert secret["metadata"]["ownerReferences"] == [OWNER.reference()]
    assert secret["stringData"] == {names.FEEDBACK_KEY: "k" * 64}
    for role in names.ROLES:
        dep = deployments.server_deployment(OWNER, spec(), role, REF, 1, profiles.defaults()["cpu"], SETTINGS)
        pod = dep["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        volume = next(v for v in pod["volumes"] if v.get("secret"))
        assert volume["secret"]["secretName"] == "embedder-feedback"
        mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
        assert mount["readOnly"] is True
        env = {e["name"]: e["value"] for e in container["env"]}
        for var, key in (
            (names.ENV_FEEDBACK_KEY_FILE, names.FEEDBACK_KEY),
            (names.ENV_FEEDBACK_PREVIOUS_KEY_FILE, names.FEEDBACK_PREVIOUS_KEY),
        ):
            assert env[var] == f"{mount['mountPath']}/{key}"
