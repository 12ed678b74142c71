"""Small models built here and a real `modelrollout serve` process to talk HTTP to."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
import requests
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression

OPERATOR_DIR = Path(__file__).resolve().parents[2] / "operator"
STARTUP_SECONDS = 60.0


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@dataclasses.dataclass(frozen=True)
class TinyModel:
    """scores = (x + float(k)) @ weights;  picked = table[k] (fails for k out of range)."""

    path: Path
    weights: np.ndarray
    table: np.ndarray

    def expected(self, x: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (x + k.astype(np.float32)) @ self.weights, self.table[k]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    rng = np.random.default_rng(7)
    weights = rng.standard_normal((4, 3)).astype(np.float32)
    table = np.arange(10, dtype=np.float32) * 1.5
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["k"], ["kf"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["x", "kf"], ["xk"]),
            helper.make_node("MatMul", ["xk", "W"], ["scores"]),
            helper.make_node("Gather", ["table", "k"], ["picked"]),
        ],
        "tiny",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4]),
            helper.make_tensor_value_info("k", TensorProto.INT64, ["N", 4]),
        ],
        [
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("picked", TensorProto.FLOAT, ["N", 4]),
        ],
        [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(table, "table")],
    )
    path = _save(graph, tmp_path_factory.mktemp("tiny") / "model.onnx")
    return TinyModel(path, weights, table)


@pytest.fixture(scope="session")
def slow_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """y = tanh(... tanh(x @ W) ... @ W), repeated `n` times: the client sets the duration."""
    rng = np.random.default_rng(3)
    w = (rng.standard_normal((256, 256)) / 16).astype(np.float32)
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("MatMul", ["x_in", "W"], ["mm"]),
            helper.make_node("Tanh", ["mm"], ["x_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x_in", TensorProto.FLOAT, [256, 256]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x_out", TensorProto.FLOAT, [256, 256]),
        ],
    )
    graph = helper.make_graph(
        [helper.make_node("Loop", ["n", "", "x"], ["y"], body=body)],
        "slow",
        [
            helper.make_tensor_value_info("n", TensorProto.INT64, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [256, 256]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [256, 256])],
        [numpy_helper.from_array(w, "W")],
    )
    return _save(graph, tmp_path_factory.mktemp("slow") / "model.onnx")


@dataclasses.dataclass(frozen=True)
class Classifier:
    path: Path
    features: np.ndarray
    truth: np.ndarray
    predicted: np.ndarray  # what the classifier itself predicts for `features`


@pytest.fixture(scope="session")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Classifier:
    rng = np.random.default_rng(11)
    centers = np.array([[0, 0, 0, 0], [2, 2, 0, 0], [0, 2, 2, 0]], dtype=np.float32)
    truth = rng.integers(0, 3, size=300)
    features = (centers[truth] + rng.standard_normal((300, 4)) * 1.2).astype(np.float32)
    model = LogisticRegression(max_iter=500).fit(features[:200], truth[:200])
    onx = to_onnx(model, features[:1], options={"zipmap": False}, target_opset=17)
    path = tmp_path_factory.mktemp("clf") / "model.onnx"
    path.write_bytes(onx.SerializeToString())
    held_out = features[200:]
    return Classifier(path, held_out, truth[200:], model.predict(held_out))


class Server:
    """A real `modelrollout serve` process on a free loopback port."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(OPERATOR_DIR), os.environ.get("PYTHONPATH", "")) if p)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelrollout",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--grpc-port",
                "0",
                *args,
            ],
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log: list[str] = []
        self._port: int | None = None
        self.grpc_port: int | None = None
        self._seen_port = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._seen_port.wait(STARTUP_SECONDS) or self._port is None:
            self.stop()
            raise AssertionError("server did not start listening:\n" + "".join(self.log))
        self.url: str = f"http://127.0.0.1:{self._port}"

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)
            grpc_match = re.search(r"listening on grpc://[^:]+:(\d+)", line)
            if grpc_match:
                self.grpc_port = int(grpc_match.group(1))
            match = re.search(r"listening on http://[^:]+:(\d+)", line)
            if match:
                self._port = int(match.group(1))
                self._seen_port.set()
        self._seen_port.set()  # the process ended: stop waiting

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("server exited while loading:\n" + "".join(self.log))
            if requests.get(self.url + "/v2/health/ready", timeout=5).status_code == 200:
                return
            time.sleep(0.05)  # polling interval, bounded by the deadline
        raise AssertionError("server never became ready:\n" + "".join(self.log))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._reader.join(10)
        return self.process.returncode

    def metric(self, name: str, **labels: str) -> float:
        """The value of one series in /metrics (0 when absent)."""
        text = requests.get(self.url + "/metrics", timeout=5).text
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{"):
                continue
            series, value = line.rsplit(" ", 1)
            found = dict(re.findall(r'(\w+)="([^"]*)"', series))
            if all(found.get(k) == v for k, v in labels.items()):
                total += float(value)
        return total


StartServer = Callable[..., Server]


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    servers: list[Server] = []

    def start(*args: str, env: dict[str, str] | None = None, ready: bool = True) -> Server:
        server = Server(list(args), env)
        servers.append(server)
        if ready:
            server.wait_ready()
        return server

    yield start
    for server in servers:
        server.stop()
