"""Pure helpers: artifacts, device choice, datatypes, labels, request validation."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from modelrollout.serve import artifacts, dataplane, datatypes, feedback, repositories
from modelrollout.serve.backends import base
from modelrollout.serve.backends import onnxruntime as ort_backend
from modelrollout.serve.backends import openvino as ov_backend


def test_locate_plain_paths_and_file_uris(tmp_path: Path) -> None:
    target = tmp_path / "a b" / "model.onnx"
    assert artifacts.locate(str(target), tmp_path) == target
    assert artifacts.locate(target.as_uri(), tmp_path) == target


def test_locate_other_schemes_goes_through_storage(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the fetch: nothing listens there
    uri = f"http://127.0.0.1:{port}/model.onnx"
    with pytest.raises(artifacts.ArtifactError, match=re.escape(uri)):
        artifacts.locate(uri, tmp_path)


def test_model_file(tmp_path: Path) -> None:
    with pytest.raises(artifacts.ArtifactError, match="holds neither"):
        artifacts.model_file(tmp_path)
    (tmp_path / "model.xml").write_text("<net/>")
    assert artifacts.model_file(tmp_path) == tmp_path / "model.xml"
    (tmp_path / "model.onnx").write_bytes(b"")
    with pytest.raises(artifacts.ArtifactError, match="both"):
        artifacts.model_file(tmp_path)
    with pytest.raises(artifacts.ArtifactError, match="does not exist"):
        artifacts.model_file(tmp_path / "missing.onnx")


@pytest.mark.parametrize(
    ("name", "requested", "runtime"),
    [
        ("m.onnx", None, "onnxruntime"),
        ("m.xml", None, "openvino"),
        ("m.onnx", "openvino", "openvino"),
        ("m.onnx", "onnxruntime", "onnxruntime"),
    ],
)
def test_runtime_for(name: str, requested: str | None, runtime: str) -> None:
    assert artifacts.runtime_for(Path(name), requested) == runtime


@pytest.mark.parametrize(("name", "requested"), [("m.bin", None), ("m.xml", "onnxruntime")])
def test_runtime_for_refuses(name: str, requested: str | None) -> None:
    with pytest.raises(artifacts.ArtifactError):
        artifacts.runtime_for(Path(name), requested)


@pytest.mark.parametrize(
    ("device", "available", "providers"),
    [
        ("CPU", ["CPUExecutionProvider"], ["CPUExecutionProvider"]),
        (
            "CUDA",
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
        ),
        (
            "TensorRT",
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
        ),
    ],
)
def test_providers_for(device: str, available: list[str], providers: list[str]) -> None:
    assert ort_backend.providers_for(device, available) == providers


def test_a_gpu_device_never_falls_back_to_cpu_silently() -> None:
    with pytest.raises(base.BackendError, match="CUDAExecutionProvider"):
        ort_backend.providers_for("CUDA", ["CPUExecutionProvider"])
    with pytest.raises(base.BackendError, match="not one of"):
        ort_backend.providers_for("GPU", ["CPUExecutionProvider"])


def test_openvino_devices() -> None:
    assert ov_backend.check_device("GPU.1", ["CPU", "GPU.0", "GPU.1"]) == "GPU.1"
    assert ov_backend.check_device("AUTO:GPU,CPU", ["CPU"]) == "AUTO:GPU,CPU"
    with pytest.raises(base.BackendError, match="not present"):
        ov_backend.check_device("NPU", ["CPU"])
    with pytest.raises(base.BackendError, match="not one of"):
        ov_backend.check_device("CUDA", ["CPU"])


def test_datatypes() -> None:
    assert datatypes.from_onnx("tensor(float)") == "FP32"
    assert datatypes.from_numpy(np.dtype(np.int64)) == "INT64"
    assert datatypes.from_numpy(np.dtype("<U3")) == "BYTES"
    with pytest.raises(ValueError, match="not supported"):
        datatypes.from_onnx("seq(tensor(float))")


@pytest.mark.parametrize(
    ("output", "labels"),
    [
        (np.array([[0.1, 0.7, 0.2], [0.9, 0.0, 0.1]], np.float32), [1, 0]),
        (np.array([0.1, 0.7, 0.2], np.float32), [1]),
        (np.array([2, 0], np.int64), [2, 0]),
        (np.array([["b"], ["a"]], dtype=object), ["b", "a"]),
        (np.array(1.5, np.float32), []),
    ],
)
def test_predicted_labels(output: npt.NDArray[np.generic], labels: list[feedback.Label]) -> None:
    assert dataplane.predicted_labels(output) == labels


class Doubler:
    """A backend that doubles `x` and fails when asked to: enough to exercise the plane."""

    platform = "test"
    inputs: tuple[base.TensorSpec, ...] = (base.TensorSpec("x", "FP32", (-1, 2)),)
    outputs: tuple[base.TensorSpec, ...] = (base.TensorSpec("y", "FP32", (-1, 2)),)

    def run(self, feeds: Mapping[str, npt.NDArray[np.generic]]) -> dict[str, npt.NDArray[np.generic]]:
        x = np.asarray(feeds["x"], dtype=np.float32)
        if (x < 0).any():
            raise RuntimeError("negative input")
        return {"y": x * 2}

    def close(self) -> None:
        pass


@pytest.fixture
def plane() -> dataplane.DataPlane:
    repository = repositories.ModelRepository()
    backend = Doubler()
    repository.add(repositories.Model("d", "1", backend, {"x": backend.inputs[0]}, 0.0))
    return dataplane.DataPlane(repository, feedback.PendingStore(60, 10), clock=lambda: 0.0)


def _infer(plane: dataplane.DataPlane, body: object) -> dict[str, object]:
    result = plane.infer("d", None, json.dumps(body).encode(), None)
    answer: dict[str, object] = json.loads(result.body)
    return answer


def test_infer_validates_and_answers(plane: dataplane.DataPlane) -> None:
    body = {
        "id": "q",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [[1, 2]]}],
    }
    answer = _infer(plane, body)
    assert answer["id"] == "q"
    assert answer["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [1, 2], "data": [2.0, 4.0]}]
    assert plane.feedback("d", b'{"id": "q", "label": 1}') == ("q", [True])


def test_backend_failure_is_a_500(plane: dataplane.DataPlane) -> None:
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [-1, 2]}]}
    with pytest.raises(dataplane.InferenceError) as caught:
        _infer(plane, body)
    assert caught.value.status == 500
    assert "negative input" in caught.value.message


@pytest.mark.parametrize(
    ("header", "message"),
    [(-1, "Inference-Header-Content-Length"), (10_000, "Inference-Header-Content-Length")],
)
def test_binary_header_out_of_range(plane: dataplane.DataPlane, header: int, message: str) -> None:
    with pytest.raises(dataplane.InferenceError, match=message):
        plane.infer("d", None, b"{}", header)


def test_binary_size_mismatch(plane: dataplane.DataPlane) -> None:
    head = json.dumps(
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2],
                     "parameters": {"binary_data_size": 4}}]}
    ).encode()  # fmt: skip
    with pytest.raises(dataplane.InferenceError, match="4 bytes of binary data"):
        plane.infer("d", None, head + b"\0" * 4, len(head))


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe", b"{nope"],
    ids=["deep", "binary", "broken"],
)
def test_unparseable_bodies_are_400(plane: dataplane.DataPlane, body: bytes) -> None:
    with pytest.raises(dataplane.InferenceError, match="not valid JSON") as caught:
        plane.infer("d", None, body, None)
    assert caught.value.status == 400
    with pytest.raises(dataplane.InferenceError, match="not valid JSON"):
        plane.feedback("d", body)
