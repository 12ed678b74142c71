"""Running inferences on the worker threads, gathering concurrent requests into batches.

Every request queues here, batched or not, so the time it waits for a worker or for
a batch is measured (the queue-time histogram) and counted in its latency.

A free worker takes the oldest request and the requests behind it that have the same
trailing shapes and datatypes, up to `max_batch_size` rows, concatenated along the
first axis into one `session.run`. It takes them at once when the batch is full or
`max_delay` has passed since the oldest arrived; with `max_delay` 0 (the default) it
never waits, so a batch is whatever queued while the workers were busy: no added
latency when the server is idle, larger batches the busier it is. A batch that fails
is run again request by request, so one bad request fails alone.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from modelrollout.runtimes import sessions

Feeds = Mapping[str, npt.NDArray[Any]]
Outputs = dict[str, npt.NDArray[Any]]


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    max_batch_size: int = 1  # rows per run; 1: no batching
    max_delay: float = 0.0  # seconds a free worker may wait for a batch to fill

    @property
    def batches(self) -> bool:
        return self.max_batch_size > 1


OFF = Policy()


@dataclasses.dataclass(slots=True)
class _Item:
    feeds: Feeds
    rows: int
    key: object  # requests with equal keys can share a run; None: runs alone
    future: asyncio.Future[Outputs]
    queued_at: float


def batch_key(feeds: Feeds) -> tuple[int, object] | None:
    """Rows and the key of a request; None when its inputs disagree on the batch size."""
    rows = {a.shape[0] if a.ndim else -1 for a in feeds.values()}
    if len(rows) != 1 or -1 in rows:
        return None
    return rows.pop(), tuple((n, a.dtype.str, a.shape[1:]) for n, a in feeds.items())


def run_batch(session: sessions.Session, feeds: Sequence[Feeds]) -> list[Outputs | BaseException]:
    """Run requests as one batch and split the outputs; on failure, each request alone."""
    if len(feeds) == 1:
        return [_run_one(session, feeds[0])]
    counts = [next(iter(f.values())).shape[0] for f in feeds]
    total = sum(counts)
    joined = {name: np.concatenate([f[name] for f in feeds]) for name in feeds[0]}
    try:
        outputs = session.run(joined)
        if any(o.ndim == 0 or o.shape[0] != total for o in outputs.values()):
            raise ValueError("an output's first dimension is not the batch")
    except Exception:  # the runtime's own exception types: find the request at fault
        return [_run_one(session, f) for f in feeds]
    bounds = np.cumsum(counts)[:-1]
    split = {name: np.split(array, bounds) for name, array in outputs.items()}
    return [{name: parts[i] for name, parts in split.items()} for i in range(len(feeds))]


def _run_one(session: sessions.Session, feeds: Feeds) -> Outputs | BaseException:
    try:
        return session.run(feeds)
    except Exception as error:  # the runtime's own exception types
        return error


class Scheduler:
    """Queues requests for `workers` threads of `pool`; lives on the event loop's thread."""

    def __init__(
        self,
        session: sessions.Session,
        pool: concurrent.futures.Executor,
        workers: int,
        policy: Policy,
        observe: Callable[[int, float], None] = lambda rows, waited: None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.session = session
        self.policy = policy
        self._pool = pool
        self._workers = workers
        self._observe = observe  # (rows in the run, seconds the request waited) per request
        self._clock = clock
        self._queue: collections.deque[_Item] = collections.deque()
        self._busy = 0
        self._timer: asyncio.TimerHandle | None = None

    async def run(self, feeds: Feeds) -> Outputs:
        loop = asyncio.get_running_loop()
        keyed = batch_key(feeds) if self.policy.batches else None
        rows, key = keyed if keyed is not None else (0, None)
        item = _Item(feeds, rows, key, loop.create_future(), self._clock())
        self._queue.append(item)
        self._pump()
        return await item.future

    def _take(self) -> list[_Item] | None:
        """The next batch to run, or None when it should wait for more requests."""
        oldest = self._queue[0]
        if oldest.key is None or oldest.rows >= self.policy.max_batch_size:
            return [self._queue.popleft()]
        batch, rows = [], 0
        for item in self._queue:
            if item.key == oldest.key and rows + item.rows <= self.policy.max_batch_size:
                batch.append(item)
                rows += item.rows
        full = rows >= self.policy.max_batch_size
        due = oldest.queued_at + self.policy.max_delay
        if not full and self.policy.max_delay > 0 and self._clock() < due:
            if self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(due - self._clock(), self._wake)
            return None
        taken = {id(i) for i in batch}
        self._queue = collections.deque(i for i in self._queue if id(i) not in taken)
        return batch

    def _wake(self) -> None:
        self._timer = None
        self._pump()

    def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        while self._busy < self._workers and self._queue:
            batch = self._take()
            if batch is None:
                return
            live = [i for i in batch if not i.future.cancelled()]  # a client that went away
            if not live:
                continue
            now = self._clock()
            rows = sum(max(i.rows, 1) for i in live)
            for item in live:
                self._observe(rows, now - item.queued_at)
            self._busy += 1
            running = loop.run_in_executor(self._pool, run_batch, self.session, [i.feeds for i in live])
            running.add_done_callback(lambda done, live=live: self._finish(live, done))  # type: ignore[misc]

    def _finish(self, batch: list[_Item], done: asyncio.Future[list[Outputs | BaseException]]) -> None:
        self._busy -= 1
        error: BaseException | None = asyncio.CancelledError() if done.cancelled() else done.exception()
        results: list[Outputs | BaseException] = [error] * len(batch) if error is not None else done.result()
        for item, result in zip(batch, results, strict=True):
            if item.future.done():
                continue
            if isinstance(result, BaseException):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)
        self._pump()
