"""What keeps feedback honest on one pod: a replay guard and a rate limit.

Pure: the clock is passed in. Neither is shared between pods; each pod guards itself.
"""

from __future__ import annotations

import enum
import heapq


class Unverifiable(enum.Enum):
    """Why the replay guard will not let a genuine, unexpired token count."""

    REPLAY = "this token was already counted here (a replay)"
    TOO_OLD = "this token is too old for this pod's replay guard to vouch for it: post feedback sooner"


class Nonces:
    """The nonces of tokens already counted here, until their tokens expire.

    Bounded: when full, the entry that expires first is dropped, and from then on a
    token expiring no later than it is refused as unverifiable rather than accepted,
    since its nonce may be among those forgotten. So a replay is never counted, and a
    flood of genuine feedback costs at most the oldest tokens, not memory.
    """

    def __init__(self, max_nonces: int) -> None:
        if max_nonces < 1:
            raise ValueError("max_nonces must be at least 1")
        self.max_nonces = max_nonces
        self._seen: set[str] = set()
        self._by_expiry: list[tuple[float, str]] = []
        self.floor = float("-inf")  # tokens expiring at or before this can no longer be checked

    def __len__(self) -> int:
        return len(self._seen)

    def check(self, nonce: str, expires_at: float, now: float) -> Unverifiable | None:
        """Why a token with this nonce may not be counted now; None if it may."""
        self._expire(now)
        if nonce in self._seen:
            return Unverifiable.REPLAY
        if expires_at <= self.floor:
            return Unverifiable.TOO_OLD
        return None

    def remember(self, nonce: str, expires_at: float, now: float) -> None:
        """Count a token's nonce as used; call after `check` said yes."""
        self._expire(now)
        while len(self._seen) >= self.max_nonces:
            expiry, dropped = heapq.heappop(self._by_expiry)
            self._seen.discard(dropped)
            self.floor = max(self.floor, expiry)
        self._seen.add(nonce)
        heapq.heappush(self._by_expiry, (expires_at, nonce))

    def _expire(self, now: float) -> None:
        # An expired token is refused by its expiry alone, so its nonce need not be kept.
        heap = self._by_expiry
        while heap and heap[0][0] <= now:
            self._seen.discard(heapq.heappop(heap)[1])


class RateLimit:
    """A token bucket: `rate` requests a second on average, bursts of up to `burst`."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = burst
        self._level = burst
        self._at = now

    def take(self, now: float) -> float:
        """0 when a request may pass (and it is counted); else seconds until one may."""
        self._level = min(self.burst, self._level + (now - self._at) * self.rate)
        self._at = now
        if self._level >= 1:
            self._level -= 1
            return 0.0
        return (1 - self._level) / self.rate
