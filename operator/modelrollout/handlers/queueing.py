"""The work queue of reconcile passes: each rollout at most once in line, never twice at once.

A key added while its pass runs is marked dirty and queued again when the pass ends,
so a change seen during a pass is never lost and never races the pass. Every key has
at most one wake-up scheduled (`at`): the next time-based work, a retry, or the
resync, whichever the last pass asked for. Runs on Kopf's event loop; not thread-safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._running: set[K] = set()
        self._dirty: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, key: K) -> None:
        """Queue a pass of `key` now (once, however often asked before it starts)."""
        if key in self._running:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._ready.put_nowait(key)

    def at(self, key: K, delay: float) -> None:
        """The one wake-up of `key`, `delay` seconds from now (replacing any earlier plan)."""
        self.cancel(key)
        self._timers[key] = asyncio.get_running_loop().call_later(max(0.0, delay), self._fire, key)

    def cancel(self, key: K) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def forget(self, key: K) -> None:
        """The object is gone: no wake-up, and no repeat of a pass under way."""
        self.cancel(key)
        self._dirty.discard(key)

    async def get(self) -> K:
        key = await self._ready.get()
        self._queued.discard(key)
        self._running.add(key)
        return key

    def done(self, key: K) -> None:
        self._running.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)
