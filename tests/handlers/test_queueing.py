"""The work queue: once in line, never two passes of one key at once, one wake-up per key."""

from __future__ import annotations

import asyncio

from modelrollout.handlers.queueing import WorkQueue


def test_a_key_is_queued_once_however_often_it_is_added() -> None:
    async def scenario() -> list[str]:
        queue: WorkQueue[str] = WorkQueue()
        for key in ("a", "b", "a", "a"):
            queue.add(key)
        got = [await queue.get(), await queue.get()]
        assert len(queue) == 0
        return got

    assert asyncio.run(scenario()) == ["a", "b"]


def test_a_change_during_a_pass_runs_it_again_afterwards_not_alongside() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        queue.add("a")
        key = await queue.get()
        queue.add("a")  # while its pass runs
        assert len(queue) == 0
        queue.done(key)
        assert len(queue) == 1 and await queue.get() == "a"
        queue.done("a")
        assert len(queue) == 0

    asyncio.run(scenario())


def test_the_last_wake_up_asked_for_replaces_the_earlier() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        queue.at("a", 30.0)
        queue.at("a", 0.01)
        queue.at("b", 0.01)
        queue.forget("b")
        assert await asyncio.wait_for(queue.get(), 1.0) == "a"
        await asyncio.sleep(0.05)
        assert len(queue) == 0  # b was forgotten, a's first timer cancelled

    asyncio.run(scenario())
