"""From watch events to reconcile passes: who is woken, when, and how many passes run at once.

Kopf delivers every event of the ModelDeployments and of their children (and of the
nodes) here; `Dispatcher` keeps the latest body of each ModelDeployment, wakes the
owner of a child whose view changed, runs at most `workers` passes at a time in
threads (the API client blocks), and after each pass schedules the one wake-up the
rollout needs: its next time-based work, a retry after an error, or the slow resync.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from modelrollout.handlers import reconciling
from modelrollout.handlers.queueing import WorkQueue
from modelrollout.kube import observing

log = logging.getLogger(__name__)

Key = observing.Owner
Body = dict[str, Any]
# An index as Kopf hands it to handlers: owner key -> the views of that owner's objects.
Index = Mapping[Any, Iterable[Any]]
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def retry_after(failures: int, draw: float) -> float:
    """Seconds before retrying a pass that failed `failures` times in a row, jittered by `draw` in [0, 1)."""
    base = RETRY_DELAYS[min(failures, len(RETRY_DELAYS)) - 1]
    return base * (0.75 + draw / 2)


def _at_least(version: str, other: str) -> bool:
    """Whether `version` is no older than `other`; etcd's are counters, anything else counts as newer."""
    try:
        return int(version) >= int(other)
    except ValueError:
        return True


@dataclass
class Indexes:
    deployments: Index
    jobs: Index
    pods: Index
    services: Index
    routes: Index
    nodes: Index
    autoscalers: Index  # (namespace, Deployment name) -> names of the HPAs scaling it


@dataclass
class Dispatcher:
    shell: reconciling.Shell
    queue: WorkQueue[Key] = field(default_factory=WorkQueue)
    bodies: dict[Key, Body] = field(default_factory=dict)
    indexes: Indexes | None = None
    # The last view of every watched child, to wake its owner only when it changed.
    views: dict[tuple[str, str, str], object] = field(default_factory=dict)
    # Rollouts whose last pass looked at the nodes: a node change wakes them.
    placing: set[Key] = field(default_factory=set)
    # resourceVersion our own status patch produced, to not wake a rollout on its echo.
    echoes: dict[Key, str] = field(default_factory=dict)
    failures: dict[Key, int] = field(default_factory=dict)
    random: random.Random = field(default_factory=random.Random)
    _workers: list[asyncio.Task[None]] = field(default_factory=list)
    _pool: ThreadPoolExecutor | None = None

    # --- events ---------------------------------------------------------------------------

    def resource_event(self, kind: str | None, body: Body) -> None:
        """A ModelDeployment was listed, added, changed or deleted."""
        meta = body.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        if kind == "DELETED":
            self.bodies.pop(key, None)
            self.queue.forget(key)
            self.placing.discard(key)
            self.echoes.pop(key, None)
            self.failures.pop(key, None)
            reconciling.forget(self.shell, key)
            return
        echo = self.echoes.pop(key, None)
        version = str(meta.get("resourceVersion", ""))
        if echo is not None and kind is not None and version == echo:
            self.bodies[key] = body
            return  # the echo of our own status write: nothing new to act on
        if echo is not None and kind is not None and not _at_least(version, echo):
            # From before our write (whose body already holds it): keep ours, act on it once more.
            self.echoes[key] = echo
        else:
            self.bodies[key] = body
        self.queue.add(key)

    def child_event(self, kind: str, event: str | None, body: Body, view: object) -> None:
        """A watched child changed: wake its owner if what a pass sees of it changed."""
        meta = body.get("metadata") or {}
        ident = (kind, meta.get("namespace", ""), meta.get("name", ""))
        previous = self.views.get(ident)
        if event == "DELETED":
            self.views.pop(ident, None)
        elif self.views.get(ident) == view:
            return
        else:
            self.views[ident] = view
        if kind == "Node":
            for key in list(self.placing):
                self.queue.add(key)
            return
        if isinstance(view, observing.AutoscalerView):
            self._autoscaler_event(ident, view, previous)
            return
        owner = observing.owner_of(body)
        if owner is not None and owner in self.bodies:
            self.queue.add(owner)

    def _autoscaler_event(self, ident: tuple[str, str, str], view: object, previous: object) -> None:
        """Wake the owners of the Deployments the HPA scales, and scaled before it changed target."""
        namespace = ident[1]
        targets = {v.target for v in (view, previous) if isinstance(v, observing.AutoscalerView) and v.target}
        for key in list(self.bodies):
            if key[0] == namespace and targets & set(observing.role_deployments(key).values()):
                self.queue.add(key)

    # --- passes ---------------------------------------------------------------------------

    def start(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile")
        self._workers = [asyncio.create_task(self._work(), name=f"reconcile-{i}") for i in range(workers)]

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            key = await self.queue.get()
            try:
                body = self.bodies.get(key)
                if body is not None and self.indexes is not None:
                    seen = self.seen(key)
                    outcome = await loop.run_in_executor(self._pool, self._pass, body, seen)
                    self._after(key, outcome)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # one rollout's failure must not stop the others
                self._failed(key, error)
            finally:
                self.queue.done(key)

    def _pass(self, body: Body, seen: observing.Seen) -> reconciling.Outcome:
        return reconciling.reconcile(self.shell, body, seen)

    def seen(self, key: Key) -> observing.Seen:
        """A snapshot of the indexes for one rollout; runs on the event loop, where they change."""
        assert self.indexes is not None
        ix = self.indexes

        def by_name(index: Index) -> dict[str, Any]:
            return {view.name: view for view in index.get(key, ())}

        return observing.Seen(
            deployments=by_name(ix.deployments),
            jobs=by_name(ix.jobs),
            pods=tuple(ix.pods.get(key, ())),
            services=by_name(ix.services),
            routes=by_name(ix.routes),
            nodes=tuple(ix.nodes.get(None, ())),
            autoscalers={
                role: min(found)
                for role, deployment in observing.role_deployments(key).items()
                if (found := list(ix.autoscalers.get((key[0], deployment), ())))
            },
        )

    def _after(self, key: Key, outcome: reconciling.Outcome) -> None:
        self.failures.pop(key, None)
        current = self.bodies.get(key)
        if outcome.written is not None and current is not None:
            written = str((outcome.written.get("metadata") or {}).get("resourceVersion", ""))
            if _at_least(written, str(current["metadata"].get("resourceVersion", ""))):
                # Until the watch brings it, the patch's answer is the freshest body there is.
                self.bodies[key] = outcome.written
                self.echoes[key] = written
            # The machine takes one step per pass: after a change, look again at once
            # (on the body just written), until a pass changes nothing.
            self.queue.add(key)
        if outcome.plan is not None and outcome.plan.placement:
            self.placing.add(key)
        else:
            self.placing.discard(key)
        self.queue.at(key, self._delay(outcome.due))

    def _delay(self, due: datetime | None) -> float:
        resync = self.shell.settings.resync_seconds * (0.9 + self.random.random() / 5)  # spread the herd
        if due is None:
            return resync
        return min(resync, max(0.0, (due - self.shell.clock()).total_seconds()))

    def _failed(self, key: Key, error: Exception) -> None:
        failures = self.failures.get(key, 0) + 1
        self.failures[key] = failures
        detail = reconciling.describe_api_error(error) if isinstance(error, ApiException) else repr(error)
        # One line, and a retry after a growing delay: e.g. a namespace being deleted
        # refuses new children, which is no reason for a traceback every few seconds.
        log.warning("reconcile of %s/%s failed (%d in a row): %s", key[0], key[1], failures, detail)
        if not isinstance(error, ApiException):
            log.debug("traceback", exc_info=error)
        self.queue.at(key, retry_after(failures, self.random.random()))
