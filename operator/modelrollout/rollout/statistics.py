"""The statistics under canary verdicts: intervals from counts and histograms. Pure math.

Everything here is a function of counts. Intervals are two-sided at `1 - 2 * alpha`, so
each of their bounds holds with probability `1 - alpha`: a verdict that uses the lower
bound to fail and the upper bound to pass is wrong in either direction at most `alpha`
of the time.

Repeated looks: the analysis judges the step's evidence again every interval, so the
error budget `alpha` is spent over the looks (a union bound over looks: an always-valid
alpha-spending sequence). Half of it goes to a p-series, `alpha/2 * 6 / (pi^2 k^2)` at
look `k`, which is front-loaded so a clear failure shows early and never runs out
however long a step is watched; the other half is spread evenly over the `planned`
looks of the step (its pause and longest extension, over the interval), so the last
planned looks, which see the most evidence, keep their power. The shares add up to at
most `alpha` over any number of looks, so the chance of any wrong verdict in a step
stays under `alpha` whenever the step stops.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

_NORMAL = NormalDist()


def spent(alpha: float, look: int, planned: int = 1) -> float:
    """The share of `alpha` that look number `look` (1, 2, ...) of a step may use."""
    if look < 1 or planned < 1:
        raise ValueError("looks are numbered from 1, and a step plans at least one")
    share = alpha / 2 * 6.0 / (math.pi**2 * look**2)
    return share + (alpha / (2 * planned) if look <= planned else 0.0)


def z_of(alpha: float) -> float:
    """The one-sided normal quantile: P(Z > z) = alpha."""
    return _NORMAL.inv_cdf(1.0 - alpha)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"interval [{self.low}, {self.high}] is upside down")


def wilson(hits: float, total: float, z: float) -> Interval:
    """Wilson score interval of a proportion: sound at 0 or n hits and for small n."""
    if total <= 0:
        return Interval(0.0, 1.0)
    p = min(max(hits / total, 0.0), 1.0)
    z2 = z * z
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / (1 + z2 / total)
    # It always holds p; min/max keep rounding from saying otherwise at 0 or n hits.
    return Interval(max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def difference(hits_a: float, total_a: float, hits_b: float, total_b: float, z: float) -> Interval:
    """Newcombe's hybrid score interval of p_a - p_b, from the two Wilson intervals."""
    pa = hits_a / total_a if total_a > 0 else 0.0
    pb = hits_b / total_b if total_b > 0 else 0.0
    a, b = wilson(hits_a, total_a, z), wilson(hits_b, total_b, z)
    d = pa - pb
    low = d - math.sqrt((pa - a.low) ** 2 + (b.high - pb) ** 2)
    high = d + math.sqrt((a.high - pa) ** 2 + (pb - b.low) ** 2)
    return Interval(max(-1.0, low), min(1.0, high))


@dataclass(frozen=True)
class Histogram:
    """Cumulative bucket counts over a time range, as Prometheus keeps them.

    `bounds` are the finite upper bounds, ascending; `cumulative` has one more entry, the
    +Inf bucket, which is the total.
    """

    bounds: tuple[float, ...]
    cumulative: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.cumulative) != len(self.bounds) + 1:
            raise ValueError("a histogram needs one cumulative count per bound, plus +Inf")
        if any(b <= a for a, b in zip(self.bounds, self.bounds[1:], strict=False)):
            raise ValueError("histogram bounds must ascend")

    @property
    def total(self) -> float:
        return self.cumulative[-1]

    @staticmethod
    def of(bounds: Sequence[float], counts: Sequence[float]) -> Histogram:
        """From per-bucket (not cumulative) counts; the last count is above the last bound."""
        running, cumulative = 0.0, []
        for count in counts:
            running += max(0.0, count)
            cumulative.append(running)
        return Histogram(tuple(bounds), tuple(cumulative))


def value_at_rank(h: Histogram, rank: float) -> float:
    """The latency of the request at `rank` (0..total), interpolated inside its bucket.

    The same rule as PromQL's histogram_quantile: linear inside a bucket, 0 as the
    lower edge of the first, and +Inf above the last finite bound.
    """
    total = h.total
    if total <= 0 or rank > total:
        return math.inf
    rank = max(rank, 0.0)
    lower_count, lower_bound = 0.0, 0.0
    for bound, count in zip(h.bounds, h.cumulative, strict=False):
        if count >= rank:
            inside = count - lower_count
            if inside <= 0:
                return lower_bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / inside
        lower_count, lower_bound = count, bound
    return math.inf


def quantile(h: Histogram, q: float) -> float:
    return value_at_rank(h, q * h.total)


def quantile_interval(h: Histogram, q: float, z: float) -> Interval:
    """Where the true q-quantile lies: between the order statistics at the binomial
    bounds of its rank (a distribution-free interval, read off the buckets).

    The upper bound is +Inf while the tail holds too few requests to bound it.
    """
    n = h.total
    if n <= 0:
        return Interval(0.0, math.inf)
    spread = z * math.sqrt(n * q * (1 - q))
    low_rank = math.floor(n * q - spread - 0.5)
    high_rank = math.ceil(n * q + spread + 0.5)
    low = value_at_rank(h, low_rank) if low_rank >= 1 else 0.0
    high = value_at_rank(h, high_rank) if high_rank <= n else math.inf
    return Interval(min(low, high), high)


def ratio_interval(canary: Interval, stable: Interval) -> Interval:
    """The interval of canary / stable from the two (each held at its own level)."""
    # Unbounded stable (its tail is beyond the last bucket) says nothing about the ratio.
    low = canary.low / stable.high if 0 < stable.high < math.inf else 0.0
    high = canary.high / stable.low if 0 < stable.low < math.inf and canary.high < math.inf else math.inf
    if math.isnan(low):
        low = 0.0
    return Interval(min(low, high), high)
