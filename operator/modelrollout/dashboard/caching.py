"""A watch-fed cache of ModelDeployments and their Events, for the dashboard's pages.

One thread per kind lists, then watches from the list's resourceVersion, and lists
again when the watch expires (410 Gone) or breaks; every change bumps `version`, which
the page's server-sent event stream waits on. Reads never touch the API server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, Final

from kubernetes import client, watch
from kubernetes.client import exceptions

from modelrollout import names

Body = dict[str, Any]
logger = logging.getLogger(__name__)
# A watch ends by itself this often, so that stop() is noticed without closing sockets.
WATCH_SECONDS: Final = 20
RETRY_SECONDS: Final = 2.0


class Cache:
    def __init__(self, api: client.ApiClient, namespace: str | None = None) -> None:
        self.api = api
        self.namespace = namespace
        self._custom = client.CustomObjectsApi(api)
        self._core = client.CoreV1Api(api)
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._synced = {"deployments": threading.Event(), "events": threading.Event()}
        self.deployments: dict[str, Body] = {}
        self.events: dict[str, dict[str, Body]] = {}
        self.version = 0
        self.error = ""

    # --- reading ---------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        return all(e.is_set() for e in self._synced.values())

    def wait_synced(self, timeout: float) -> bool:
        return all(e.wait(timeout) for e in self._synced.values())

    def snapshot(self) -> list[Body]:
        with self._changed:
            return list(self.deployments.values())

    def get(self, namespace: str, name: str) -> tuple[Body | None, list[Body]]:
        key = f"{namespace}/{name}"
        with self._changed:
            return self.deployments.get(key), list(self.events.get(key, {}).values())

    def wait_change(self, seen: int, timeout: float) -> int:
        """The version once it differs from `seen`, or after `timeout` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self.version != seen or self._stopping.is_set(), timeout)
            return self.version

    # --- following the API server ----------------------------------------------------------

    def start(self) -> None:
        for name, follow in (("deployments", self._follow_deployments), ("events", self._follow_events)):
            thread = threading.Thread(target=follow, name=f"dashboard-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = WATCH_SECONDS + 5) -> None:
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def _bump(self) -> None:
        self.version += 1
        self._changed.notify_all()

    def _follow_deployments(self) -> None:
        if self.namespace:
            lister: Callable[..., Any] = self._custom.list_namespaced_custom_object
            args: tuple[str, ...] = (names.GROUP, names.VERSION, self.namespace, names.PLURAL)
        else:
            lister = self._custom.list_cluster_custom_object
            args = (names.GROUP, names.VERSION, names.PLURAL)

        def replace(items: list[Body]) -> None:
            self.deployments = {_key(b["metadata"]): b for b in items}

        def apply(kind: str, body: Body) -> None:
            if kind == "DELETED":
                self.deployments.pop(_key(body["metadata"]), None)
            else:
                self.deployments[_key(body["metadata"])] = body

        self._follow("deployments", lambda **kw: lister(*args, **kw), replace, apply, raw=True)

    def _follow_events(self) -> None:
        selector = f"involvedObject.kind={names.KIND}"
        if self.namespace:
            namespace = self.namespace
            lister: Callable[..., Any] = lambda **kw: self._core.list_namespaced_event(namespace, **kw)  # noqa: E731
        else:
            lister = self._core.list_event_for_all_namespaces

        def owner(event: Body) -> str:
            return _key(event.get("involvedObject", {}))

        def replace(items: list[Body]) -> None:
            self.events = {}
            for event in items:
                self.events.setdefault(owner(event), {})[event["metadata"]["uid"]] = event

        def apply(kind: str, event: Body) -> None:
            bucket = self.events.setdefault(owner(event), {})
            if kind == "DELETED":
                bucket.pop(event["metadata"]["uid"], None)
            else:
                bucket[event["metadata"]["uid"]] = event

        self._follow("events", lambda **kw: lister(field_selector=selector, **kw), replace, apply, raw=False)

    def _follow(
        self,
        what: str,
        lister: Callable[..., Any],
        replace: Callable[[list[Body]], None],
        apply: Callable[[str, Body], None],
        *,
        raw: bool,
    ) -> None:
        """List, then watch from there; list again whenever the watch cannot go on."""
        while not self._stopping.is_set():
            try:
                listed = self._plain(lister(), raw)
                with self._changed:
                    replace(list(listed.get("items") or []))
                    self.error = ""
                    self._bump()
                self._synced[what].set()
                version = listed.get("metadata", {}).get("resourceVersion")
                for kind, body in self._watch(lister, version, raw):
                    with self._changed:
                        apply(kind, body)
                        self._bump()
            except exceptions.ApiException as error:
                if error.status != 410:
                    self._failed(what, f"{error.status} {error.reason}")
            except Exception as error:  # a broken connection: list again after a pause
                self._failed(what, str(error) or type(error).__name__)

    def _watch(self, lister: Callable[..., Any], version: str | None, raw: bool) -> Iterator[tuple[str, Body]]:
        while not self._stopping.is_set():
            stream = watch.Watch()
            for event in stream.stream(lister, resource_version=version, timeout_seconds=WATCH_SECONDS):
                if event["type"] == "ERROR":
                    raise exceptions.ApiException(status=event["raw_object"].get("code", 500), reason="watch error")
                body = self._plain(event["object"], raw)
                version = body.get("metadata", {}).get("resourceVersion", version)
                if event["type"] != "BOOKMARK":
                    yield event["type"], body
                if self._stopping.is_set():
                    stream.stop()
                    return

    def _plain(self, obj: Any, raw: bool) -> Body:
        """Custom objects come as dicts; typed ones become their JSON form (camelCase keys)."""
        if raw:
            return dict(obj)
        plain: Body = self.api.sanitize_for_serialization(obj)
        return plain

    def _failed(self, what: str, reason: str) -> None:
        logger.warning("dashboard: following %s failed (%s); listing again", what, reason)
        with self._changed:
            self.error = f"{what}: {reason}"
            self._bump()
        self._stopping.wait(RETRY_SECONDS)


def _key(meta: Any) -> str:
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"
