"""Adaptive batching on a real ONNX Runtime session: gathered, split back, failures isolated."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from conftest import TinyModel
from modelrollout.api import optimization as api
from modelrollout.runtimes import sessions, tensors
from modelrollout.serve import batching, repositories


class Gated:
    """A real session whose runs wait at a gate, so a test decides when workers are busy."""

    def __init__(self, inner: sessions.Session) -> None:
        self.inner = inner
        self.inputs, self.outputs, self.platform = inner.inputs, inner.outputs, inner.platform
        self.gate = threading.Event()
        self.rows: list[int] = []

    def run(self, feeds: Mapping[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        self.gate.wait(30)
        self.rows.append(next(iter(feeds.values())).shape[0])
        return self.inner.run(feeds)

    def effective_options(self) -> dict[str, str]:
        return self.inner.effective_options()

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def gated(tiny_model: TinyModel) -> Iterator[Gated]:
    session = Gated(sessions.open_session(tiny_model.path, api.Runtime.ONNXRUNTIME, "CPU", 1))
    yield session
    session.close()


def _feeds(rows: int, k: int) -> dict[str, npt.NDArray[Any]]:
    x = np.arange(rows * 4, dtype=np.float32).reshape(rows, 4) / 10
    return {"x": x, "k": np.full((rows, 4), k, dtype=np.int64)}


async def _gather(scheduler: batching.Scheduler, gated: Gated, feeds: list[dict[str, npt.NDArray[Any]]]) -> list[Any]:
    tasks = [asyncio.ensure_future(scheduler.run(f)) for f in feeds]
    await asyncio.sleep(0)  # every request queued while the one worker waits at the gate
    gated.gate.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


def test_requests_queued_while_busy_run_as_one_batch(gated: Gated, tiny_model: TinyModel) -> None:
    observed: list[tuple[int, float]] = []
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        scheduler = batching.Scheduler(gated, pool, 1, batching.Policy(8), lambda r, w: observed.append((r, w)))
        feeds = [_feeds(1, 1), _feeds(2, 2), _feeds(1, 3), _feeds(3, 4), _feeds(2, 5)]
        results = asyncio.run(_gather(scheduler, gated, feeds))
    # The first runs alone (the worker was free); the next four (8 rows) share one run.
    assert gated.rows == [1, 8]
    assert [r for r, _ in observed] == [1, 8, 8, 8, 8]
    for feed, result in zip(feeds, results, strict=True):
        scores, picked = tiny_model.expected(feed["x"], feed["k"])
        np.testing.assert_allclose(result["scores"], scores, rtol=1e-5)
        np.testing.assert_allclose(result["picked"], picked)


def test_batches_respect_the_size_and_never_mix_shapes(gated: Gated) -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        scheduler = batching.Scheduler(gated, pool, 1, batching.Policy(4))
        odd = {"x": np.zeros((1, 4), np.float32), "k": np.zeros((1, 4), np.int64)}
        feeds = [_feeds(1, 0), _feeds(3, 0), _feeds(2, 0), odd, _feeds(2, 0), _feeds(5, 0)]
        asyncio.run(_gather(scheduler, gated, feeds))
    # 1 alone; then 3 (+2 would pass 4) ... the 5-row request runs alone, over the limit.
    assert sum(gated.rows) == 14 and max(r for r in gated.rows if r != 5) <= 4
    assert 5 in gated.rows


def test_a_bad_request_fails_alone(gated: Gated) -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        scheduler = batching.Scheduler(gated, pool, 1, batching.Policy(8))
        feeds = [_feeds(1, 1), _feeds(1, 2), _feeds(1, 99), _feeds(1, 3)]  # k=99: Gather out of range
        results = asyncio.run(_gather(scheduler, gated, feeds))
    assert [isinstance(r, Exception) for r in results] == [False, False, True, False]


def test_a_free_worker_waits_up_to_max_delay_for_a_full_batch(gated: Gated) -> None:
    gated.gate.set()

    async def scenario(scheduler: batching.Scheduler) -> None:
        first = asyncio.ensure_future(scheduler.run(_feeds(1, 1)))
        await asyncio.sleep(0.01)
        assert not first.done()  # waiting for the batch to fill, up to 5 s
        await asyncio.gather(first, scheduler.run(_feeds(1, 2)))  # the second fills it

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        asyncio.run(scenario(batching.Scheduler(gated, pool, 1, batching.Policy(2, max_delay=5.0))))
    assert gated.rows == [2]


def test_batching_needs_a_batch_dimension_everywhere(tiny_model: TinyModel, slow_model: Any) -> None:
    tiny = sessions.open_session(tiny_model.path, api.Runtime.ONNXRUNTIME, "CPU", 1)
    slow = sessions.open_session(slow_model, api.Runtime.ONNXRUNTIME, "CPU", 1)
    asked = batching.Policy(16, 0.001)
    assert repositories.batching_for(tiny, asked) == asked
    assert repositories.batching_for(slow, asked) == batching.OFF  # fixed shapes, no batch dimension
    assert repositories.batching_for(tiny, batching.OFF) == batching.OFF
    assert all(s.batched for s in tiny.inputs) and not tensors.TensorSpec("n", "INT64", ()).batched
