"""What an inference costs (pure): the replica's price per hour over what it serves in one."""

from __future__ import annotations

from typing import Final

MILLION: Final = 1_000_000
SECONDS_PER_HOUR: Final = 3600


def cost_per_million(price_per_replica_hour: float | None, throughput: float | None) -> float | None:
    """Cost of a million inferences by one replica running flat out at `throughput` samples/s.

    None when the pool has no price or nothing was measured: an unknown cost is not zero.
    """
    if price_per_replica_hour is None or not throughput or throughput <= 0:
        return None
    return price_per_replica_hour / (throughput * SECONDS_PER_HOUR) * MILLION
