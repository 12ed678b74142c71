"""A minimal gRPC load generator for `inference.GRPCInferenceService/ModelInfer`.

The request is serialized once (raw tensor contents, as Triton's client sends) and
sent as bytes; responses are not parsed, only their status checked, so the client
adds the same small amount for every server measured. Prints one JSON object like
loadgen.py's.

    python grpcload.py --target 127.0.0.1:8081 --body body.json --concurrency 8 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "operator"))

from modelrollout.serve.protocol import grpc_predict_v2_pb2 as pb

METHOD = "/inference.GRPCInferenceService/ModelInfer"
_DTYPES = {"FP32": np.float32, "INT64": np.int64, "INT32": np.int32, "FP64": np.float64}


def request_bytes(model: str, body: dict[str, object]) -> bytes:
    """The REST body's inputs as one serialized ModelInferRequest with raw contents."""
    message = pb.ModelInferRequest(model_name=model)
    inputs = body["inputs"]
    assert isinstance(inputs, list)
    for tensor in inputs:
        message.inputs.add(name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"])
        array = np.asarray(tensor["data"], dtype=_DTYPES[tensor["datatype"]])
        message.raw_input_contents.append(array.tobytes())
    return message.SerializeToString()


async def _caller(
    call: grpc.aio.UnaryUnaryMultiCallable, payload: bytes, *, stop_at: float, count: int | None,
    latencies: list[float], errors: list[str],
) -> None:  # fmt: skip
    done = 0
    while (count is None and time.perf_counter() < stop_at) or (count is not None and done < count):
        started = time.perf_counter()
        try:
            await call(payload)
        except grpc.aio.AioRpcError as error:
            errors.append(str(error.code()))
        latencies.append(time.perf_counter() - started)
        done += 1


async def run(target: str, payload: bytes, *, concurrency: int, seconds: float, count: int | None,
              warmup: int) -> dict[str, float]:  # fmt: skip
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(METHOD)  # bytes in, bytes out: no client-side (de)serialization
        await _caller(call, payload, stop_at=0.0, count=warmup, latencies=[], errors=[])
        latencies: list[float] = []
        errors: list[str] = []
        started = time.perf_counter()
        per_caller = None if count is None else max(1, count // concurrency)
        await asyncio.gather(
            *(
                _caller(call, payload, stop_at=started + seconds, count=per_caller, latencies=latencies, errors=errors)
                for _ in range(concurrency)
            )
        )
        elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "throughput": len(latencies) / elapsed,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="host:port")
    p.add_argument("--model", default="m")
    p.add_argument("--body", required=True, type=Path, help="a REST request body (JSON) to translate")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--count", type=int)
    p.add_argument("--warmup", type=int, default=20)
    a = p.parse_args()
    payload = request_bytes(a.model, json.loads(a.body.read_text()))
    result = asyncio.run(
        run(a.target, payload, concurrency=a.concurrency, seconds=a.seconds, count=a.count, warmup=a.warmup)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
