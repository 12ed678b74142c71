"""Benchmark `modelrollout serve` against the floor and a peer server, side by side.

For each model (a small MLP built here, and MiniLM): the floor is `session.run` in
this process with no server; then `modelrollout serve` and the peer (MLServer with an
ONNX Runtime custom runtime, installed by this script into its own virtual
environment under the user's cache directory, so the project's environment is
untouched) each serve the same file with the same intra-op threads, each without and
with its adaptive batching (`--batch`, rows per run), over REST and gRPC. A load
generator in a separate process (loadgen.py for REST, grpcload.py for gRPC) measures
p50/p99 at concurrency 1 and throughput at concurrency 8 and 32. Prints a table; the
last line is one JSON object.

    python bench/serve/run.py [--model path/to/model.onnx] [--threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_MODEL = REPO.parent / "shared" / "models" / "minilm-l6-v2" / "model.onnx"
PEER_VERSION = "1.7.1"
PEER_VENV = Path.home() / ".cache" / "modelrollout-bench" / f"mlserver-{PEER_VERSION}"
MODEL_NAME = "m"


def small_model(path: Path) -> Path:
    """A 64-256-10 MLP: the kind of model where server overhead dominates."""
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((64, 256)).astype(np.float32) / 8, "W1")
    w2 = numpy_helper.from_array(rng.standard_normal((256, 10)).astype(np.float32) / 16, "W2")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W1"], ["h"]),
            helper.make_node("Relu", ["h"], ["r"]),
            helper.make_node("MatMul", ["r", "W2"], ["scores"]),
        ],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 10])],
        [w1, w2],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def feeds_for(path: Path, seq_len: int) -> dict[str, np.ndarray]:
    """Batch-1 inputs: random features, or token ids and a full mask for text models."""
    rng = np.random.default_rng(1)
    feeds: dict[str, np.ndarray] = {}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for i in session.get_inputs():
        shape = [1 if not isinstance(d, int) else d for d in i.shape]
        if i.type == "tensor(int64)":
            shape = [1, seq_len]
            if "mask" in i.name:
                feeds[i.name] = np.ones(shape, dtype=np.int64)
            else:
                ids = rng.integers(1000, 20000, size=shape, dtype=np.int64)
                ids[0, 0], ids[0, -1] = 101, 102
                feeds[i.name] = ids
        else:
            feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def v2_body(feeds: dict[str, np.ndarray]) -> bytes:
    datatype = {np.dtype(np.float32): "FP32", np.dtype(np.int64): "INT64"}
    return json.dumps(
        {
            "inputs": [
                {"name": n, "datatype": datatype[a.dtype], "shape": list(a.shape),
                 "data": a.ravel().tolist()}
                for n, a in feeds.items()
            ]
        }
    ).encode()  # fmt: skip


def floor(path: Path, feeds: dict[str, np.ndarray], threads: int, count: int) -> dict[str, float]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _ in range(20):
        session.run(None, feeds)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - started)
    ms = np.array(times) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before it was ready")
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(url, timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.1)  # polling interval, bounded by the deadline
    raise RuntimeError(f"{url} not ready after {seconds}s")


@contextlib.contextmanager
def running(command: list[str], ready_url: str, **kwargs: Any) -> Iterator[None]:
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **kwargs)
        try:
            try:
                wait_ready(ready_url, process)
            except RuntimeError:
                log.seek(0)
                sys.stderr.write(log.read().decode(errors="replace")[-4000:])
                raise
            yield
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def ensure_peer(venv: Path) -> Path:
    mlserver = venv / "bin" / "mlserver"
    if not mlserver.exists():
        print(f"installing MLServer {PEER_VERSION} into {venv} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            # uvloop 0.22 made get_event_loop() raise outside a running loop, which
            # kills MLServer 1.7's parallel inference workers at start.
            [str(venv / "bin" / "pip"), "install", "-q", f"mlserver=={PEER_VERSION}",
             f"onnxruntime=={ort.__version__}", "uvloop<0.22"],
            check=True,
        )  # fmt: skip
    return mlserver


def ours(
    path: Path, port: int, threads: int, workers: int, *, batch: int, grpc_port: int
) -> contextlib.AbstractContextManager[None]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "operator")}
    command = [
        sys.executable, "-m", "modelrollout", "serve", "--model-name", MODEL_NAME,
        "--model-uri", str(path), "--host", "127.0.0.1", "--port", str(port),
        "--threads", str(threads), "--workers", str(workers), "--max-batch-size", str(batch),
        "--grpc-port", str(grpc_port),
    ]  # fmt: skip
    return running(command, f"http://127.0.0.1:{port}/v2/health/ready", env=env)


def peer(
    mlserver: Path, path: Path, port: int, *, threads: int, workers: int, work: Path, batch: int, grpc_port: int,
    batch_time: float,
) -> contextlib.AbstractContextManager[None]:  # fmt: skip
    home = work / f"mlserver-{port}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    shutil.copy(HERE / "mlserver_runtime.py", home / "mlserver_runtime.py")
    settings = {
        "debug": False, "host": "127.0.0.1", "http_port": port, "grpc_port": grpc_port,
        "metrics_port": free_port(), "parallel_workers": workers,
    }  # fmt: skip
    (home / "settings.json").write_text(json.dumps(settings))
    model_settings = {
        "name": MODEL_NAME,
        "implementation": "mlserver_runtime.OnnxRuntimeModel",
        "parameters": {"uri": str(path), "extra": {"threads": threads}},
    }
    if batch > 1:  # MLServer's adaptive batching: a batch is full or max_batch_time old
        model_settings |= {"max_batch_size": batch, "max_batch_time": batch_time}
    (home / "model-settings.json").write_text(json.dumps(model_settings))
    return running(
        [str(mlserver), "start", str(home)],
        f"http://127.0.0.1:{port}/v2/models/{MODEL_NAME}/ready",
        cwd=home,
    )


def load(url: str, body: Path, concurrency: int, seconds: float | None, count: int | None) -> dict[str, float]:
    if url.startswith("grpc://"):
        command = [sys.executable, str(HERE / "grpcload.py"), "--target", url.removeprefix("grpc://"),
                   "--model", MODEL_NAME, "--body", str(body), "--concurrency", str(concurrency)]  # fmt: skip
    else:
        command = [sys.executable, str(HERE / "loadgen.py"), "--url", url, "--body", str(body),
                   "--concurrency", str(concurrency)]  # fmt: skip
    command += ["--count", str(count)] if count else ["--seconds", str(seconds)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if result["errors"]:
        raise RuntimeError(
            f"{url}: {result['errors']} failed answers at concurrency {concurrency} {result.get('first_error', '')}"
        )
    return result


def _median(values: list[float]) -> float:
    return float(np.median(values))


def measure(
    path: Path, feeds: dict[str, np.ndarray], body: Path, urls: dict[str, str], *,
    threads: int, count: int, seconds: float, rounds: int,
) -> dict[str, Any]:  # fmt: skip
    """Interleave the floor and the servers round by round and keep each figure's median.

    A shared machine's background load drifts; measuring A, B, C, A, B, C ... exposes
    every contender to the same drift, where A, A, A, B, B, B would not.
    """
    samples: dict[str, dict[str, list[float]]] = {s: {} for s in ("floor", *urls)}

    def add(server: str, key: str, value: float) -> None:
        samples[server].setdefault(key, []).append(value)

    for _ in range(rounds):
        base = floor(path, feeds, threads, count)
        add("floor", "p50_ms", base["p50_ms"])
        add("floor", "p99_ms", base["p99_ms"])
        for server, url in urls.items():
            c1 = load(url, body, 1, None, count)
            add(server, "p50_ms", c1["p50_ms"])
            add(server, "p99_ms", c1["p99_ms"])
            add(server, "overhead_p50_ms", c1["p50_ms"] - base["p50_ms"])
        for concurrency in (8, 32):
            for server, url in urls.items():
                result = load(url, body, concurrency, seconds, None)
                add(server, f"throughput_c{concurrency}", result["throughput"])
                add(server, f"p99_ms_c{concurrency}", result["p99_ms"])
    return {server: {key: _median(values) for key, values in figures.items()} for server, figures in samples.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="the large model (.onnx)")
    p.add_argument("--seq-len", type=int, default=64, help="tokens per request for text models")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads, the same for all")
    p.add_argument("--workers", type=int, default=1, help="modelrollout serve --workers")
    p.add_argument("--peer-workers", type=int, default=1, help="MLServer parallel_workers")
    p.add_argument("--count", type=int, default=1000, help="requests per concurrency-1 run")
    p.add_argument("--seconds", type=float, default=4.0, help="length of each throughput run")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians reported")
    p.add_argument("--batch", type=int, default=32, help="rows per run in the batching rows (both servers)")
    p.add_argument("--peer-batch-time", type=float, default=0.002, help="MLServer max_batch_time, seconds")
    p.add_argument("--peer-venv", type=Path, default=PEER_VENV)
    p.add_argument("--no-peer", action="store_true", help="measure the floor and ours only")
    a = p.parse_args()
    # Turn SIGTERM into an exit, so the servers this started are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    mlserver = None if a.no_peer else ensure_peer(a.peer_venv)
    peer_version = None
    if mlserver is not None:
        peer_version = subprocess.run(
            [str(mlserver.parent / "python"), "-c", "import mlserver; print(mlserver.__version__)"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="modelrollout-bench-") as tmp:
        work = Path(tmp)
        models = {"small-mlp": small_model(work / "mlp.onnx")}
        if a.model.is_file():
            models[a.model.parent.name or a.model.stem] = a.model
        else:
            print(f"skipping the large model: {a.model} not found", file=sys.stderr)
        for label, path in models.items():
            feeds = feeds_for(path, a.seq_len)
            body = work / f"{label}.json"
            body.write_bytes(v2_body(feeds))
            count = a.count if label == "small-mlp" else max(50, a.count // 10)
            urls: dict[str, str] = {}
            with contextlib.ExitStack() as stack:
                for batch in (1, a.batch):
                    port, grpc_port = free_port(), free_port()
                    stack.enter_context(ours(path, port, a.threads, a.workers, batch=batch, grpc_port=grpc_port))
                    name = "modelrollout" + (" batching" if batch > 1 else "")
                    urls[name] = f"http://127.0.0.1:{port}/v2/models/{MODEL_NAME}/infer"
                    urls[name + " grpc"] = f"grpc://127.0.0.1:{grpc_port}"
                if mlserver is not None:
                    for batch in (1, a.batch):
                        port, grpc_port = free_port(), free_port()
                        stack.enter_context(
                            peer(mlserver, path, port, threads=a.threads, workers=a.peer_workers, work=work,
                                 batch=batch, grpc_port=grpc_port, batch_time=a.peer_batch_time)
                        )  # fmt: skip
                        name = "mlserver" + (" batching" if batch > 1 else "")
                        urls[name] = f"http://127.0.0.1:{port}/v2/models/{MODEL_NAME}/infer"
                        urls[name + " grpc"] = f"grpc://127.0.0.1:{grpc_port}"
                results[label] = measure(
                    path, feeds, body, urls, threads=a.threads, count=count,
                    seconds=a.seconds, rounds=a.rounds,
                )  # fmt: skip
            print(f"measured {label}", file=sys.stderr)

    print(table(results, a))
    print(json.dumps({
        "threads": a.threads, "seq_len": a.seq_len, "rounds": a.rounds, "batch": a.batch,
        "peer": {"name": "mlserver", "version": peer_version,
                 "parallel_workers": a.peer_workers} if peer_version else None,
        "models": results,
    }, separators=(",", ":")))  # fmt: skip


def table(results: dict[str, Any], a: argparse.Namespace) -> str:
    lines = [
        f"intra-op threads {a.threads}; batch 1; text models {a.seq_len} tokens; "
        f"modelrollout --workers {a.workers}; MLServer parallel_workers {a.peer_workers}; "
        f"batching rows: up to {a.batch} rows per run (MLServer max_batch_time {a.peer_batch_time}s, "
        f"modelrollout max delay 0); median of {a.rounds} interleaved rounds",
        "",
        "| model | server | p50 ms c=1 | p99 ms c=1 | overhead p50 ms | req/s c=8 | req/s c=32 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, row in results.items():
        f = row["floor"]
        lines.append(f"| {label} | session.run (floor) | {f['p50_ms']:.3f} | {f['p99_ms']:.3f} | — | — | — |")
        for server in row:
            if server != "floor":
                r = row[server]
                lines.append(
                    f"| {label} | {server} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | "
                    f"{r['overhead_p50_ms']:.3f} | {r['throughput_c8']:.0f} | "
                    f"{r['throughput_c32']:.0f} |"
                )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
