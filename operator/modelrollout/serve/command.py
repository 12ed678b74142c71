"""`modelrollout serve`: load one model and serve it until SIGTERM.

The port opens first (live), the model loads and warms up (then ready); on SIGTERM
the server turns not-ready at once but keeps accepting and answering for the drain
period (routers that watch readiness or endpoints stop sending meanwhile), then stops
accepting, lets in-flight requests finish within the shutdown timeout, and exits 0.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web

from modelrollout.runtimes import sessions
from modelrollout.serve import (
    artifacts,
    batching,
    dataplane,
    feedback,
    grpcs,
    guards,
    keys,
    metrics,
    repositories,
    rest,
    settings,
)

log = logging.getLogger("modelrollout.serve")


async def serve(config: settings.Settings) -> int:
    server_metrics = metrics.ServerMetrics(config.model_name, config.model_version, config.role)
    repository = repositories.ModelRepository()
    pending = feedback.PendingStore(config.feedback_window_seconds, config.feedback_max_pending)
    plane = dataplane.DataPlane(repository, pending, role=config.role, tokens=_token_feedback(config))
    pool = concurrent.futures.ThreadPoolExecutor(config.workers, thread_name_prefix="infer")
    runner = await _start_rest(
        config,
        rest.RestServer(
            plane,
            server_metrics,
            config.max_body_bytes,
            read_timeout_seconds=config.read_timeout_seconds,
            bearer=config.feedback_bearer_token,
        ),
    )
    grpc_server = await _start_grpc(config, grpcs.GrpcService(plane, server_metrics))

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    with tempfile.TemporaryDirectory(prefix="modelrollout-serve-") as work_dir:
        code = await _serve_until_stopped(config, Path(work_dir), stop, repository, pool, server_metrics)
        # Not ready from here on; a request that still arrives is answered, not refused.
        was_serving = repository.ready()
        plane.shutting_down = True
        if was_serving and config.drain_seconds > 0:
            log.info("draining: not ready, still answering for %.1fs", config.drain_seconds)
            await asyncio.sleep(config.drain_seconds)
        log.info("shutting down: finishing in-flight requests")
        if grpc_server is not None:
            # Stops accepting at once; calls in flight get the same grace as REST's.
            await grpc_server.stop(config.shutdown_timeout_seconds)
        await runner.cleanup()
        pool.shutdown(wait=False, cancel_futures=True)
        repository.close()
        log.info("stopped")
        return code


async def _start_rest(config: settings.Settings, server: rest.RestServer) -> web.AppRunner:
    """The REST port, open (live) before the model loads."""
    runner = web.AppRunner(
        server.app(),
        handle_signals=False,
        access_log=None,
        shutdown_timeout=config.shutdown_timeout_seconds,
    )
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    host, port = runner.addresses[0][:2]
    log.info("listening on http://%s:%s", host, port)
    return runner


async def _start_grpc(config: settings.Settings, service: grpcs.GrpcService) -> grpc.aio.Server | None:
    """The gRPC port when one is configured, open before the model loads."""
    if config.grpc_port is None:
        return None
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", config.max_body_bytes),
            ("grpc.max_send_message_length", -1),
        ]
    )
    server.add_generic_rpc_handlers((service.handler(),))
    port = server.add_insecure_port(f"{config.host}:{config.grpc_port}")
    await server.start()
    log.info("listening on grpc://%s:%s", config.host, port)
    return server


async def _serve_until_stopped(
    config: settings.Settings,
    work_dir: Path,
    stop: asyncio.Event,
    repository: repositories.ModelRepository,
    pool: concurrent.futures.ThreadPoolExecutor,
    server_metrics: metrics.ServerMetrics,
) -> int:
    """Load the model (a stop may come first), serve it until stopped; the exit code."""
    loading = asyncio.get_running_loop().run_in_executor(
        None,
        functools.partial(
            repositories.load,
            name=config.model_name,
            version=config.model_version,
            uri=config.model_uri,
            runtime=config.runtime,
            device=config.device,
            threads=config.threads,
            work_dir=work_dir,
            policy=batching.Policy(config.max_batch_size, config.max_batch_delay_seconds),
            sha256=config.model_sha256,
        ),
    )
    stopping = asyncio.ensure_future(stop.wait())
    racers: list[asyncio.Future[Any]] = [loading, stopping]
    try:
        await asyncio.wait(racers, return_when=asyncio.FIRST_COMPLETED)
        if not loading.done():
            log.info("stopped while loading the model")
            return 0
        try:
            model = loading.result()
        except (artifacts.ArtifactError, sessions.SessionError) as error:
            log.error("cannot serve model %s: %s", config.model_name, error)
            return 1
        server_metrics.model_load.set(model.load_seconds)
        model.scheduler = batching.Scheduler(model.backend, pool, config.workers, model.policy, server_metrics.batched)
        repository.add(model)
        log.info(
            "ready: model %s version %s (%s, %s, batches of up to %d) loaded and warmed up in %.3fs",
            model.name,
            model.version,
            model.backend.platform,
            config.device,
            model.policy.max_batch_size,
            model.load_seconds,
        )
        await stopping
        return 0
    finally:
        stopping.cancel()


def _token_feedback(config: settings.Settings) -> dataplane.TokenFeedback | None:
    if not config.feedback_max_pending:
        return None
    key_files = keys.KeyFiles(
        config.feedback_key_file, config.feedback_previous_key_file, config.feedback_window_seconds, time.monotonic
    )
    limit = None
    if config.feedback_rate > 0:
        limit = guards.RateLimit(config.feedback_rate, config.feedback_burst, time.monotonic())
    # Nonces live as long as pending ids do, so the same bound suits both.
    return dataplane.TokenFeedback(key_files.tokens, guards.Nonces(config.feedback_max_pending), limit)


def main(argv: list[str] | None) -> int:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = settings.parse(sys.argv[1:] if argv is None else argv, os.environ)
    except settings.SettingsError as error:
        print(f"modelrollout serve: {error}", file=sys.stderr)
        return 2
    return asyncio.run(serve(config))
