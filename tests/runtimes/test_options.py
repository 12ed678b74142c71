"""The one options policy (pure), and the tensor descriptions both sides share."""

from __future__ import annotations

import numpy as np
import pytest

from modelrollout.api import optimization as api
from modelrollout.runtimes import datatypes, options, tensors

ALL_ORT = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.parametrize(
    ("device", "providers"),
    [
        ("CPU", ("CPUExecutionProvider",)),
        ("CUDA", ("CUDAExecutionProvider", "CPUExecutionProvider")),
        ("TensorRT", ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")),
    ],
)
def test_onnxruntime_providers_in_preference_order(device: str, providers: tuple[str, ...]) -> None:
    chosen = options.onnxruntime_options(device, 0, ALL_ORT)
    assert chosen.providers == providers
    assert chosen.graph_optimization == "ORT_ENABLE_ALL"
    assert chosen.intra_op_threads == 0


def test_onnxruntime_threads_pass_through() -> None:
    assert options.onnxruntime_options("CPU", 3, ALL_ORT).intra_op_threads == 3


def test_a_gpu_device_never_falls_back_to_cpu_silently() -> None:
    with pytest.raises(options.OptionsError, match="CUDAExecutionProvider"):
        options.onnxruntime_options("CUDA", 0, ["CPUExecutionProvider"])
    with pytest.raises(options.OptionsError, match="not one of"):
        options.onnxruntime_options("GPU", 0, ["CPUExecutionProvider"])


@pytest.mark.parametrize("device", ["CPU", "GPU", "GPU.1", "NPU", "AUTO", "AUTO:GPU,CPU"])
@pytest.mark.parametrize("threads", [0, 2])
def test_openvino_config(device: str, threads: int) -> None:
    chosen = options.openvino_options(device, threads, ["CPU", "GPU.0", "GPU.1", "NPU"])
    assert chosen.device == device
    assert chosen.config["PERFORMANCE_HINT"] == "LATENCY"
    # f32 on CPU whatever the artifact's precision; other devices keep their native precision.
    assert chosen.config.get("INFERENCE_PRECISION_HINT") == ("f32" if device == "CPU" else None)
    assert chosen.config.get("INFERENCE_NUM_THREADS") == (threads or None)


def test_openvino_refuses_unknown_or_absent_devices() -> None:
    with pytest.raises(options.OptionsError, match="not present"):
        options.openvino_options("NPU", 0, ["CPU"])
    with pytest.raises(options.OptionsError, match="not one of"):
        options.openvino_options("CUDA", 0, ["CPU"])


def test_devices_table_covers_every_runtime() -> None:
    assert set(options.DEVICES) == set(api.Runtime)


def test_datatypes() -> None:
    assert datatypes.from_onnx("tensor(float)") == "FP32"
    assert datatypes.from_numpy(np.dtype(np.int64)) == "INT64"
    assert datatypes.from_numpy(np.dtype("<U3")) == "BYTES"
    with pytest.raises(ValueError, match="not supported"):
        datatypes.from_onnx("seq(tensor(float))")


def test_tensor_specs() -> None:
    spec = tensors.TensorSpec("x", "FP32", tensors.dims(["N", 4]))
    assert spec.shape == (-1, 4) and spec.batched and spec.dtype == np.float32
    assert not tensors.TensorSpec("y", "INT64", (1, 4)).batched
    feeds = tensors.warmup_feeds((spec, tensors.TensorSpec("s", "BYTES", (-1,))))
    assert feeds["x"].shape == (1, 4) and feeds["s"].tolist() == [""]
