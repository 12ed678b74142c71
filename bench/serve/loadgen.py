"""A minimal HTTP/1.1 load generator, run as its own process beside the server.

Each of `concurrency` keep-alive connections sends one prebuilt request at a time and
reads the whole response, so the client adds little per request and the same amount
for every server measured. Prints one JSON object: latency percentiles (ms),
throughput (requests/s) and the count of non-200 answers.

    python loadgen.py --url http://127.0.0.1:8080/v2/models/m/infer --body body.json \
        --concurrency 8 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import urllib.parse
from pathlib import Path

import numpy as np


def _request(url: str, body: bytes) -> tuple[str, int, bytes]:
    parts = urllib.parse.urlsplit(url)
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return parts.hostname or "127.0.0.1", parts.port or 80, head + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        raise RuntimeError("response without Content-Length or chunked encoding")
    return status


async def _connection(
    host: str, port: int, payload: bytes, *, stop_at: float, count: int | None,
    latencies: list[float], errors: list[int],
) -> None:  # fmt: skip
    reader, writer = await asyncio.open_connection(host, port)
    done = 0
    try:
        while (count is None and time.perf_counter() < stop_at) or (count is not None and done < count):
            started = time.perf_counter()
            writer.write(payload)
            status = await _read_response(reader)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(status)
            done += 1
    finally:
        writer.close()


async def run(url: str, body: bytes, *, concurrency: int, seconds: float, count: int | None,
              warmup: int) -> dict[str, float]:  # fmt: skip
    host, port, payload = _request(url, body)
    await _connection(host, port, payload, stop_at=0.0, count=warmup, latencies=[], errors=[])
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    per_connection = None if count is None else max(1, count // concurrency)
    await asyncio.gather(
        *(
            _connection(
                host,
                port,
                payload,
                stop_at=started + seconds,
                count=per_connection,
                latencies=latencies,
                errors=errors,
            )
            for _ in range(concurrency)
        )
    )
    elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "throughput": len(latencies) / elapsed,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--body", required=True, type=Path, help="file holding the request body")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--seconds", type=float, default=10.0, help="run this long (without --count)")
    p.add_argument("--count", type=int, help="send this many requests in all instead")
    p.add_argument("--warmup", type=int, default=20)
    a = p.parse_args()
    result = asyncio.run(
        run(
            a.url,
            a.body.read_bytes(),
            concurrency=a.concurrency,
            seconds=a.seconds,
            count=a.count,
            warmup=a.warmup,
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
