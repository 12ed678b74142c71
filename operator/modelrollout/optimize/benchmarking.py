"""Latency, throughput and memory of a loaded candidate on this node."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pathlib
import threading
import time
from collections.abc import Iterator, Mapping

import numpy as np

from modelrollout.optimize import datasets
from modelrollout.optimize.candidates import base

log = logging.getLogger(__name__)

WARMUP = 3
MIN_RUNS = 3


@dataclasses.dataclass(frozen=True)
class Budget:
    """How long each measurement may run: until `seconds` or `iterations`, whichever first."""

    seconds: float = 1.0
    iterations: int = 200


@dataclasses.dataclass(frozen=True)
class Measurement:
    p50_ms: float
    p99_ms: float
    throughput: float  # samples per second at the benchmark batch


def _timed_runs(runner: base.Runner, feed: dict[str, np.ndarray], budget: Budget) -> list[float]:
    for _ in range(WARMUP):
        runner.run(feed)
    times: list[float] = []
    deadline = time.perf_counter() + budget.seconds
    while len(times) < MIN_RUNS or (len(times) < budget.iterations and time.perf_counter() < deadline):
        start = time.perf_counter()
        runner.run(feed)
        times.append(time.perf_counter() - start)
    return times


def measure(runner: base.Runner, data: datasets.Dataset, batch: int, budget: Budget) -> Measurement:
    single = _timed_runs(runner, data.batch_of(1), budget)
    batched = _timed_runs(runner, data.batch_of(batch), budget)
    # The median batch time resists the odd slow run on a busy node.
    return Measurement(
        p50_ms=float(np.percentile(single, 50) * 1000),
        p99_ms=float(np.percentile(single, 99) * 1000),
        throughput=batch / float(np.median(batched)),
    )


def compare(
    runners: Mapping[str, base.Runner], data: datasets.Dataset, batch: int, budget: Budget, rounds: int
) -> dict[str, Measurement]:
    """Measure loaded candidates in turns, `rounds` times each.

    On a node whose load changes (other pods, a noisy neighbour) a one-after-the-other
    measurement credits the candidate that happened to run in a quiet minute; in turns,
    a change hits every candidate alike, so their ratios hold.
    """
    share = Budget(budget.seconds / max(rounds, 1), max(MIN_RUNS, budget.iterations // max(rounds, 1)))
    single: dict[str, list[float]] = {k: [] for k in runners}
    batched: dict[str, list[float]] = {k: [] for k in runners}
    one, many = data.batch_of(1), data.batch_of(batch)
    for _ in range(max(rounds, 1)):
        for key, runner in runners.items():
            single[key] += _timed_runs(runner, one, share)
            batched[key] += _timed_runs(runner, many, share)
    return {
        key: Measurement(
            p50_ms=float(np.percentile(single[key], 50) * 1000),
            p99_ms=float(np.percentile(single[key], 99) * 1000),
            throughput=batch / float(np.median(batched[key])),
        )
        for key in runners
    }


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_STATM = pathlib.Path("/proc/self/statm")


def rss_bytes() -> int:
    try:
        return int(_STATM.read_text().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


class PeakMemory:
    """Peak resident memory above the level at entry, sampled every few milliseconds."""

    def __init__(self) -> None:
        self.baseline = 0
        self.peak = 0

    @property
    def bytes(self) -> int:
        return max(0, self.peak - self.baseline)


@contextlib.contextmanager
def peak_memory(interval_s: float = 0.005) -> Iterator[PeakMemory]:
    result = PeakMemory()
    result.baseline = result.peak = rss_bytes()
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval_s):
            result.peak = max(result.peak, rss_bytes())

    thread = threading.Thread(target=sample, name="peak-memory", daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result.peak = max(result.peak, rss_bytes())
