"""The inference server Deployments, one per role (stable, canary)."""

from __future__ import annotations

from typing import Any

from modelrollout import names
from modelrollout.api.v1alpha1 import ModelDeploymentSpec, VersionRef
from modelrollout.builders import common, feedbackkeys, pods
from modelrollout.pools.profiles import Profile
from modelrollout.settings import OperatorSettings

# Termination, in order: the pod leaves the endpoints while preStop sleeps (routers catch
# up), SIGTERM turns it not-ready yet still answering for the drain (routers that probe
# the pod catch up), then in-flight requests finish; SIGKILL only after all of that.
PRE_STOP_SECONDS = 5
DRAIN_SECONDS = 3
SHUTDOWN_TIMEOUT_SECONDS = 20
GRACE_SECONDS = PRE_STOP_SECONDS + DRAIN_SECONDS + SHUTDOWN_TIMEOUT_SECONDS + 2


def selector(owner: common.Owner, role: str) -> dict[str, str]:
    """Immutable once created, so it names the role, never the version."""
    return {
        names.LABEL_INSTANCE: owner.name,
        names.LABEL_COMPONENT: names.COMPONENT_SERVER,
        names.LABEL_ROLE: role,
    }


def server_deployment(
    owner: common.Owner,
    spec: ModelDeploymentSpec,
    role: str,
    ref: VersionRef,
    replicas: int | None,
    profile: Profile,
    settings: OperatorSettings,
) -> dict[str, Any]:
    lbls = common.labels(owner, names.COMPONENT_SERVER, version=ref.version, role=role)
    volumes, mounts = pods.store_volumes(settings, ref.uri)
    env = {
        names.ENV_MODEL_NAME: spec.model.name,
        names.ENV_MODEL_VERSION: ref.version,
        names.ENV_MODEL_URI: ref.uri,
        names.ENV_RUNTIME: ref.runtime,
        names.ENV_DEVICE: profile.device_for(ref.runtime),
        names.ENV_ROLE: role,
        names.ENV_PORT: str(settings.server_port),
        names.ENV_GRPC_PORT: str(names.GRPC_PORT),
        names.ENV_DRAIN_SECONDS: str(DRAIN_SECONDS),
        names.ENV_SHUTDOWN_TIMEOUT_SECONDS: str(SHUTDOWN_TIMEOUT_SECONDS),
        # Unset, batches as large as the one the optimizer measured throughput at.
        names.ENV_MAX_BATCH_SIZE: str(spec.serving.batching.max_batch_size or spec.optimization.benchmark_batch),
        names.ENV_MAX_BATCH_DELAY_SECONDS: repr(spec.serving.batching.max_delay.total_seconds()),
        # The threads the optimization Job measured with (pods.threads).
        names.ENV_THREADS: str(pods.threads(spec.serving.resources)),
        **feedbackkeys.server_env(),
    }
    if ref.sha256:
        env[names.ENV_MODEL_SHA256] = ref.sha256
    probe_port = names.SERVER_PORT_NAME
    container: dict[str, Any] = {
        "name": "server",
        "image": spec.serving.image or profile.image or settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["modelrollout", "serve"],
        "env": [{"name": k, "value": v} for k, v in env.items()] + pods.storage_env(settings),
        "ports": [
            {"name": names.SERVER_PORT_NAME, "containerPort": settings.server_port, "protocol": "TCP"},
            {"name": names.GRPC_PORT_NAME, "containerPort": names.GRPC_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": probe_port}, "periodSeconds": 2},
        "livenessProbe": {
            "httpGet": {"path": "/v2/health/live", "port": probe_port},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        # Endpoints are removed while preStop runs; the sleep lets routers stop sending
        # before the server even hears of the shutdown.
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, *mounts, feedbackkeys.mount()],
        "securityContext": pods.CONTAINER_SECURITY,
    }
    pods.size_and_credit(container, profile, spec.serving.resources, settings)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": common.metadata(owner, common.deployment_name(owner, role), lbls, revision=ref.revision),
        "spec": {
            # None: an HPA owns the count, and a manifest without it never takes it back.
            **({} if replicas is None else {"replicas": replicas}),
            "selector": {"matchLabels": selector(owner, role)},
            # Never below the replicas asked for while a version rolls: a canary step's
            # capacity is part of what is being judged.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": {
                "metadata": {
                    "labels": lbls,
                    "annotations": {
                        f"{names.GROUP}/revision": ref.revision,
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(settings.server_port),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    **pods.identity(settings),
                    **pods.placement(profile),
                    "terminationGracePeriodSeconds": GRACE_SECONDS,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}, *volumes, feedbackkeys.volume(owner)],
                },
            },
        },
    }
