"""Pure helpers: artifacts, labels, request validation."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import socket
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from modelrollout import names
from modelrollout.api import optimization as api
from modelrollout.runtimes import tensors
from modelrollout.serve import artifacts, batching, bodies, dataplane, feedback, guards, repositories


def test_locate_plain_paths_and_file_uris(tmp_path: Path) -> None:
    target = tmp_path / "a b" / "model.onnx"
    assert artifacts.locate(str(target), tmp_path) == target
    with pytest.raises(artifacts.ArtifactError, match="no such file"):
        artifacts.locate(target.as_uri(), tmp_path)
    target.parent.mkdir()
    target.write_bytes(b"m")
    assert artifacts.locate(target.as_uri(), tmp_path) == target.resolve()


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
        ("m.onnx", None, api.Runtime.ONNXRUNTIME),
        ("m.xml", None, api.Runtime.OPENVINO),
        ("m.onnx", api.Runtime.OPENVINO, api.Runtime.OPENVINO),
        ("m.onnx", api.Runtime.ONNXRUNTIME, api.Runtime.ONNXRUNTIME),
    ],
)
def test_runtime_for(name: str, requested: api.Runtime | None, runtime: api.Runtime) -> None:
    assert artifacts.runtime_for(Path(name), requested) == runtime


@pytest.mark.parametrize(("name", "requested"), [("m.bin", None), ("m.xml", api.Runtime.ONNXRUNTIME)])
def test_runtime_for_refuses(name: str, requested: api.Runtime | None) -> None:
    with pytest.raises(artifacts.ArtifactError):
        artifacts.runtime_for(Path(name), requested)


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
    inputs: tuple[tensors.TensorSpec, ...] = (tensors.TensorSpec("x", "FP32", (-1, 2)),)
    outputs: tuple[tensors.TensorSpec, ...] = (tensors.TensorSpec("y", "FP32", (-1, 2)),)

    def run(self, feeds: Mapping[str, npt.NDArray[np.generic]]) -> dict[str, npt.NDArray[np.generic]]:
        x = np.asarray(feeds["x"], dtype=np.float32)
        if (x < 0).any():
            raise RuntimeError("negative input")
        return {"y": x * 2}

    def effective_options(self) -> dict[str, str]:
        return {}

    def close(self) -> None:
        pass


@pytest.fixture
def plane() -> Iterator[dataplane.DataPlane]:
    repository = repositories.ModelRepository()
    backend = Doubler()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        model = repositories.Model("d", "1", backend, {"x": backend.inputs[0]}, 0.0)
        model.scheduler = batching.Scheduler(backend, pool, 1, batching.OFF)
        repository.add(model)
        yield dataplane.DataPlane(repository, feedback.PendingStore(60, 10), clock=lambda: 0.0)


def _call(plane: dataplane.DataPlane, body: bytes, json_length: int | None) -> tuple[bytes, int | None]:
    """What the REST adapter does with a body: decode, infer, encode."""

    async def call() -> tuple[bytes, int | None]:
        return bodies.encode(await plane.infer("d", None, bodies.decode(body, json_length)))

    return asyncio.run(call())


def _infer(plane: dataplane.DataPlane, body: object) -> dict[str, object]:
    answer: dict[str, object] = json.loads(_call(plane, json.dumps(body).encode(), None)[0])
    return answer


def test_infer_validates_and_answers(plane: dataplane.DataPlane) -> None:
    body = {
        "id": "q",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [[1, 2]]}],
    }
    answer = _infer(plane, body)
    assert answer["id"] == "q"
    assert answer["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [1, 2], "data": [2.0, 4.0]}]
    assert plane.feedback("d", b'{"id": "q", "label": 1}') == dataplane.Judged("q", [True], "1", "stable")


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
        _call(plane, b"{}", header)


def test_binary_size_mismatch(plane: dataplane.DataPlane) -> None:
    head = json.dumps(
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2],
                     "parameters": {"binary_data_size": 4}}]}
    ).encode()  # fmt: skip
    with pytest.raises(dataplane.InferenceError, match="4 bytes of binary data"):
        _call(plane, head + b"\0" * 4, len(head))


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe", b"{nope"],
    ids=["deep", "binary", "broken"],
)
def test_unparseable_bodies_are_400(plane: dataplane.DataPlane, body: bytes) -> None:
    with pytest.raises(dataplane.InferenceError, match="not valid JSON") as caught:
        _call(plane, body, None)
    assert caught.value.status == 400
    with pytest.raises(dataplane.InferenceError, match="not valid JSON"):
        plane.feedback("d", body)


# --- feedback tokens through the data plane ---------------------------------------------

KEY = b"k" * 32


@pytest.fixture
def token_plane() -> Iterator[dataplane.DataPlane]:
    """A canary pod of model "d" version "1" whose tokens verify on any pod with `KEY`."""
    repository = repositories.ModelRepository()
    backend = Doubler()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        model = repositories.Model("d", "1", backend, {"x": backend.inputs[0]}, 0.0)
        model.scheduler = batching.Scheduler(backend, pool, 1, batching.OFF)
        repository.add(model)
        tokens = feedback.Tokens(KEY, 60)
        guarded = dataplane.TokenFeedback(lambda: tokens, guards.Nonces(100), wall=lambda: 1000.0)
        yield dataplane.DataPlane(repository, feedback.PendingStore(60, 10), role="canary", tokens=guarded)


def _token(plane: dataplane.DataPlane) -> str:
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [[1, 0]]}]}
    parameters = _infer(plane, body)["parameters"]
    assert isinstance(parameters, dict)
    token: str = parameters[names.PARAMETER_FEEDBACK_TOKEN]
    return token


def _post(plane: dataplane.DataPlane, body: object) -> dataplane.Judged:
    return plane.feedback("d", json.dumps(body).encode())


def test_a_token_is_judged_for_the_pod_that_predicted(token_plane: dataplane.DataPlane) -> None:
    token = _token(token_plane)
    claim = feedback.Tokens(KEY, 60).verify(token, now=1000.0)
    assert (claim.model, claim.version, claim.role, claim.labels) == ("d", "1", "canary", (0,))
    # Another pod, another version and role, same key: counted for the canary that predicted.
    other = dataplane.DataPlane(
        token_plane.repository,
        feedback.PendingStore(60, 10),
        role="stable",
        tokens=dataplane.TokenFeedback(lambda: feedback.Tokens(KEY, 60), guards.Nonces(10), wall=lambda: 1001.0),
    )
    judged = _post(other, {"token": token, "label": 0})
    assert (judged.verdicts, judged.version, judged.role) == ([True], "1", "canary")
    assert judged.inference_id == claim.inference_id != ""


@pytest.mark.parametrize(
    ("tamper", "status", "message"),
    [
        (lambda t: t[:-3] + ("AAA" if not t.endswith("AAA") else "BBB"), 403, "bad signature"),
        (lambda t: feedback.Tokens(b"o" * 32, 60).issue("d", "1", "stable", [0], "n", 1000.0), 403, "bad signature"),
        (lambda t: feedback.Tokens(KEY, 60).issue("d", "1", "stable", [0], "n", 900.0), 410, "expired"),
        (lambda t: feedback.Tokens(KEY, 60).issue("other", "1", "stable", [0], "n", 1000.0), 400, "model 'other'"),
        (lambda t: "garbage", 400, "not a feedback token"),
    ],
    ids=["altered", "other-key", "expired", "other-model", "garbage"],
)
def test_bad_tokens_are_refused_with_a_reason(
    token_plane: dataplane.DataPlane, tamper: Callable[[str], str], status: int, message: str
) -> None:
    with pytest.raises(dataplane.InferenceError, match=message) as caught:
        _post(token_plane, {"token": tamper(_token(token_plane)), "correct": True})
    assert caught.value.status == status


def test_a_token_counts_once_and_a_bad_body_does_not_use_it(token_plane: dataplane.DataPlane) -> None:
    token = _token(token_plane)
    with pytest.raises(dataplane.InferenceError, match="1 row"):
        _post(token_plane, {"token": token, "label": [0, 1]})
    assert _post(token_plane, {"token": token, "label": 1}).verdicts == [False]
    with pytest.raises(dataplane.InferenceError, match="replay") as caught:
        _post(token_plane, {"token": token, "label": 0})
    assert caught.value.status == 409


def test_feedback_beyond_the_rate_is_429(token_plane: dataplane.DataPlane) -> None:
    assert token_plane.tokens is not None
    token_plane.tokens.limit = guards.RateLimit(rate=1.0, burst=2, now=0.0)
    for _ in range(2):
        with pytest.raises(dataplane.InferenceError, match="no pending prediction"):
            _post(token_plane, {"id": "x", "correct": True})
    with pytest.raises(dataplane.InferenceError, match="too much feedback") as caught:
        _post(token_plane, {"id": "x", "correct": True})
    assert caught.value.status == 429
