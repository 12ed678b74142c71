"""The replay guard and the rate limit of feedback (pure, clock injected)."""

from __future__ import annotations

import pytest

from modelrollout.serve import guards


def test_a_nonce_counts_once_until_its_token_expires() -> None:
    nonces = guards.Nonces(10)
    assert nonces.check("a", expires_at=100.0, now=0.0) is None
    nonces.remember("a", expires_at=100.0, now=0.0)
    assert nonces.check("a", expires_at=100.0, now=50.0) is guards.Unverifiable.REPLAY
    assert nonces.check("b", expires_at=100.0, now=50.0) is None
    # Past its expiry the token itself is refused, so the nonce is let go.
    nonces.check("c", expires_at=200.0, now=100.0)
    assert len(nonces) == 0


def test_a_full_guard_refuses_what_it_may_have_forgotten() -> None:
    nonces = guards.Nonces(2)
    nonces.remember("a", expires_at=10.0, now=0.0)
    nonces.remember("b", expires_at=20.0, now=0.0)
    nonces.remember("c", expires_at=30.0, now=0.0)  # drops "a", the first to expire
    assert len(nonces) == 2
    # "a" is forgotten, but a token expiring no later than it is not accepted again.
    assert nonces.check("a", expires_at=10.0, now=1.0) is guards.Unverifiable.TOO_OLD
    assert nonces.check("b", expires_at=20.0, now=1.0) is guards.Unverifiable.REPLAY
    assert nonces.check("d", expires_at=25.0, now=1.0) is None


def test_a_rate_limit_allows_bursts_then_the_rate() -> None:
    limit = guards.RateLimit(rate=10.0, burst=3, now=0.0)
    assert [limit.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.take(0.0) == pytest.approx(0.1)
    assert limit.take(0.1) == 0.0  # one request's worth refilled
    assert limit.take(0.1) > 0
    assert [limit.take(10.0) for _ in range(4)][:3] == [0.0, 0.0, 0.0]  # never above the burst


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (1.0, 0)])
def test_bad_limits_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        guards.RateLimit(rate, burst, 0.0)
    with pytest.raises(ValueError, match="max_nonces"):
        guards.Nonces(0)
