"""The dashboard's routes (Starlette): a static page, JSON from the cache, an event stream
of changes, and the day-2 controls (only when allowed).

The page is served from 127.0.0.1 only; the controls also need a custom request header,
which a cross-site form or a simple cross-origin request cannot send, and the Host must
be a loopback name, so another site open in the same browser cannot drive them.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any, Final

from kubernetes import client
from kubernetes.client import exceptions
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from modelrollout import kubectl_plugin, names
from modelrollout.dashboard import caching, views
from modelrollout.plugin import controls

ACTION_HEADER: Final = "X-Modelrollout-Action"
# A comment line this often keeps proxies and the browser from dropping an idle stream.
HEARTBEAT_SECONDS: Final = 15.0
LOOPBACK_HOSTS: Final = ["127.0.0.1", "localhost", "[::1]"]


def page() -> str:
    return resources.files("modelrollout.dashboard").joinpath("static/index.html").read_text()


def create(
    cache: caching.Cache,
    *,
    allow_actions: bool,
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
) -> Starlette:
    custom = client.CustomObjectsApi(cache.api)
    html = page()

    async def index(request: Request) -> Response:
        return HTMLResponse(html)

    async def deployments(request: Request) -> Response:
        return JSONResponse(
            {
                "items": views.summaries(cache.snapshot()),
                "synced": cache.synced,
                "error": cache.error,
                "version": cache.version,
                "allowActions": allow_actions,
            }
        )

    async def deployment(request: Request) -> Response:
        body, events = cache.get(request.path_params["namespace"], request.path_params["name"])
        if body is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse(views.detail(body, events, allow_actions=allow_actions))

    async def stream(request: Request) -> Response:
        async def changes() -> AsyncIterator[str]:
            seen = -1
            while not await request.is_disconnected():
                version = await run_in_threadpool(cache.wait_change, seen, HEARTBEAT_SECONDS)
                if version == seen:
                    yield ": still here\n\n"
                    continue
                seen = version
                yield f"event: changed\ndata: {json.dumps({'version': version})}\n\n"

        return StreamingResponse(changes(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def act(request: Request) -> Response:
        namespace, name, action = (request.path_params[k] for k in ("namespace", "name", "action"))
        if not allow_actions:
            return JSONResponse({"error": "read-only: start the dashboard with --allow-actions"}, status_code=403)
        if request.headers.get(ACTION_HEADER) != "1":
            return JSONResponse({"error": f"missing header {ACTION_HEADER}"}, status_code=403)
        if action not in controls.COMMANDS:
            return JSONResponse({"error": f"unknown action {action!r}"}, status_code=400)
        try:
            message = await run_in_threadpool(_control, custom, namespace, name, action, now())
        except exceptions.ApiException as error:
            reason = "not found" if error.status == 404 else f"{error.status} {error.reason}"
            return JSONResponse({"error": f"{names.KIND} {namespace}/{name}: {reason}"}, status_code=502)
        return JSONResponse({"message": message})

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/deployments", deployments),
            Route("/api/deployments/{namespace}/{name}", deployment),
            Route("/api/deployments/{namespace}/{name}/actions/{action}", act, methods=["POST"]),
            Route("/api/stream", stream),
        ],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS)],
    )


def _control(api: client.CustomObjectsApi, namespace: str, name: str, action: str, now: datetime.datetime) -> str:
    """The plugin's control, on the live object (not the cache: its annotations may be newer)."""
    obj: dict[str, Any] = api.get_namespaced_custom_object(names.GROUP, names.VERSION, namespace, names.PLURAL, name)
    return kubectl_plugin.control(api, obj, action, now)
