"""Every candidate the optimizer can make is measured under the options it is served with.

The chain is the product's own: the Job's arguments and the Deployment's environment
come from the builders for the same pool profile; the optimizer loads the artifact
through its backend's `load`, the server through `repositories.load` with the
settings its environment gives. Then the options each real session reports (ONNX
Runtime's session options and providers, every property OpenVINO's compiled model
exposes) must be equal.
"""

from __future__ import annotations

import pathlib

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from modelrollout import names
from modelrollout.api import optimization as api
from modelrollout.api.v1alpha1 import ModelDeploymentSpec, VersionRef
from modelrollout.builders import common, deployments, jobs
from modelrollout.optimize import datasets
from modelrollout.optimize import settings as optimize_settings
from modelrollout.optimize.candidates import base, registry
from modelrollout.optimize.candidates import onnxruntime as ort_candidates
from modelrollout.optimize.candidates import openvino as ov_candidates
from modelrollout.pools import profiles
from modelrollout.runtimes import options
from modelrollout.serve import repositories
from modelrollout.serve import settings as serve_settings
from modelrollout.settings import OperatorSettings
from tests import specs

OWNER = common.Owner(name="embedder", namespace="ml", uid="u-1", model="minilm")
SETTINGS = OperatorSettings(artifactStore="pvc://artifacts/models", image="modelrollout:test")
# Every kind each backend can build: a kind added to a backend is covered here too.
KINDS = sorted(
    [(api.Runtime.ONNXRUNTIME, p, m) for p, m in ort_candidates.SPECS]
    + [(api.Runtime.OPENVINO, p, m) for p, m in ov_candidates.SPECS]
)
POOL = "cpu"  # the profile whose devices this host has


FEATURES = 256  # a multiple of INT4 weight compression's group size (128)


@pytest.fixture(scope="module")
def mlp(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A 256-256-10 MLP: every kind, INT4 group-wise compression included, can build it."""
    rng = np.random.default_rng(5)
    w1 = numpy_helper.from_array((rng.standard_normal((FEATURES, 256)) / 16).astype(np.float32), "w1")
    w2 = numpy_helper.from_array((rng.standard_normal((256, 10)) / 16).astype(np.float32), "w2")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "w1"], ["h"]),
            helper.make_node("Relu", ["h"], ["r"]),
            helper.make_node("MatMul", ["r", "w2"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "mlp",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", FEATURES])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])],
        [w1, w2],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("mlp") / "model.onnx"
    onnx.save(model, str(path))
    return path


def _optimizer_device(profile: profiles.Profile, runtime: api.Runtime, model_uri: str) -> str:
    """The device the optimization Job measures `runtime` on, from the Job's own arguments."""
    spec = ModelDeploymentSpec.model_validate(specs.merge(specs.base_spec(), {"model": {"uri": model_uri}}))
    args = jobs.optimize_args(OWNER, spec, "abc123", profile, SETTINGS)
    job = optimize_settings.parse(args, {})
    return registry.device_override(job.device, runtime) or registry.device_for(job.accelerator, runtime)


def _server_settings(profile: profiles.Profile, runtime: api.Runtime, uri: str) -> serve_settings.Settings:
    """What the serving pod runs with: the settings its Deployment's environment gives."""
    spec = ModelDeploymentSpec.model_validate(specs.base_spec())
    ref = VersionRef(version="7", revision="abc123", runtime=runtime.value, uri=uri)
    deployment = deployments.server_deployment(OWNER, spec, names.ROLE_CANARY, ref, 1, profile, SETTINGS)
    env = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    return serve_settings.parse([], env)


@pytest.mark.parametrize(("runtime", "precision", "method"), KINDS)
def test_measured_options_are_served_options(
    mlp: pathlib.Path, tmp_path: pathlib.Path, runtime: api.Runtime, precision: api.Precision, method: api.Method
) -> None:
    spec = api.CandidateSpec(runtime=runtime, precision=precision, method=method)
    features = np.random.default_rng(6).standard_normal((64, FEATURES)).astype(np.float32)
    calibration = datasets.Dataset({"features": features})
    backend = registry.backend(runtime)
    # The searching kinds (mixed precision, NNCF accuracy control) judge what they try:
    # a drop of nothing and a perfect score keep this test about options, not accuracy.
    context = base.BuildContext(
        mlp,
        "onnx",
        tmp_path / spec.key,
        calibration,
        reduce_range=True,
        judge=lambda path: 0.0,
        evaluation=calibration,
        scorer=lambda outputs, indices: 1.0,
        search_seconds=30,
    )
    artifact = backend.build(spec, context)
    profile = profiles.defaults()[POOL]

    measured = backend.load(artifact, _optimizer_device(profile, runtime, mlp.as_uri()), precision)
    served_with = _server_settings(profile, runtime, artifact.as_uri())
    served = repositories.load(
        name=served_with.model_name,
        version=served_with.model_version,
        uri=served_with.model_uri,
        runtime=served_with.runtime,
        device=served_with.device,
        threads=served_with.threads,
        work_dir=tmp_path,
    )
    try:
        measured_options = measured.session.effective_options()
        assert measured_options == served.backend.effective_options()
        # Equal, and equal to the policy: not two sessions that merely agree by accident.
        if runtime is api.Runtime.OPENVINO:
            assert measured_options["INFERENCE_PRECISION_HINT"] == options.OPENVINO_CPU_PRECISION
            assert measured_options["PERFORMANCE_HINT"] == options.OPENVINO_HINT
        else:
            assert measured_options["graph_optimization_level"].endswith(options.ORT_GRAPH_OPTIMIZATION)
            assert measured_options["providers"] == "CPUExecutionProvider"
    finally:
        served.backend.close()


@pytest.mark.parametrize("pool", sorted(profiles.defaults()))
@pytest.mark.parametrize("runtime", list(api.Runtime))
def test_every_pool_measures_on_the_device_it_serves_on(pool: str, runtime: api.Runtime) -> None:
    profile = profiles.defaults()[pool]
    uri = "pvc://artifacts/models/ml/embedder/7/model.onnx"
    assert _optimizer_device(profile, runtime, uri) == _server_settings(profile, runtime, uri).device
