"""Each backend builds each of its candidates from a real trained model, and they run."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from modelrollout.api import optimization as api
from modelrollout.api.v1alpha1 import ModelFormat
from modelrollout.optimize import datasets, evaluating
from modelrollout.optimize.candidates import base, registry

SPECS = [
    ("onnxruntime", "fp32", "graph-opt"),
    ("onnxruntime", "int8", "dynamic"),
    ("onnxruntime", "int8", "static"),
    ("onnxruntime", "fp16", "convert"),
    ("openvino", "fp32", "convert"),
    ("openvino", "fp16", "convert"),
    ("openvino", "int8", "nncf"),
    ("openvino", "int8", "weight-compression"),
]


@pytest.mark.parametrize(("runtime", "precision", "method"), SPECS)
def test_backend_builds_and_runs(
    mlp: pathlib.Path, digits_eval: pathlib.Path, tmp_path: pathlib.Path,
    runtime: str, precision: str, method: str,
) -> None:  # fmt: skip
    spec = api.CandidateSpec.model_validate({"runtime": runtime, "precision": precision, "method": method})
    ref_backend = registry.backend(api.Runtime.ONNXRUNTIME)
    ref = ref_backend.load(mlp, "CPU", api.Precision.FP32)
    data = datasets.load_npz(digits_eval, ref.signature, "evaluation data")
    backend = registry.backend(spec.runtime)
    assert backend.supports(spec, ModelFormat.ONNX)
    ctx = base.BuildContext(mlp, ModelFormat.ONNX, tmp_path / spec.key, data.take(64), reduce_range=False)
    path = backend.build(spec, ctx)
    assert path.is_file() and base.artifact_size(path) > 0
    # Only the artifact itself: no quantization scratch to be counted or uploaded.
    assert {p.name for p in ctx.out_dir.iterdir()} <= {"model.onnx", "model.xml", "model.bin"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [spec.key]
    runner = backend.load(path, "CPU", spec.precision)
    outputs = evaluating.predict(runner, data, 32, 0)
    reference = evaluating.predict(ref, data, 32, 0)
    assert outputs.shape == reference.shape == (data.count, 10)
    # Every candidate keeps the trained classifier's decisions almost everywhere.
    agreement = evaluating.score(api.Metric.TOP1_AGREEMENT, outputs, reference)
    assert agreement >= 0.95
    accuracy = evaluating.score(api.Metric.ACCURACY, outputs, reference, data.labels)
    assert accuracy > 0.8


def test_int8_is_smaller_than_fp32(mlp: pathlib.Path, tmp_path: pathlib.Path) -> None:
    ort = registry.backend(api.Runtime.ONNXRUNTIME)
    sizes = {}
    for precision, method in [("fp32", "graph-opt"), ("int8", "dynamic")]:
        spec = api.CandidateSpec.model_validate({"runtime": "onnxruntime", "precision": precision, "method": method})
        ctx = base.BuildContext(mlp, ModelFormat.ONNX, tmp_path / spec.key, None, reduce_range=True)
        sizes[precision] = base.artifact_size(ort.build(spec, ctx))
    assert sizes["int8"] < sizes["fp32"] / 2


def test_static_without_calibration_is_a_candidate_error(mlp: pathlib.Path, tmp_path: pathlib.Path) -> None:
    spec = api.CandidateSpec.model_validate({"runtime": "onnxruntime", "precision": "int8", "method": "static"})
    with pytest.raises(base.CandidateError, match="needs calibration data"):
        registry.backend(spec.runtime).build(spec, base.BuildContext(mlp, ModelFormat.ONNX, tmp_path, None, False))


def test_cosine_score_of_identical_and_opposite() -> None:
    a = np.array([[1.0, 0.0], [0.0, 2.0]], np.float32)
    assert evaluating.score(api.Metric.COSINE, a, a) == pytest.approx(1.0)
    assert evaluating.score(api.Metric.COSINE, -a, a) == pytest.approx(-1.0)
