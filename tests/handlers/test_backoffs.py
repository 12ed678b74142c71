"""Kopf's own requests retry for as long as the API server is away."""

from __future__ import annotations

import collections.abc
import itertools

from modelrollout.handlers.registration import EndlessBackoffs


def test_the_backoffs_never_run_out_and_each_request_starts_short() -> None:
    backoffs = EndlessBackoffs(first=(1, 2), then=10.0)
    # Kopf counts attempts, and stops after the last, only for a sized iterable.
    assert not isinstance(backoffs, collections.abc.Sized)
    assert list(itertools.islice(backoffs, 1000))[-3:] == [10.0, 10.0, 10.0]
    assert list(itertools.islice(backoffs, 3)) == [1, 2, 10.0]  # a fresh start, not where the last left off
