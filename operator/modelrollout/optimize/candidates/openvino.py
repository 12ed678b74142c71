"""OpenVINO candidates: IR FP32/FP16 (convert_model), INT8 with NNCF, weight compression."""

from __future__ import annotations

import logging
import pathlib
from typing import Any, Final

import numpy as np
import openvino as ov

from modelrollout.api import optimization as api
from modelrollout.api.v1alpha1 import ModelFormat
from modelrollout.optimize.candidates import base
from modelrollout.runtimes import openvino as runtimes_openvino
from modelrollout.runtimes import sessions

log = logging.getLogger(__name__)

SPECS: Final = frozenset(
    {
        (api.Precision.FP32, api.Method.CONVERT),
        (api.Precision.FP16, api.Method.CONVERT),
        (api.Precision.INT8, api.Method.NNCF),
        (api.Precision.INT8, api.Method.NNCF_ACCURACY),
        (api.Precision.INT8, api.Method.WEIGHT_COMPRESSION),
        (api.Precision.INT4, api.Method.WEIGHT_COMPRESSION),
    }
)
MODEL_FILE: Final = "model.xml"
NNCF_SUBSET: Final = 300
# Bounds on accuracy control's restoring loop: each iteration re-validates the model.
ACCURACY_ITERATIONS: Final = 8
RANKING_SUBSET: Final = 32
# Input names that mark a transformer, for NNCF's transformer preset (it keeps
# precision-sensitive operations such as Softmax and LayerNorm out of INT8).
TRANSFORMER_INPUTS: Final = frozenset({"input_ids", "attention_mask", "token_type_ids"})
TRANSFORMER_OPS: Final = frozenset({"Softmax", "MVN"})


def supports(spec: api.CandidateSpec, source_format: ModelFormat) -> bool:
    # Every format: ONNX is converted, IR read as it is.
    return (spec.precision, spec.method) in SPECS


def is_transformer(input_names: set[str], op_types: set[str]) -> bool:
    """Pure: does the model look like a transformer (for NNCF's model-type preset)?"""
    return bool(input_names & TRANSFORMER_INPUTS) or op_types >= TRANSFORMER_OPS


def build(spec: api.CandidateSpec, ctx: base.BuildContext) -> pathlib.Path:
    import nncf  # noqa: PLC0415 - slow to import, only quantizing candidates need it

    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    out = ctx.out_dir / MODEL_FILE
    model = _read(ctx)
    key = (spec.precision, spec.method)
    if key == (api.Precision.FP32, api.Method.CONVERT):
        ov.save_model(model, str(out), compress_to_fp16=False)
    elif key == (api.Precision.FP16, api.Method.CONVERT):
        ov.save_model(model, str(out), compress_to_fp16=True)
    elif key in ((api.Precision.INT8, api.Method.NNCF), (api.Precision.INT8, api.Method.NNCF_ACCURACY)):
        if ctx.calibration is None:
            raise base.CandidateError("NNCF quantization needs calibration data; none given")
        names = {name for i in model.inputs for name in i.get_names()}
        ops = {op.get_type_name() for op in model.get_ops()}
        model_type = nncf.ModelType.TRANSFORMER if is_transformer(names, ops) else None
        samples = [dict(feed) for feed in ctx.calibration.batches(1)]
        if key[1] is api.Method.NNCF:
            quantized = nncf.quantize(
                model,
                nncf.Dataset(samples),
                subset_size=min(NNCF_SUBSET, len(samples)),
                model_type=model_type,
            )
        else:
            quantized = _accuracy_controlled(nncf, model, samples, model_type, ctx)
        ov.save_model(quantized, str(out), compress_to_fp16=False)
    elif key[1] == api.Method.WEIGHT_COMPRESSION:
        mode = (
            nncf.CompressWeightsMode.INT8_ASYM
            if spec.precision is api.Precision.INT8
            else nncf.CompressWeightsMode.INT4_SYM
        )
        compressed = nncf.compress_weights(model, mode=mode)
        ov.save_model(compressed, str(out), compress_to_fp16=False)
    else:
        raise base.CandidateError(f"openvino cannot build {spec.key}")
    return out


def _accuracy_controlled(
    nncf: Any, model: ov.Model, samples: list[dict[str, np.ndarray]], model_type: Any, ctx: base.BuildContext
) -> ov.Model:
    """NNCF INT8 that reverts the layers costing most accuracy until the drop fits the budget."""
    if ctx.evaluation is None or ctx.scorer is None:
        raise base.CandidateError("NNCF accuracy control needs evaluation data; none given")
    scorer = ctx.scorer
    items = [(i, dict(feed)) for i, feed in enumerate(ctx.evaluation.batches(1))]

    def validate(compiled: ov.CompiledModel, data: Any) -> float:
        # NNCF hands over a model it compiled itself: run it directly, outputs in model order.
        request = compiled.create_infer_request()
        port = compiled.outputs[ctx.output]
        indices, outputs = [], []
        for index, feed in data:
            indices.append(index)
            outputs.append(np.array(request.infer(feed)[port]))
        return scorer(np.concatenate(outputs).astype(np.float32, copy=False), indices)

    return nncf.quantize_with_accuracy_control(
        model,
        calibration_dataset=nncf.Dataset(samples),
        validation_dataset=nncf.Dataset(items, lambda item: item[1]),
        validation_fn=validate,
        max_drop=ctx.max_drop * 0.8,  # judged on a subset: aim under the budget
        drop_type=nncf.DropType.ABSOLUTE,
        subset_size=min(NNCF_SUBSET, len(samples)),
        model_type=model_type,
        advanced_accuracy_restorer_parameters=nncf.AdvancedAccuracyRestorerParameters(
            max_num_iterations=ACCURACY_ITERATIONS,
            ranking_subset_size=min(RANKING_SUBSET, len(items)),
        ),
    )


def _read(ctx: base.BuildContext) -> ov.Model:
    try:
        if ctx.source_format is ModelFormat.OPENVINO:
            return runtimes_openvino.core().read_model(str(ctx.source))
        return ov.convert_model(str(ctx.source))
    except Exception as e:
        raise base.CandidateError(f"OpenVINO cannot read the model: {sessions.first_line(e)}") from e


def load(path: pathlib.Path, device: str, precision: api.Precision, threads: int = 0) -> base.Runner:
    return base.open_runner(path, api.Runtime.OPENVINO, device, threads)
