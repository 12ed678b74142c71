"""Least privilege on the real control plane: the pods the operator creates carry no
Kubernetes API token, and the server is told the digest of the artifact it loads.

ServiceAccount admission mounts a token into every pod that does not refuse one; a plain
pod created here shows that it does, so the absence in the operator's pods is theirs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from e2e.test_rollouts import NAME, first_version, pods_of
from e2e.testbed import bed as beds
from modelrollout import names

pytestmark = pytest.mark.e2e

TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def _token_volumes(pod: client.V1Pod) -> list[str]:
    found = []
    for volume in pod.spec.volumes or []:
        sources = volume.projected.sources if volume.projected else []
        if any(s.service_account_token for s in sources) or volume.name.startswith("kube-api-access"):
            found.append(volume.name)
    mounts = [m.mount_path for c in pod.spec.containers for m in c.volume_mounts or []]
    return found + [m for m in mounts if m.startswith(TOKEN_DIR)]


def test_operator_pods_have_no_api_token_and_the_server_knows_the_digest(
    bed: beds.Bed, namespace: str, tmp_path: Path
) -> None:
    body = first_version(bed, namespace, tmp_path)
    apps = client.AppsV1Api(bed.plane.api_client())
    stable = apps.read_namespaced_deployment(f"{NAME}-{names.ROLE_STABLE}", namespace)
    assert stable.spec.template.spec.automount_service_account_token is False

    server_pods = pods_of(bed, namespace, f"{names.LABEL_ROLE}={names.ROLE_STABLE}")
    job_pods = pods_of(bed, namespace, f"{names.LABEL_COMPONENT}={names.COMPONENT_OPTIMIZER}")
    assert server_pods and job_pods
    for pod in [*server_pods, *job_pods]:
        assert _token_volumes(pod) == [], (pod.metadata.name, _token_volumes(pod))

    # The digest the optimizer reported reaches the server, which checks it before loading.
    digest = body["status"]["stable"]["sha256"]
    assert len(digest) == 64
    for pod in server_pods:
        env = {e.name: e.value for e in pod.spec.containers[0].env}
        assert env[names.ENV_MODEL_SHA256] == digest

    # The control: admission does mount a token into a pod that does not refuse one.
    core = client.CoreV1Api(bed.plane.api_client())
    plain = core.create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="plain"),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="none")]),
        ),
    )
    assert _token_volumes(plain), "ServiceAccount admission is off: this test could not fail"
