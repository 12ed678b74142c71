"""The optimization Job: `modelrollout optimize` on the target pool."""

from __future__ import annotations

import json
from typing import Any

from modelrollout import names
from modelrollout.api.v1alpha1 import ModelDeploymentSpec
from modelrollout.builders import common, pods
from modelrollout.pools import pricing
from modelrollout.pools.profiles import Profile
from modelrollout.settings import OperatorSettings

# Scratch space: the root filesystem is read-only, and the optimizer works in a temp dir.
SCRATCH = "/tmp"


def artifact_key(owner: common.Owner, version: str, revision: str) -> str:
    return f"{owner.namespace}/{owner.name}/{version}-{revision}"


def search_deadline(timeout_seconds: float) -> int:
    """Seconds the Job's search may take: the timeout less the pod's start and the upload."""
    margin = max(60.0, 0.1 * timeout_seconds)
    return max(30, int(timeout_seconds - margin))


def optimize_args(
    owner: common.Owner, spec: ModelDeploymentSpec, revision: str, profile: Profile, settings: OperatorSettings
) -> list[str]:
    model, opt = spec.model, spec.optimization
    args = [
        "--model-name", model.name,
        "--model-version", model.version,
        "--model-uri", model.uri,
        "--format", model.format.value,
        "--accelerator", spec.serving.accelerator.value,
        "--metric", opt.evaluation.metric.value,
        "--max-drop", repr(opt.evaluation.max_drop),
        "--benchmark-batch", str(opt.benchmark_batch),
        "--evaluation-samples", str(opt.evaluation.samples),
        "--objective", opt.objective.value,
        "--deadline-seconds", str(search_deadline(opt.timeout.total_seconds())),
        "--pool", profile.name,
        # Measured as it will serve: the server's intra-op threads (see pods.threads).
        "--threads", str(pods.threads(spec.serving.resources)),
        "--artifact-store", settings.artifact_store,
        "--artifact-key", artifact_key(owner, model.version, revision),
        # Measured on the device it will serve on: the pool profile's, per runtime.
        "--device", ",".join(f"{runtime}={device}" for runtime, device in sorted(profile.devices.items())),
    ]  # fmt: skip
    args += [
        "--candidates",
        json.dumps([c.model_dump(mode="json") for c in opt.candidates]) if opt.candidates else "auto",
    ]
    if opt.max_latency_ms is not None:
        args += ["--max-latency-ms", repr(opt.max_latency_ms)]
    price = pricing.per_replica_hour(profile, spec.serving.resources)
    if price is not None:
        args += ["--price-per-hour", repr(price)]
    if model.sha256:
        args += ["--model-sha256", model.sha256]
    if opt.calibration is not None:
        args += ["--calibration-uri", opt.calibration.uri, "--calibration-samples", str(opt.calibration.samples)]
    if opt.evaluation.uri is not None:
        args += ["--evaluation-uri", opt.evaluation.uri]
    return args


def optimization_job(
    owner: common.Owner,
    spec: ModelDeploymentSpec,
    revision: str,
    profile: Profile,
    settings: OperatorSettings,
    attempt: int = 1,
) -> dict[str, Any]:
    name = common.job_name(owner, revision, attempt)
    lbls = common.labels(owner, names.COMPONENT_OPTIMIZER, version=spec.model.version)
    volumes, mounts = pods.store_volumes(settings, settings.artifact_store, spec.model.uri)
    container: dict[str, Any] = {
        "name": "optimize",
        "image": profile.image or settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["modelrollout", "optimize"],
        "args": optimize_args(owner, spec, revision, profile, settings),
        "terminationMessagePath": names.TERMINATION_MESSAGE_PATH,
        # The report is the message; logs stand in only if the process died before writing it.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "scratch", "mountPath": SCRATCH}, *mounts],
        "securityContext": pods.CONTAINER_SECURITY,
    }
    # The serving pod's requests and limits: its latency is the latency of the pod that will serve.
    pods.size_and_credit(container, profile, spec.serving.resources, settings)
    if env := pods.storage_env(settings):
        container["env"] = env
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": common.metadata(owner, name, lbls, revision=revision),
        "spec": {
            "backoffLimit": spec.optimization.backoff_limit,
            "activeDeadlineSeconds": int(spec.optimization.timeout.total_seconds()),
            "ttlSecondsAfterFinished": settings.job_ttl_seconds,
            "template": {
                "metadata": {"labels": lbls, "annotations": {f"{names.GROUP}/revision": revision}},
                "spec": {
                    "restartPolicy": "Never",
                    **pods.identity(settings),
                    **pods.placement(profile),
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
                    "containers": [container],
                    "volumes": [{"name": "scratch", "emptyDir": {}}, *volumes],
                },
            },
        },
    }
