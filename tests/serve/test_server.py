"""The real server process over HTTP: protocol, bad input, metrics, feedback, shutdown."""

from __future__ import annotations

import concurrent.futures
import json
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import pytest
import requests

from conftest import Classifier, Server, StartServer, TinyModel
from modelrollout import names

REQUESTS = names.METRIC_REQUESTS


def _tiny_body(x: np.ndarray, k: np.ndarray, **extra: object) -> dict[str, object]:
    return {
        "inputs": [
            {"name": "x", "datatype": "FP32", "shape": list(x.shape), "data": x.ravel().tolist()},
            {"name": "k", "datatype": "INT64", "shape": list(k.shape), "data": k.tolist()},
        ],
        **extra,
    }


def _outputs(response: requests.Response) -> dict[str, np.ndarray]:
    return {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in response.json()["outputs"]}


@pytest.fixture
def tiny_server(start_server: StartServer, tiny_model: TinyModel) -> Server:
    # Configured by env alone, as a pod is.
    return start_server(
        env={
            names.ENV_MODEL_NAME: "tiny",
            names.ENV_MODEL_VERSION: "3",
            names.ENV_MODEL_URI: str(tiny_model.path),
            names.ENV_ROLE: "canary",
            names.ENV_MAX_BODY_BYTES: "4096",
        }
    )


def test_protocol_happy_path_onnxruntime(tiny_server: Server, tiny_model: TinyModel) -> None:
    url = tiny_server.url
    assert requests.get(url + "/v2/health/live", timeout=5).status_code == 200
    assert requests.get(url + "/v2/models/tiny/ready", timeout=5).status_code == 200
    server = requests.get(url + "/v2", timeout=5).json()
    assert server["name"] == "modelrollout"
    assert "binary_tensor_data" in server["extensions"]
    meta = requests.get(url + "/v2/models/tiny", timeout=5).json()
    assert meta["versions"] == ["3"]
    assert meta["platform"] == "onnxruntime_onnx"
    assert meta["inputs"] == [
        {"name": "x", "datatype": "FP32", "shape": [-1, 4]},
        {"name": "k", "datatype": "INT64", "shape": [-1, 4]},
    ]
    assert [o["name"] for o in meta["outputs"]] == ["scores", "picked"]

    x = np.arange(8, dtype=np.float32).reshape(2, 4) / 3
    k = np.array([[1, 2, 3, 4], [9, 8, 0, 5]], dtype=np.int64)
    response = requests.post(url + "/v2/models/tiny/infer", json=_tiny_body(x, k), timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "tiny"
    assert body["model_version"] == "3"
    assert body["id"] and response.headers[names.HEADER_INFERENCE_ID] == body["id"]
    outputs = _outputs(response)
    scores, picked = tiny_model.expected(x, k)
    np.testing.assert_allclose(outputs["scores"], scores, rtol=1e-5)
    np.testing.assert_allclose(outputs["picked"], picked)

    # A client's own id is kept; the versioned route and output selection work.
    response = requests.post(
        url + "/v2/models/tiny/versions/3/infer",
        json=_tiny_body(x, k, id="req-1", outputs=[{"name": "picked"}]),
        timeout=10,
    )
    assert response.json()["id"] == "req-1"
    assert [o["name"] for o in response.json()["outputs"]] == ["picked"]

    assert tiny_server.metric(REQUESTS, code="200", model="tiny", version="3", role="canary") == 2
    assert tiny_server.metric(names.METRIC_REQUEST_DURATION + "_count", role="canary") == 2
    assert tiny_server.metric(names.METRIC_IN_FLIGHT) == 0
    assert tiny_server.metric(names.METRIC_MODEL_LOAD, model="tiny") > 0


def test_binary_tensor_extension(tiny_server: Server, tiny_model: TinyModel) -> None:
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    k = np.array([[0, 1, 2, 3]] * 3, dtype=np.int64)
    head = json.dumps(
        {
            "inputs": [
                {"name": "x", "datatype": "FP32", "shape": [3, 4],
                 "parameters": {"binary_data_size": x.nbytes}},
                {"name": "k", "datatype": "INT64", "shape": [3, 4],
                 "parameters": {"binary_data_size": k.nbytes}},
            ],
            "outputs": [{"name": "scores", "parameters": {"binary_data": True}}],
        }
    ).encode()  # fmt: skip
    response = requests.post(
        tiny_server.url + "/v2/models/tiny/infer",
        data=head + x.tobytes() + k.tobytes(),
        headers={"Inference-Header-Content-Length": str(len(head))},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    json_length = int(response.headers["Inference-Header-Content-Length"])
    meta = json.loads(response.content[:json_length])
    (output,) = meta["outputs"]
    assert output["parameters"]["binary_data_size"] == 3 * 3 * 4
    scores = np.frombuffer(response.content[json_length:], dtype=np.float32).reshape(output["shape"])
    np.testing.assert_allclose(scores, tiny_model.expected(x, k)[0], rtol=1e-5)


def _good() -> dict[str, object]:
    return _tiny_body(np.zeros((1, 4), np.float32), np.zeros((1, 4), np.int64))


def _with_input(index: int, **changes: object) -> dict[str, object]:
    body = _good()
    inputs = body["inputs"]
    assert isinstance(inputs, list)
    inputs[index] = {**inputs[index], **changes}
    return body


BAD_INPUTS = [
    pytest.param(_with_input(0, name="y"), "unknown input name 'y'", id="wrong-name"),
    pytest.param(_with_input(0, datatype="FP64"), "datatype 'FP64'", id="wrong-dtype"),
    pytest.param(_with_input(0, shape=[1, 5], data=[0] * 5), "shape [1, 5]", id="wrong-shape"),
    pytest.param(_with_input(0, shape=[4], data=[0] * 4), "shape [4]", id="wrong-rank"),
    pytest.param(_with_input(0, shape=[2, 4]), "has 4 values", id="count-mismatch"),
    pytest.param(_with_input(0, data=["a", "b", "c", "d"]), "'x': data", id="bad-values"),
    pytest.param({"inputs": _good()["inputs"][:1]}, "missing input(s): 'k'", id="missing"),  # type: ignore[index]
    pytest.param({"inputs": []}, "'inputs'", id="no-inputs"),
    pytest.param([1, 2], "JSON object", id="not-an-object"),
    pytest.param(
        {**_good(), "outputs": [{"name": "nope"}]}, "unknown output name", id="wrong-output"
    ),
]  # fmt: skip


@pytest.mark.parametrize(("body", "message"), BAD_INPUTS)
def test_bad_input_is_400_naming_the_fault(tiny_server: Server, body: object, message: str) -> None:
    response = requests.post(tiny_server.url + "/v2/models/tiny/infer", json=body, timeout=10)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_every_failure_is_answered_and_counted(tiny_server: Server) -> None:
    url = tiny_server.url
    not_json = requests.post(url + "/v2/models/tiny/infer", data=b"{nope", timeout=10)
    assert not_json.status_code == 400
    assert "not valid JSON" in not_json.json()["error"]

    too_big = requests.post(url + "/v2/models/tiny/infer", data=b" " * 10_000, timeout=10)
    assert too_big.status_code == 413
    assert "4096" in too_big.json()["error"]

    unknown = requests.post(url + "/v2/models/other/infer", json=_good(), timeout=10)
    assert unknown.status_code == 404
    assert "'other'" in unknown.json()["error"]
    assert requests.get(url + "/v2/models/other", timeout=5).status_code == 404
    assert requests.get(url + "/v2/models/tiny/versions/9", timeout=5).status_code == 404

    # An index outside the Gather table passes validation and fails inside the runtime.
    out_of_range = _with_input(1, data=[0, 1, 2, 100])
    failed = requests.post(url + "/v2/models/tiny/infer", json=out_of_range, timeout=10)
    assert failed.status_code == 500
    assert "inference failed" in failed.json()["error"]

    # Still serving after all of that.
    assert requests.post(url + "/v2/models/tiny/infer", json=_good(), timeout=10).status_code == 200
    assert tiny_server.metric(REQUESTS, code="400") == 1
    assert tiny_server.metric(REQUESTS, code="413") == 1
    assert tiny_server.metric(REQUESTS, code="404") == 1
    assert tiny_server.metric(REQUESTS, code="500") == 1
    assert tiny_server.metric(REQUESTS, code="200") == 1
    assert tiny_server.process.poll() is None


def test_openvino_ir_from_a_directory_uri(start_server: StartServer, tiny_model: TinyModel, tmp_path: Path) -> None:
    ov.save_model(ov.convert_model(str(tiny_model.path)), str(tmp_path / "model.xml"), compress_to_fp16=False)
    server = start_server("--model-name", "tiny", "--model-uri", tmp_path.as_uri(), "--device", "CPU")
    meta = requests.get(server.url + "/v2/models/tiny", timeout=5).json()
    assert meta["platform"] == "openvino_ir"
    assert {i["name"]: i["datatype"] for i in meta["inputs"]} == {"x": "FP32", "k": "INT64"}
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    k = np.tile(np.arange(4, dtype=np.int64), (5, 1))
    response = requests.post(server.url + "/v2/models/tiny/infer", json=_tiny_body(x, k), timeout=10)
    assert response.status_code == 200, response.text
    outputs = _outputs(response)
    scores, picked = tiny_model.expected(x, k)
    np.testing.assert_allclose(outputs["scores"], scores, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(outputs["picked"], picked)
    bad = requests.post(server.url + "/v2/models/tiny/infer", json=_with_input(0, datatype="INT64"), timeout=10)
    assert bad.status_code == 400


def test_unservable_model_exits_with_a_clear_error(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server("--model-name", "m", "--model-uri", str(tmp_path), ready=False)
    assert server.process.wait(60) == 1
    server.stop()
    assert "holds neither model.onnx nor model.xml" in "".join(server.log)


def test_feedback_gives_accuracy_per_version(start_server: StartServer, classifier: Classifier) -> None:
    server = start_server("--model-name", "clf", "--model-version", "7", "--model-uri", str(classifier.path))
    infer, feedback = server.url + "/v2/models/clf/infer", server.url + "/v2/models/clf/feedback"
    with requests.Session() as http:
        for row, truth in zip(classifier.features, classifier.truth, strict=True):
            body = {"inputs": [
                {"name": "X", "datatype": "FP32", "shape": [1, 4], "data": row.tolist()}
            ]}  # fmt: skip
            answer = http.post(infer, json=body, timeout=10)
            assert answer.status_code == 200, answer.text
            judged = http.post(
                feedback,
                json={"id": answer.headers[names.HEADER_INFERENCE_ID], "label": int(truth)},
                timeout=10,
            )
            assert judged.status_code == 200, judged.text
        # An id is consumed once; unknown ids are refused, with a reason.
        again = http.post(feedback, json={"id": answer.json()["id"], "correct": True}, timeout=10)
        assert again.status_code == 404
        assert "no pending prediction" in again.json()["error"]
        bad = http.post(feedback, json={"id": "x", "correct": "yes"}, timeout=10)
        assert bad.status_code == 400

        # The correctness flag form.
        answer = http.post(infer, json=body, timeout=10)
        flag = {"id": answer.json()["id"], "correct": False}
        assert http.post(feedback, json=flag, timeout=10).status_code == 200

    correct = int((classifier.predicted == classifier.truth).sum())
    total = len(classifier.truth)
    assert 0 < correct < total  # the check below could fail either way
    labels = {"model": "clf", "version": "7", "role": "stable"}
    assert server.metric(names.METRIC_FEEDBACK, correct="true", **labels) == correct
    assert server.metric(names.METRIC_FEEDBACK, correct="false", **labels) == total - correct + 1


def test_sigterm_finishes_the_request_in_flight(start_server: StartServer, slow_model: Path) -> None:
    server = start_server(
        "--model-name", "slow", "--model-uri", str(slow_model), "--threads", "1",
        "--shutdown-timeout-seconds", "60",
    )  # fmt: skip
    x = np.eye(256, dtype=np.float32).ravel().tolist()

    def body(n: int) -> dict[str, Any]:
        return {"inputs": [
            {"name": "n", "datatype": "INT64", "shape": [], "data": [n]},
            {"name": "x", "datatype": "FP32", "shape": [256, 256], "data": x},
        ]}  # fmt: skip

    # The request must outlast the listener's close on any CPU: time a short one first and
    # size the real one to take about ten seconds here.
    started = time.monotonic()
    assert requests.post(server.url + "/v2/models/slow/infer", json=body(1000), timeout=120).ok
    per_iteration = (time.monotonic() - started) / 1000
    iterations = max(2000, int(10 / per_iteration))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(requests.post, server.url + "/v2/models/slow/infer", json=body(iterations), timeout=120)
        deadline = time.monotonic() + 30
        while server.metric(names.METRIC_IN_FLIGHT) < 1:
            assert time.monotonic() < deadline, "the request never got in flight"
            assert not pending.done(), "the request finished before it was seen in flight"
        server.process.send_signal(signal.SIGTERM)
        # New connections are refused while the request in flight is still computing.
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(server.url + "/v2/health/live", timeout=5)
            except requests.ConnectionError:
                break
            assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
        assert not pending.done(), "the request finished before the listener closed"
        response = pending.result(timeout=120)
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    assert output["shape"] == [256, 256]
    assert np.isfinite(output["data"]).all()
    assert server.process.wait(60) == 0
    assert "finishing in-flight requests" in "".join(server.log)


def test_sigterm_turns_not_ready_at_once_and_answers_through_the_drain(
    start_server: StartServer, classifier: Classifier
) -> None:
    drain = 4.0
    server = start_server("--model-name", "clf", "--model-uri", str(classifier.path), "--drain-seconds", str(drain))
    infer = server.url + "/v2/models/clf/infer"
    body = {"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4], "data": classifier.features[0].tolist()}]}
    server.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    # Readiness drops at once: a router probing it stops sending here.
    deadline = signalled + 2
    while requests.get(server.url + "/v2/health/ready", timeout=5).status_code != 503:
        assert time.monotonic() < deadline, "still ready after SIGTERM"
    assert requests.get(server.url + "/v2/models/clf/ready", timeout=5).status_code == 503
    # Yet every request that still arrives on a new connection is answered until the
    # listener closes, and that is no sooner than the drain period.
    answered, last_answer = 0, signalled
    while True:
        try:
            response = requests.post(infer, json=body, timeout=10)
        except requests.ConnectionError:
            break
        assert response.status_code == 200, response.text
        # Keep-alive clients are sent to reconnect, through the Service, elsewhere.
        assert response.headers["Connection"] == "close"
        answered, last_answer = answered + 1, time.monotonic()
        assert last_answer - signalled < drain + 30, "still accepting long after the drain period"
    assert answered > 0
    assert last_answer - signalled >= drain * 0.75, f"stopped accepting {last_answer - signalled:.1f}s after SIGTERM"
    assert server.process.wait(30) == 0
    log = "".join(server.log)
    assert "draining: not ready" in log and log.index("draining") < log.index("finishing in-flight requests")
