"""Decision quality of the canary analysis: whole simulated rollouts through the pure core.

For each class of canary (equal to stable; 1.5x and 1.1x slower at every quantile; 2
points less accurate; 2 points more errors) and each service rate, runs `--runs`
rollouts of the README's steps (10%/2m, 50%/5m, 100%), p99, every 30s, through
`machine.decide()`, once with the statistical judge and once with today's (one window's
value against the bounds), on the same simulated traffic model (`simulation.py`). Prints
promoted / rolled back / paused shares and the median time to the verdict per class,
both judges side by side; the last line is one JSON object.

    python bench/decisions/run.py [--runs 1000] [--rates 20,200] [--jobs 2] [--seed 1]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import pathlib
import sys
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT)]

from bench.decisions import simulation  # noqa: E402

JUDGES = ("new", "today")
CHUNK = 100


def _chunk(task: tuple[str, float, str, int, int]) -> list[simulation.Outcome]:
    name, rate, judge, runs, seed = task
    return simulation.run_class(name, rate, judge, runs, seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="rollouts per class, rate and judge")
    parser.add_argument("--rates", default="20,200", help="service rates in requests/s, comma-separated")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")]
    started = time.monotonic()
    tasks: list[tuple[str, float, str, int, int]] = []
    keys: list[tuple[str, float, str]] = []
    for ci, name in enumerate(simulation.CLASSES):
        for ri, rate in enumerate(rates):
            for judge in JUDGES:
                for chunk, first in enumerate(range(0, args.runs, CHUNK)):
                    # The same seeds for both judges: they see the same kind of traffic.
                    seed = args.seed * 1_000_003 + ci * 10_007 + ri * 101 + chunk
                    tasks.append((name, rate, judge, min(CHUNK, args.runs - first), seed))
                    keys.append((name, rate, judge))
    results: dict[tuple[str, float, str], list[simulation.Outcome]] = {}
    with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for key, outcomes in zip(keys, pool.map(_chunk, tasks), strict=True):
            results.setdefault(key, []).extend(outcomes)
    elapsed = time.monotonic() - started

    def pct(value: float) -> str:
        return f"{100 * value:5.1f}%"

    def secs(value: float | None) -> str:
        return "-" if value is None else f"{value:5.0f}s"

    print(f"{args.runs} rollouts per class, rate and judge; steps 10%/2m, 50%/5m, 100%; p99; interval 30s")
    header = f"{'class':<14}{'req/s':>6} | {'judge':<6}{'promoted':>9}{'rolled back':>12}{'paused':>8}{'median':>8}"
    print(header)
    print("-" * len(header))
    table: dict[str, Any] = {}
    for name in simulation.CLASSES:
        for rate in rates:
            for judge in JUDGES:
                s = simulation.summary(results[(name, rate, judge)])
                table.setdefault(name, {}).setdefault(f"{rate:g}", {})[judge] = s
                print(
                    f"{name:<14}{rate:>6g} | {judge:<6}{pct(s['promoted']):>9}{pct(s['rolled back']):>12}"
                    f"{pct(s['paused']):>8}{secs(s['median_s']):>8}"
                )
    print(f"({elapsed:.0f}s, {args.jobs} processes)")
    print(json.dumps({"runs": args.runs, "rates": rates, "seconds": round(elapsed, 1), "results": table}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
