"""`modelrollout dashboard` (and `kubectl modelrollout dashboard`): serve the UI on 127.0.0.1."""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Any

import uvicorn
from kubernetes import client

from modelrollout.dashboard import app, caching, options
from modelrollout.kube import clients


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(prog="modelrollout dashboard", description="A local web UI over ModelDeployments.")
    made.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    made.add_argument("--context", help="kubeconfig context to use")
    made.add_argument("-n", "--namespace", help="only this namespace (default: all the account may list)")
    options.add_arguments(made)
    return made


def serve(args: argparse.Namespace, api: client.ApiClient) -> int:
    """Follow the cluster and serve the page until interrupted (Ctrl-C or SIGTERM)."""
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", args.port))
    except OSError as error:
        print(f"modelrollout dashboard: cannot listen on 127.0.0.1:{args.port}: {error}", file=sys.stderr)
        return 1
    cache = caching.Cache(api, namespace=args.namespace)
    cache.start()
    port = sock.getsockname()[1]
    mode = "actions allowed" if args.allow_actions else "read-only"
    print(f"modelrollout dashboard ({mode}): http://127.0.0.1:{port}/", flush=True)
    server = uvicorn.Server(
        uvicorn.Config(
            app.create(cache, allow_actions=args.allow_actions),
            log_level="warning",
            lifespan="off",
            # The page's event stream never ends by itself: do not wait for it on exit.
            timeout_graceful_shutdown=2,
        )
    )
    try:
        server.run(sockets=[sock])
    finally:
        cache.stop(timeout=1)  # its threads are daemons, blocked in a watch at worst
        sock.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not clients.load_kubeconfig(args.kubeconfig, args.context, "modelrollout dashboard"):
        return 1
    api: Any = client.ApiClient()
    return serve(args, api)
