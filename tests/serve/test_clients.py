"""A client written for Triton works unchanged, over REST (JSON and binary tensors) and gRPC."""

from __future__ import annotations

import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from conftest import StartServer, TinyModel


def test_triton_http_client(start_server: StartServer, tiny_model: TinyModel) -> None:
    server = start_server("--model-name", "tiny", "--model-uri", str(tiny_model.path))
    client = httpclient.InferenceServerClient(url=server.url.removeprefix("http://"))
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("tiny")
        assert client.get_server_metadata()["name"] == "modelrollout"
        inputs = {i["name"]: i for i in client.get_model_metadata("tiny")["inputs"]}
        assert inputs["k"]["datatype"] == "INT64"

        x = np.linspace(0, 1, 8, dtype=np.float32).reshape(2, 4)
        k = np.array([[3, 1, 4, 1], [5, 9, 2, 6]], dtype=np.int64)
        for binary in (False, True):
            x_in = httpclient.InferInput("x", list(x.shape), "FP32")
            x_in.set_data_from_numpy(x, binary_data=binary)
            k_in = httpclient.InferInput("k", list(k.shape), "INT64")
            k_in.set_data_from_numpy(k, binary_data=not binary)
            result = client.infer(
                "tiny",
                [x_in, k_in],
                outputs=[
                    httpclient.InferRequestedOutput("scores", binary_data=binary),
                    httpclient.InferRequestedOutput("picked", binary_data=not binary),
                ],
            )
            scores, picked = tiny_model.expected(x, k)
            np.testing.assert_allclose(result.as_numpy("scores"), scores, rtol=1e-5)
            np.testing.assert_allclose(result.as_numpy("picked"), picked)
            assert result.get_response()["id"]

        with pytest.raises(Exception, match="unknown input name"):
            bad = httpclient.InferInput("nope", [1, 4], "FP32")
            bad.set_data_from_numpy(np.zeros((1, 4), np.float32))
            client.infer("tiny", [bad])
    finally:
        client.close()


def test_triton_grpc_client(start_server: StartServer, tiny_model: TinyModel) -> None:
    server = start_server("--model-name", "tiny", "--model-uri", str(tiny_model.path), "--max-batch-size", "8")
    assert server.grpc_port is not None
    client = grpcclient.InferenceServerClient(url=f"127.0.0.1:{server.grpc_port}")
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("tiny")
        assert client.get_server_metadata().name == "modelrollout"
        metadata = client.get_model_metadata("tiny")
        assert {i.name: i.datatype for i in metadata.inputs} == {"x": "FP32", "k": "INT64"}

        x = np.linspace(0, 1, 8, dtype=np.float32).reshape(2, 4)
        k = np.array([[3, 1, 4, 1], [5, 9, 2, 6]], dtype=np.int64)
        x_in = grpcclient.InferInput("x", list(x.shape), "FP32")
        x_in.set_data_from_numpy(x)
        k_in = grpcclient.InferInput("k", list(k.shape), "INT64")
        k_in.set_data_from_numpy(k)
        result = client.infer("tiny", [x_in, k_in], request_id="g-1")
        scores, picked = tiny_model.expected(x, k)
        np.testing.assert_allclose(result.as_numpy("scores"), scores, rtol=1e-5)
        np.testing.assert_allclose(result.as_numpy("picked"), picked)
        assert result.get_response().id == "g-1"
        # Only the outputs asked for come back.
        only = client.infer("tiny", [x_in, k_in], outputs=[grpcclient.InferRequestedOutput("picked")])
        assert only.as_numpy("scores") is None
        np.testing.assert_allclose(only.as_numpy("picked"), picked)

        with pytest.raises(InferenceServerException, match="unknown input name") as caught:
            bad = grpcclient.InferInput("nope", [1, 4], "FP32")
            bad.set_data_from_numpy(np.zeros((1, 4), np.float32))
            client.infer("tiny", [bad])
        assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
        with pytest.raises(InferenceServerException) as missing:
            client.get_model_metadata("nope")
        assert missing.value.status() == "StatusCode.NOT_FOUND"
    finally:
        client.close()
    # Counted in the same series as REST: two answered, one refused; feedback on a gRPC id.
    assert server.metric("modelrollout_inference_requests_total", model="tiny", code="200") == 2
    assert server.metric("modelrollout_inference_requests_total", model="tiny", code="400") == 1
    answer = requests.post(f"{server.url}/v2/models/tiny/feedback", json={"id": "g-1", "correct": True}, timeout=10)
    assert answer.status_code == 200 and answer.json()["correct"] == [True, True]
