"""The REST adapter: Open Inference Protocol routes over the data plane (aiohttp).

Handlers only translate HTTP to data-plane calls and back, count, and time. Models run
on the scheduler's worker threads, so the event loop keeps answering health checks and
scrapes while a model computes. Bodies are decoded and encoded on the loop when small
(a thread hop costs more than orjson takes) and in a worker thread when large.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from aiohttp import web

from modelrollout import names
from modelrollout.serve import bodies, dataplane, inference, metrics

log = logging.getLogger(__name__)

_JSON = "application/json"
# Bodies above this size are decoded and encoded off the event loop.
INLINE_BYTES = 256 * 1024
# A feedback body is a token and labels: this is room for thousands of rows.
FEEDBACK_MAX_BYTES = 1024 * 1024
_T = TypeVar("_T")


def _json(payload: object, status: int = 200) -> web.Response:
    return web.Response(body=bodies.dumps(payload), status=status, content_type=_JSON)


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


class RestServer:
    def __init__(
        self,
        plane: dataplane.DataPlane,
        server_metrics: metrics.ServerMetrics,
        max_body_bytes: int,
        read_timeout_seconds: float = 30.0,
        bearer: str | None = None,
    ) -> None:
        self.plane = plane
        self.metrics = server_metrics
        self.max_body_bytes = max_body_bytes
        self.bearer = bearer  # when set, feedback needs it
        self.read_timeout_seconds = read_timeout_seconds

    async def _body(self, request: web.Request) -> bytes:
        """The whole body, within the read timeout: a client that trickles it (or stops
        sending) holds a connection and a buffer for no longer than that."""
        try:
            return await asyncio.wait_for(request.read(), self.read_timeout_seconds)
        except TimeoutError:
            raise inference.InferenceError(
                408, f"the request body did not arrive within {self.read_timeout_seconds:g}s"
            ) from None

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
        app.on_response_prepare.append(self._close_when_draining)
        return app

    async def _close_when_draining(self, request: web.Request, response: web.StreamResponse) -> None:
        # No endpoint change moves a keep-alive connection: closing it after each answer
        # sends the client's next request through the Service to a pod that stays.
        if self.plane.shutting_down:
            response.force_close()
            response.headers["Connection"] = "close"  # the headers are already prepared here

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

    async def _coded(self, size: int, work: Callable[[], _T]) -> _T:
        if size <= INLINE_BYTES:
            return work()
        return await asyncio.get_running_loop().run_in_executor(None, work)

    async def _infer(self, request: web.Request) -> web.Response:
        info = request.match_info
        try:
            json_length = self._json_length(request)
            body = await self._body(request)
            decoded = await self._coded(len(body), lambda: bodies.decode(body, json_length))
            answer = await self.plane.infer(info["name"], info.get("version"), decoded)
            size = sum(a.nbytes for _, a in answer.outputs)
            encoded, head_length = await self._coded(size, lambda: bodies.encode(answer))
        except inference.InferenceError as error:
            if error.status >= 500:
                log.error("infer %s: %s", info["name"], error.message)
            return _error(error.status, error.message)
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"request body is larger than the limit of {self.max_body_bytes} bytes")
        except Exception:
            # The server never dies on a request: anything unforeseen is a counted 500.
            log.exception("infer %s failed", info["name"])
            return _error(500, "internal error while handling the request (see the server log)")
        headers = {names.HEADER_INFERENCE_ID: answer.id}
        if head_length is None:
            return web.Response(body=encoded, headers=headers, content_type=_JSON)
        headers[bodies.HEADER_JSON_LENGTH] = str(head_length)
        return web.Response(body=encoded, headers=headers, content_type="application/octet-stream")

    @staticmethod
    def _json_length(request: web.Request) -> int | None:
        raw = request.headers.get(bodies.HEADER_JSON_LENGTH)
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            raise inference.InferenceError(
                400, f"{bodies.HEADER_JSON_LENGTH} must be an integer, got {raw!r}"
            ) from None

    async def feedback(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if self.bearer is not None and not _bearer_matches(request, self.bearer):
            response = _error(401, "feedback needs the header 'Authorization: Bearer <token>' this server expects")
            response.headers["WWW-Authenticate"] = 'Bearer realm="feedback"'
            return response
        limit = min(self.max_body_bytes, FEEDBACK_MAX_BYTES)
        try:
            if (request.content_length or 0) > limit:
                raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length or 0)
            body = await self._body(request)
            if len(body) > limit:
                raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
            judged = self.plane.feedback(name, body)
        except inference.InferenceError as error:
            response = _error(error.status, error.message)
            if error.status == 429:
                response.headers["Retry-After"] = "1"
            return response
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"feedback body is larger than the limit of {limit} bytes")
        for verdict in judged.verdicts:
            self.metrics.feedback(verdict, judged.version, judged.role).inc()
        return _json(
            {"id": judged.inference_id, "correct": judged.verdicts, "version": judged.version, "role": judged.role}
        )


def _bearer_matches(request: web.Request, expected: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())
