"""The provider interface: read a round's evidence for a canary (and its stable)."""

from __future__ import annotations

from typing import Protocol

from modelrollout.metrics.queries import Scope, Side
from modelrollout.rollout.verdicts import Evidence, Round


class Provider(Protocol):
    def measure(self, round_: Round, scope: Scope, canary: Side, stable: Side | None) -> list[Evidence]:
        """One evidence per check, over the round's range. Never raises: a failure is evidence with `error` set."""
        ...
