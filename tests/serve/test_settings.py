"""Flags, environment fallbacks and their errors."""

from __future__ import annotations

import pytest

from modelrollout import names
from modelrollout.serve import command, settings

REQUIRED = {names.ENV_MODEL_NAME: "m", names.ENV_MODEL_URI: "/models/m.onnx"}


def test_env_alone_configures_a_pod() -> None:
    env = {
        **REQUIRED,
        names.ENV_MODEL_VERSION: "7",
        names.ENV_RUNTIME: "openvino",
        names.ENV_DEVICE: "GPU",
        names.ENV_ROLE: "canary",
        names.ENV_PORT: "9000",
        names.ENV_THREADS: "4",
        names.ENV_WORKERS: "3",
        names.ENV_MAX_BODY_BYTES: "2048",
        names.ENV_FEEDBACK_WINDOW_SECONDS: "30",
        names.ENV_FEEDBACK_MAX_PENDING: "10",
        names.ENV_SHUTDOWN_TIMEOUT_SECONDS: "5",
        names.ENV_MAX_BATCH_SIZE: "8",
        names.ENV_MAX_BATCH_DELAY_SECONDS: "0.002",
        names.ENV_GRPC_PORT: "9001",
    }
    s = settings.parse([], env)
    assert s == settings.Settings(
        model_name="m", model_version="7", model_uri="/models/m.onnx", runtime="openvino",
        device="GPU", role="canary", host="0.0.0.0", port=9000, threads=4, workers=3,
        max_body_bytes=2048, feedback_window_seconds=30.0, feedback_max_pending=10,
        shutdown_timeout_seconds=5.0, max_batch_size=8, max_batch_delay_seconds=0.002, grpc_port=9001,
    )  # fmt: skip


def test_defaults() -> None:
    s = settings.parse([], REQUIRED)
    assert (s.model_version, s.runtime, s.device, s.role) == ("1", None, "CPU", "stable")
    assert s.port == names.SERVER_PORT
    assert s.feedback_max_pending > 0


def test_a_flag_wins_over_env() -> None:
    s = settings.parse(["--model-name", "flagged", "--port", "0"], {**REQUIRED, names.ENV_PORT: "1"})
    assert (s.model_name, s.port) == ("flagged", 0)


def test_empty_env_counts_as_unset() -> None:
    assert settings.parse([], {**REQUIRED, names.ENV_ROLE: ""}).role == "stable"


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        ([], {names.ENV_MODEL_URI: "x"}, f"--model-name \\({names.ENV_MODEL_NAME}\\) is required"),
        ([], {names.ENV_MODEL_NAME: "m"}, f"--model-uri \\({names.ENV_MODEL_URI}\\) is required"),
        (["--model-name", "a/b"], REQUIRED, "must not contain '/'"),
        (["--runtime", "tensorflow"], REQUIRED, "--runtime"),
        (["--role", "blue"], REQUIRED, "--role"),
        (["--port", "http"], REQUIRED, "--port .* must be a number"),
        (["--port", "70000"], REQUIRED, "at most 65535"),
        (["--workers", "0"], REQUIRED, "--workers .* at least 1"),
        (["--max-body-bytes", "10"], REQUIRED, "--max-body-bytes"),
        (
            [],
            {**REQUIRED, names.ENV_FEEDBACK_WINDOW_SECONDS: "0"},
            names.ENV_FEEDBACK_WINDOW_SECONDS,
        ),
    ],
)
def test_errors_name_the_flag_and_variable(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(settings.SettingsError, match=message):
        settings.parse(argv, env)


def test_the_command_refuses_bad_settings_with_status_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for var in settings.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    assert command.main(["--model-uri", "m.onnx"]) == 2
    assert names.ENV_MODEL_NAME in capsys.readouterr().err


def test_the_deployment_passes_batching_and_grpc() -> None:
    from modelrollout.api.v1alpha1 import ModelDeploymentSpec, VersionRef
    from modelrollout.builders import common, deployments
    from modelrollout.pools import profiles
    from modelrollout.settings import OperatorSettings
    from tests import specs

    owner = common.Owner(name="e", namespace="ml", uid="u", model="m")
    operator = OperatorSettings(artifactStore="pvc://a/m", image="i")
    ref = VersionRef(version="7", revision="r", runtime="onnxruntime", uri="pvc://a/m/model.onnx")

    def served(patch: dict[str, object]) -> settings.Settings:
        spec = ModelDeploymentSpec.model_validate(specs.merge(specs.base_spec(), patch))
        dep = deployments.server_deployment(owner, spec, "stable", ref, 1, profiles.defaults()["cpu"], operator)
        container = dep["spec"]["template"]["spec"]["containers"][0]
        assert {p["name"] for p in container["ports"]} == {"http", "grpc"}
        return settings.parse([], {e["name"]: e["value"] for e in container["env"]})

    default = served({"optimization": {"benchmarkBatch": 16}})
    assert (default.max_batch_size, default.max_batch_delay_seconds, default.grpc_port) == (16, 0.0, 8081)
    chosen = served({"serving": {"batching": {"maxBatchSize": 1, "maxDelay": "5ms"}}})
    assert (chosen.max_batch_size, chosen.max_batch_delay_seconds) == (1, 0.005)


def test_grpc_can_be_turned_off_and_bad_values_name_the_flag() -> None:
    assert settings.parse(["--grpc-port", "off"], REQUIRED).grpc_port is None
    with pytest.raises(settings.SettingsError, match="--grpc-port"):
        settings.parse(["--grpc-port", "70000"], REQUIRED)
    with pytest.raises(settings.SettingsError, match="--max-batch-size"):
        settings.parse(["--max-batch-size", "0"], REQUIRED)
