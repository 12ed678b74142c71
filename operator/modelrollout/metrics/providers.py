"""The provider interface: measure a round of checks for a canary (and its stable)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from modelrollout.metrics.queries import Scope
from modelrollout.rollout.verdicts import Check, Sample


class Provider(Protocol):
    def measure(self, checks: Sequence[Check], scope: Scope, canary: str, stable: str | None) -> list[Sample]:
        """One sample per check. Never raises: a failure becomes a sample with `error` set."""
        ...
