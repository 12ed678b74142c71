"""Mixed-precision static QDQ on a real trained model: graph surgery and the search."""

from __future__ import annotations

import pathlib

import numpy as np
import onnx
import pytest

from modelrollout.api import optimization as api
from modelrollout.api.v1alpha1 import ModelFormat
from modelrollout.optimize import datasets, evaluating
from modelrollout.optimize.candidates import base, mixed_precision, onnxruntime, registry

OPS = onnxruntime.STATIC_OP_TYPES
STATIC = api.CandidateSpec(runtime=api.Runtime.ONNXRUNTIME, precision=api.Precision.INT8, method=api.Method.STATIC)


@pytest.fixture(scope="module")
def qdq(mlp: pathlib.Path, digits_eval: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    ref = onnxruntime.load(mlp, "CPU", api.Precision.FP32)
    data = datasets.load_npz(digits_eval, ref.signature, "evaluation data")
    out = tmp_path_factory.mktemp("qdq")
    path = onnxruntime.build(
        STATIC, base.BuildContext(mlp, ModelFormat.ONNX, out / "static", data.take(64), reduce_range=False)
    )
    full = onnx.load(str(path))
    mixed_precision.name_nodes(full)
    originals = {i.name: i for i in onnx.load(str(mlp)).graph.initializer}
    return {"full": full, "originals": originals, "data": data, "ref": evaluating.predict(ref, data, 32, 0)}


def _outputs(model: onnx.ModelProto, data: datasets.Dataset, tmp: pathlib.Path) -> np.ndarray:
    path = tmp / "m.onnx"
    onnx.save(model, str(path))
    return evaluating.predict(onnxruntime.load(path, "CPU", api.Precision.INT8), data, 32, 0)


def test_both_matmuls_are_quantized(qdq: dict[str, object]) -> None:
    full = qdq["full"]
    assert isinstance(full, onnx.ModelProto)
    assert len(mixed_precision.quantized_nodes(full, OPS)) == 2


def test_keeping_every_node_float_comes_close_to_fp32(qdq: dict[str, object], tmp_path: pathlib.Path) -> None:
    full, originals, data, ref = qdq["full"], qdq["originals"], qdq["data"], qdq["ref"]
    assert isinstance(full, onnx.ModelProto) and isinstance(data, datasets.Dataset) and isinstance(ref, np.ndarray)
    assert isinstance(originals, dict)
    nodes = mixed_precision.quantized_nodes(full, OPS)
    restored = mixed_precision.keep_float(full, originals, nodes)
    assert mixed_precision.quantized_nodes(restored, OPS) == []
    # The int8 weights nothing reads any more are gone; the FP32 originals are back.
    names = {i.name for i in restored.graph.initializer}
    assert {"w1_fp32", "w2_fp32"} <= names and not {"w1_quantized", "w2_quantized"} & names
    # The quantizer's own Q/DQ pairs between other ops (the Adds) stay, so close, not equal.
    error = np.abs(_outputs(restored, data, tmp_path) - ref).max()
    assert error < np.abs(_outputs(full, data, tmp_path) - ref).max()


def test_one_node_kept_float_leaves_the_other_quantized(qdq: dict[str, object]) -> None:
    full, originals = qdq["full"], qdq["originals"]
    assert isinstance(full, onnx.ModelProto) and isinstance(originals, dict)
    first, second = mixed_precision.quantized_nodes(full, OPS)
    partial = mixed_precision.keep_float(full, originals, [first])
    assert mixed_precision.quantized_nodes(partial, OPS) == [second]
    onnx.checker.check_model(partial)


def test_a_dequantized_weight_stands_in_when_the_original_is_unknown(
    qdq: dict[str, object], tmp_path: pathlib.Path
) -> None:
    full, data, ref = qdq["full"], qdq["data"], qdq["ref"]
    assert isinstance(full, onnx.ModelProto) and isinstance(data, datasets.Dataset) and isinstance(ref, np.ndarray)
    restored = mixed_precision.keep_float(full, {}, mixed_precision.quantized_nodes(full, OPS))
    # Weights carry their 8-bit rounding, activations none: close to FP32, not equal.
    np.testing.assert_allclose(_outputs(restored, data, tmp_path), ref, atol=0.05)


def test_search_keeps_the_fewest_nodes_the_budget_needs(qdq: dict[str, object], tmp_path: pathlib.Path) -> None:
    full, originals, data, ref = qdq["full"], qdq["originals"], qdq["data"], qdq["ref"]
    assert isinstance(full, onnx.ModelProto) and isinstance(data, datasets.Dataset) and isinstance(ref, np.ndarray)
    assert isinstance(originals, dict)
    judged: list[int] = []

    def judge(model: onnx.ModelProto) -> float:
        judged.append(len(mixed_precision.quantized_nodes(model, OPS)))
        out = _outputs(model, data, tmp_path)
        return 1.0 - evaluating.score(api.Metric.COSINE, out, ref)

    full_drop = judge(full)
    # Every node kept in FP32 still carries the quantizer's Q/DQ pairs between other ops,
    # so its drop is not zero; how far from zero depends on the CPU's integer kernels.
    all_float = judge(mixed_precision.keep_float(full, originals, mixed_precision.quantized_nodes(full, OPS)))
    assert all_float < full_drop
    judged.clear()
    # A budget the full model misses and FP32 everywhere meets: its target is midway.
    budget = (all_float + full_drop) / 2 / mixed_precision.SAFETY
    outcome = mixed_precision.search(full, originals, OPS, judge, budget, seconds=None)
    assert outcome.drop <= budget * mixed_precision.SAFETY
    assert 1 <= len(outcome.kept_float) <= 2 and outcome.measured == outcome.total == 2
    assert judged[:3] == [2, 1, 1]  # the full model, then each node alone in FP32
    assert "kept in FP32" in outcome.note


def test_search_returns_the_full_model_when_it_fits(qdq: dict[str, object]) -> None:
    full, originals = qdq["full"], qdq["originals"]
    assert isinstance(full, onnx.ModelProto) and isinstance(originals, dict)
    outcome = mixed_precision.search(full, originals, OPS, lambda m: 0.0, 0.01, seconds=None)
    assert outcome.model is full and outcome.kept_float == []


def test_search_stops_when_its_time_is_up(qdq: dict[str, object]) -> None:
    full, originals = qdq["full"], qdq["originals"]
    assert isinstance(full, onnx.ModelProto) and isinstance(originals, dict)
    ticks = iter(range(100))
    calls: list[int] = []

    def judge(model: onnx.ModelProto) -> float:
        calls.append(1)
        return 0.5

    outcome = mixed_precision.search(full, originals, OPS, judge, 0.01, seconds=1, clock=lambda: float(next(ticks)))
    # The full model is judged, then the clock is already past the ranking and the deadline.
    assert len(calls) == 1 and outcome.kept_float == [] and outcome.measured == 0


def test_static_mixed_builds_and_runs_through_the_backend(
    mlp: pathlib.Path, digits_eval: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    ref_runner = onnxruntime.load(mlp, "CPU", api.Precision.FP32)
    data = datasets.load_npz(digits_eval, ref_runner.signature, "evaluation data")
    ref = evaluating.predict(ref_runner, data, 32, 0)

    def judge(path: pathlib.Path) -> float:
        out = evaluating.predict(onnxruntime.load(path, "CPU", api.Precision.INT8), data, 32, 0)
        return 1.0 - evaluating.score(api.Metric.COSINE, out, ref)

    spec = registry.spec(api.Runtime.ONNXRUNTIME, api.Precision.INT8, api.Method.STATIC_MIXED)
    static = onnxruntime.build(
        STATIC, base.BuildContext(mlp, ModelFormat.ONNX, tmp_path / "static", data.take(64), False)
    )
    ctx = base.BuildContext(
        mlp, ModelFormat.ONNX, tmp_path / spec.key, data.take(64), False, judge=judge, max_drop=1e-9
    )
    path = onnxruntime.build(spec, ctx)
    assert {p.name for p in ctx.out_dir.iterdir()} == {"model.onnx"}
    # So tight a budget cannot be met: the search gives the closest model it found.
    assert judge(path) < judge(static)
    with pytest.raises(base.CandidateError, match="needs evaluation data"):
        onnxruntime.build(spec, base.BuildContext(mlp, ModelFormat.ONNX, tmp_path / "x", data.take(64), False))
