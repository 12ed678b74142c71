"""The REST adapter: Open Inference Protocol routes over the data plane (aiohttp).

Handlers only translate HTTP to data-plane calls and back, count, and time; the work
of an infer request runs in a worker thread so the event loop keeps answering health
checks and scrapes while a model computes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import time

from aiohttp import web

from modelrollout import names
from modelrollout.serve import dataplane, metrics

log = logging.getLogger(__name__)

_JSON = "application/json"


def _json(payload: object, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(payload, separators=(",", ":")).encode(), status=status, content_type=_JSON)


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


class RestServer:
    def __init__(
        self,
        plane: dataplane.DataPlane,
        server_metrics: metrics.ServerMetrics,
        pool: concurrent.futures.ThreadPoolExecutor,
        max_body_bytes: int,
    ) -> None:
        self.plane = plane
        self.metrics = server_metrics
        self.pool = pool
        self.max_body_bytes = max_body_bytes

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body_bytes)
        model = "/v2/models/{name}"
        versioned = "/v2/models/{name}/versions/{version}"
        app.router.add_get("/v2", self.server_metadata)
        app.router.add_get("/v2/health/live", self.live)
        app.router.add_get("/v2/health/ready", self.ready)
        app.router.add_get("/metrics", self.scrape)
        for prefix in (model, versioned):
            app.router.add_get(prefix, self.model_metadata)
            app.router.add_get(prefix + "/ready", self.model_ready)
            app.router.add_post(prefix + "/infer", self.infer)
            app.router.add_post(prefix + "/feedback", self.feedback)
        return app

    async def server_metadata(self, request: web.Request) -> web.Response:
        return _json(self.plane.server_metadata())

    async def live(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def ready(self, request: web.Request) -> web.Response:
        if self.plane.ready():
            return web.Response(status=200)
        return _error(503, "not ready: the model is loading or the server is shutting down")

    async def scrape(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": "text/plain; version=0.0.4"})

    async def model_metadata(self, request: web.Request) -> web.Response:
        info = request.match_info
        try:
            return _json(self.plane.model_metadata(info["name"], info.get("version")))
        except dataplane.InferenceError as error:
            return _error(error.status, error.message)

    async def model_ready(self, request: web.Request) -> web.Response:
        info = request.match_info
        try:
            if self.plane.model_ready(info["name"], info.get("version")):
                return web.Response(status=200)
            return _error(503, f"model {info['name']!r} is not ready")
        except dataplane.InferenceError as error:
            return _error(error.status, error.message)

    async def infer(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        m = self.metrics
        m.in_flight.inc()
        status = 500
        try:
            response = await self._infer(request)
            status = response.status
            return response
        finally:
            m.in_flight.dec()
            m.duration.observe(time.perf_counter() - started)
            m.requests(status).inc()

    async def _infer(self, request: web.Request) -> web.Response:
        info = request.match_info
        try:
            json_length = self._json_length(request)
            body = await request.read()
            result = await asyncio.get_running_loop().run_in_executor(
                self.pool, self.plane.infer, info["name"], info.get("version"), body, json_length
            )
        except dataplane.InferenceError as error:
            if error.status >= 500:
                log.error("infer %s: %s", info["name"], error.message)
            return _error(error.status, error.message)
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"request body is larger than the limit of {self.max_body_bytes} bytes")
        except Exception:
            # The server never dies on a request: anything unforeseen is a counted 500.
            log.exception("infer %s failed", info["name"])
            return _error(500, "internal error while handling the request (see the server log)")
        headers = {names.HEADER_INFERENCE_ID: result.inference_id}
        if result.json_length is None:
            return web.Response(body=result.body, headers=headers, content_type=_JSON)
        headers[dataplane.HEADER_JSON_LENGTH] = str(result.json_length)
        return web.Response(body=result.body, headers=headers, content_type="application/octet-stream")

    @staticmethod
    def _json_length(request: web.Request) -> int | None:
        raw = request.headers.get(dataplane.HEADER_JSON_LENGTH)
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            raise dataplane.InferenceError(
                400, f"{dataplane.HEADER_JSON_LENGTH} must be an integer, got {raw!r}"
            ) from None

    async def feedback(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            inference_id, verdicts = self.plane.feedback(name, await request.read())
        except dataplane.InferenceError as error:
            return _error(error.status, error.message)
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"request body is larger than the limit of {self.max_body_bytes} bytes")
        for verdict in verdicts:
            self.metrics.feedback(verdict).inc()
        return _json({"id": inference_id, "correct": verdicts})
