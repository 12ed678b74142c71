"""Fuzzed requests against the real server process: every one is answered with a status
and a message, the server never dies, and its memory stays bounded.

Hypothesis draws the inputs with a fixed seed (derandomize), so a run is repeatable and
the example counts keep the whole file well under a minute on two cores.
"""

from __future__ import annotations

import json
import math
import re
import select
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Server, TinyModel
from modelrollout import names

MAX_BODY = 64 * 1024
READ_TIMEOUT_S = 1.0
# What a few hundred fuzzed requests may add to the server's resident memory: allocator
# noise and warmed caches, far below one leaked body per request.
RSS_GROWTH_BOUND = 48 * 1024 * 1024
FUZZ = settings(
    max_examples=80,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DATATYPES = ["FP32", "INT64", "FP64", "BOOL", "BYTES", "INT8", "UINT8", "FP16", "BF16", "", "fp32", "X"]


@pytest.fixture(scope="module")
def server(tiny_model: TinyModel) -> Any:
    fuzzed = Server(
        [],
        env={
            names.ENV_MODEL_NAME: "tiny",
            names.ENV_MODEL_URI: str(tiny_model.path),
            names.ENV_MAX_BODY_BYTES: str(MAX_BODY),
            names.ENV_READ_TIMEOUT_SECONDS: str(READ_TIMEOUT_S),
        },
    )
    fuzzed.wait_ready()
    yield fuzzed
    fuzzed.stop()


def _rss(server: Server) -> int:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    (line,) = [line for line in status.splitlines() if line.startswith("VmRSS:")]
    return int(line.split()[1]) * 1024


class Answers:
    """Every answer a fuzzed request got, by status, and the first body of each."""

    def __init__(self) -> None:
        self.count: dict[int, int] = {}
        self.first: dict[int, str] = {}
        self.messages: set[str] = set()

    def check(self, response: requests.Response, allowed: set[int]) -> None:
        code = response.status_code
        self.count[code] = self.count.get(code, 0) + 1
        self.first.setdefault(code, response.text[:200])
        if code >= 400:
            # The kinds of refusal: the message up to its first quoted or numeric detail.
            self.messages.add(f"{code} " + re.split(r"['\"\d]", response.text.replace('{"error":"', ""), maxsplit=1)[0])
        assert code in allowed, f"{code}: {response.text[:500]}"
        if code >= 400 and response.headers.get("Content-Type", "").startswith("application/json"):
            error = response.json()["error"]
            assert isinstance(error, str) and error
        elif code >= 400:  # refused by the HTTP parser before any handler: its own text
            assert code == 400 and response.text.strip(), response.text


def _post(server: Server, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(server.url + "/v2/models/tiny/infer", data=body, headers=headers or {}, timeout=10)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0]),
)
shapes = st.one_of(
    st.just([1, 4]),
    st.lists(st.one_of(st.integers(-3, 6), st.sampled_from([2**31, 2**63, 10**30])), max_size=4),
    json_values,
)
tensors = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["x", "k", "y", ""]) | st.integers(),
        "datatype": st.sampled_from(DATATYPES),
        "shape": shapes,
        "data": st.one_of(
            st.lists(numbers, max_size=8), st.lists(st.lists(numbers, max_size=4), max_size=3), json_values
        ),
    },
    optional={"parameters": st.dictionaries(st.sampled_from(["binary_data_size", "content_type"]), json_values)},
)
infer_bodies = st.fixed_dictionaries(
    {"inputs": st.lists(tensors, max_size=3) | json_values},
    optional={
        "outputs": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["scores", "picked", "nope"])}))
        | json_values,
        "id": json_values,
        "parameters": st.dictionaries(st.sampled_from(["binary_data_output"]), json_values),
    },
)


GOOD: dict[str, Any] = {
    "inputs": [
        {"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [0.5, 1.0, -2.0, 3.0]},
        {"name": "k", "datatype": "INT64", "shape": [1, 4], "data": [0, 1, 2, 3]},
    ]
}


@st.composite
def mutated_good(draw: st.DrawFn) -> dict[str, Any]:
    """The good request with one field of one input replaced by something drawn."""
    body = json.loads(json.dumps(GOOD))
    tensor = body["inputs"][draw(st.integers(0, 1))]
    field = draw(st.sampled_from(["name", "datatype", "shape", "data", "parameters", "drop"]))
    if field == "drop":
        del tensor[draw(st.sampled_from(["name", "datatype", "shape", "data"]))]
    elif field == "data":
        tensor["data"] = draw(st.lists(numbers, min_size=4, max_size=4) | st.lists(numbers, max_size=9) | json_values)
    elif field == "shape":
        tensor["shape"] = draw(shapes)
    elif field == "datatype":
        tensor["datatype"] = draw(st.sampled_from(DATATYPES))
    elif field == "parameters":
        tensor["parameters"] = {"binary_data_size": draw(json_values | st.integers(-5, 10**20))}
    else:
        tensor["name"] = draw(st.text(max_size=4) | json_values)
    return body


def _k_out_of_range(body: dict[str, Any]) -> bool:
    """The tiny model's Gather fails in the runtime (a 500 by design) for an index outside 0..9."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        return False
    for tensor in inputs:
        if isinstance(tensor, dict) and tensor.get("name") == "k":
            flat = json.dumps(tensor.get("data"))
            return any(c.isdigit() for c in flat)
    return False


def test_fuzzed_requests_are_answered_and_memory_stays_bounded(server: Server) -> None:
    answers = Answers()
    for _ in range(20):  # warm the paths up before the baseline
        _post(server, b"{}")
    before = _rss(server)

    @FUZZ
    @given(st.binary(max_size=4096))
    def raw_bytes(body: bytes) -> None:
        answers.check(_post(server, body), {400})

    @FUZZ
    @given(infer_bodies)
    def structured(body: dict[str, Any]) -> None:
        raw = json.dumps(body, allow_nan=True).encode()  # NaN and Infinity as JavaScript writes them
        allowed = {200, 400, 404, 413} | ({500} if _k_out_of_range(body) else set())
        response = _post(server, raw)
        answers.check(response, allowed)
        if response.status_code == 500:
            assert "inference failed" in response.json()["error"]

    @FUZZ
    @given(mutated_good())
    def mutated(body: dict[str, Any]) -> None:
        structured.hypothesis.inner_test(body)  # type: ignore[attr-defined]

    @FUZZ
    @given(
        st.one_of(
            st.integers(min_value=-(2**70), max_value=2**70).map(str),
            st.sampled_from(["", " ", "1e3", "0x10", "-0", "NaN", "99999999999999999999999999"]),
            st.text(max_size=6),
        ),
        st.binary(max_size=512),
        st.integers(0, 64),
    )
    def binary_extension(length: str, tail: bytes, size: int) -> None:
        head = json.dumps(
            {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "parameters": {"binary_data_size": size}}]}
        ).encode()
        try:
            response = _post(server, head + tail, {"Inference-Header-Content-Length": length})
        except (requests.exceptions.InvalidHeader, ValueError):
            return  # requests refuses to send the header: nothing reached the server
        answers.check(response, {200, 400})

    raw_bytes()
    structured()
    mutated()
    binary_extension()
    after = _rss(server)
    assert server.process.poll() is None
    total = sum(answers.count.values())
    assert total >= 200, answers.count
    assert after - before < RSS_GROWTH_BOUND, f"RSS grew {after - before} bytes over {total} requests"
    print(f"\nfuzzed answers: {answers.count}; RSS {before >> 20} -> {after >> 20} MiB")
    for message in sorted(answers.messages):
        print(f"  {message}")
    # Still serving the good request.
    good = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [0, 0, 0, 0]},
                       {"name": "k", "datatype": "INT64", "shape": [1, 4], "data": [0, 1, 2, 3]}]}  # fmt: skip
    assert _post(server, json.dumps(good).encode()).status_code == 200


def _raw_request(server: Server, head: bytes, body_parts: list[bytes], pause_s: float) -> tuple[bytes, float]:
    """Send `head`, then each part of the body `pause_s` apart, until the server answers;
    return the answer and how long after the start it came."""
    port = int(server.url.rsplit(":", 1)[1])
    started = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        for part in [*body_parts, b""]:
            if select.select([sock], [], [], pause_s)[0]:
                break  # the server answered before the body was complete
            if part:
                sock.sendall(part)
        else:
            select.select([sock], [], [], 10)
        took = time.monotonic() - started
        while b"\r\n\r\n" not in answer or b'"error"' not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer, took


def _head(length: int, extra: str = "") -> bytes:
    return (
        f"POST /v2/models/tiny/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n{extra}\r\n"
    ).encode()


def test_a_client_that_trickles_its_body_is_cut_off(server: Server) -> None:
    answer, took = _raw_request(server, _head(1000), [b"{"] * 40, pause_s=0.1)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"did not arrive within 1s" in answer
    assert took < READ_TIMEOUT_S + 2.5


def test_a_content_length_that_lies_high_times_out(server: Server) -> None:
    answer, took = _raw_request(server, _head(10**12), [b'{"inputs": []}'], pause_s=0.0)
    assert answer.split(b"\r\n", 1)[0] in (b"HTTP/1.1 408 Request Timeout", b"HTTP/1.1 413 Request Entity Too Large")
    assert took < READ_TIMEOUT_S + 2.5


def test_a_body_over_the_limit_is_413(server: Server) -> None:
    response = _post(server, b" " * (MAX_BODY + 1))
    assert response.status_code == 413
    assert str(MAX_BODY) in response.json()["error"]
    assert server.process.poll() is None


def test_a_huge_binary_header_length_is_400(server: Server) -> None:
    response = _post(server, b"{}", {"Inference-Header-Content-Length": str(10**30)})
    assert response.status_code == 400
    assert "Inference-Header-Content-Length" in response.json()["error"]


def _with(index: int, **changes: object) -> bytes:
    body = json.loads(json.dumps(GOOD))
    body["inputs"][index].update(changes)
    return json.dumps(body).encode()


def _binary(x_size: int, k_size: int, tail: int) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(
        {
            "inputs": [
                {"name": "x", "datatype": "FP32", "shape": [1, 4], "parameters": {"binary_data_size": x_size}},
                {"name": "k", "datatype": "INT64", "shape": [1, 4], "parameters": {"binary_data_size": k_size}},
            ]
        }
    ).encode()
    return head + b"\0" * tail, {"Inference-Header-Content-Length": str(len(head))}


_NAN_TEXT = json.dumps(GOOD).replace("0.5", "NaN", 1).encode()
_INF_TEXT = json.dumps(GOOD).replace("0.5", "Infinity", 1).encode()
# Each hand-picked bad input and the start of the answer it gets (the list in the docs).
NAMED_BAD_INPUTS = [
    pytest.param(_NAN_TEXT, {}, "request body is not valid JSON", id="nan-literal"),
    pytest.param(_INF_TEXT, {}, "request body is not valid JSON", id="infinity-literal"),
    pytest.param(_with(0, data=[1e308, 0, 0, 0]), {}, "input 'x': data does not fit datatype FP32", id="fp32-overflow"),
    pytest.param(_with(0, data=[None, 0, 0, 0]), {}, "input 'x': data does not fit datatype FP32", id="null-value"),
    pytest.param(_with(1, data=[0.5, 1, 2, 3]), {}, "input 'k': data does not fit datatype INT64", id="int-fraction"),
    pytest.param(_with(1, data=[2**70, 1, 2, 3]), {}, "input 'k': data does not fit datatype INT64", id="int-overflow"),
    pytest.param(_with(0, data=[[1, 2], [3]]), {}, "input 'x': data does not fit datatype FP32", id="ragged"),
    pytest.param(_with(0, shape=[-1, 4]), {}, "'shape' must be a list of non-negative integers", id="shape-negative"),
    pytest.param(_with(0, shape=[2**63, 4]), {}, "input 'x' has 4 values but shape", id="shape-huge"),
    pytest.param(_with(0, shape="1,4"), {}, "'shape' must be a list", id="shape-text"),
    pytest.param(_with(0, datatype="fp32"), {}, "input 'x' has datatype 'fp32'", id="datatype-case"),
    pytest.param(_with(0, name=7), {}, "inputs[0] needs a 'name'", id="name-number"),
    pytest.param(_with(0, parameters={"binary_data_size": 10**20}), {}, "binary_data_size", id="binary-size-json"),
    pytest.param(*_binary(16, 32, 20), "input 'k': binary_data_size 32 runs past", id="binary-truncated"),
    pytest.param(*_binary(12, 32, 44), "input 'x': 12 bytes of binary data", id="binary-wrong-size"),
    pytest.param(b"{}", {"Inference-Header-Content-Length": str(10**30)}, "Inference-Header-Content-Length is", id="head-huge"),
    pytest.param(b"{}", {"Inference-Header-Content-Length": "-5"}, "Inference-Header-Content-Length is -5", id="head-negative"),
    pytest.param(b"{}", {"Inference-Header-Content-Length": "ten"}, "must be an integer", id="head-text"),
    pytest.param(b'{"inputs": "\xff"}', {}, "request body is not valid JSON", id="not-utf8"),
    pytest.param(b'{"inputs":' + b"[" * 30000 + b"]" * 30000 + b"}", {}, "request body is not valid JSON", id="deep-nesting"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "headers", "message"), NAMED_BAD_INPUTS)
def test_named_bad_inputs_are_400_naming_the_fault(
    server: Server, body: bytes, headers: dict[str, str], message: str
) -> None:
    response = _post(server, body, headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(message) or message in response.json()["error"]
