"""Least privilege of the pods the operator creates: no API token, only the identity asked for."""

from __future__ import annotations

from typing import Any

import pytest

from modelrollout import names
from modelrollout.api.v1alpha1 import ModelDeploymentSpec, VersionRef
from modelrollout.builders import common, deployments, jobs
from modelrollout.pools import profiles
from modelrollout.settings import OperatorSettings
from tests import specs

OWNER = common.Owner(name="embedder", namespace="ml", uid="u-1", model="minilm")
CPU = profiles.defaults()["cpu"]
DIGEST = "ab" * 32
REF = VersionRef(version="7", revision="abc123", uri="pvc://artifacts/models/ml/embedder/7/model.onnx", sha256=DIGEST)


def _spec() -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate(specs.base_spec())


def _pods(settings: OperatorSettings) -> list[dict[str, Any]]:
    job = jobs.optimization_job(OWNER, _spec(), "abc123", CPU, settings)
    dep = deployments.server_deployment(OWNER, _spec(), names.ROLE_STABLE, REF, 1, CPU, settings)
    return [job["spec"]["template"]["spec"], dep["spec"]["template"]["spec"]]


def _env(pod: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in pod["containers"][0].get("env", [])}


def test_no_pod_gets_an_api_token() -> None:
    for pod in _pods(OperatorSettings()):
        assert pod["automountServiceAccountToken"] is False
        assert "serviceAccountName" not in pod  # the namespace's default, tokenless


def test_a_service_account_for_cloud_credentials_is_set_without_its_token() -> None:
    settings = OperatorSettings.model_validate({"serviceAccountName": "model-reader"})
    for pod in _pods(settings):
        assert pod["serviceAccountName"] == "model-reader"
        assert pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize("roots", [[], ["/models", "/mnt/pvc"]])
def test_file_roots_reach_both_pods(roots: list[str]) -> None:
    for pod in _pods(OperatorSettings.model_validate({"fileRoots": roots})):
        env = _env(pod)
        assert env.get(names.ENV_FILE_ROOTS) == (":".join(roots) or None)


def test_the_server_verifies_the_artifact_digest_when_known() -> None:
    _, server = _pods(OperatorSettings())
    assert _env(server)[names.ENV_MODEL_SHA256] == DIGEST
    bare = deployments.server_deployment(
        OWNER, _spec(), names.ROLE_STABLE, REF.model_copy(update={"sha256": None}), 1, CPU, OperatorSettings()
    )
    assert names.ENV_MODEL_SHA256 not in _env(bare["spec"]["template"]["spec"])
