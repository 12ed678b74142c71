"""`modelrollout operator`: run the Kopf operator with metrics and a liveness endpoint."""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import socket

from modelrollout import names
from modelrollout.settings import ENV_CONFIG


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelrollout operator", description=__doc__)
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", help="watch only these namespaces (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", default=True, help="watch every namespace")
    parser.add_argument("--config", default=os.environ.get(ENV_CONFIG), help="operator settings file (YAML)")
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"), help="kubeconfig outside a cluster")
    parser.add_argument("--metrics-port", type=int, default=8080, help="Prometheus /metrics port (0: off)")
    parser.add_argument("--liveness-port", type=int, default=8081, help="Kopf liveness /healthz port (0: off)")
    parser.add_argument("--host", default="0.0.0.0", help="address for metrics and liveness")
    parser.add_argument("--peering", default=None, help="Kopf peering name for HA (default: standalone)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:
        # Kopf logs every timer run at INFO; our Events and status say what matters.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig  # Kopf's own login reads it too
    if args.config:
        os.environ[ENV_CONFIG] = args.config

    import kopf  # noqa: PLC0415 - imported late so `modelrollout --help` stays fast
    from prometheus_client import start_http_server  # noqa: PLC0415

    from modelrollout.handlers import registration, telemetry  # noqa: PLC0415
    from modelrollout.settings import load  # noqa: PLC0415

    memo = registration.memo_for(load(args.config), args.kubeconfig)
    if args.metrics_port:
        start_http_server(args.metrics_port, addr=args.host, registry=telemetry.REGISTRY)
    # Replicas of one peering need distinct priorities, or Kopf pauses all of them; the
    # pod name (downward API) makes one per replica, stable across restarts of the pod.
    identity = os.environ.get(names.ENV_POD_NAME) or socket.gethostname()
    priority = int(hashlib.sha256(identity.encode()).hexdigest()[:6], 16)
    liveness = f"http://{args.host}:{args.liveness_port}/healthz" if args.liveness_port else None
    kopf.run(
        standalone=args.peering is None,
        peering_name=args.peering,
        namespaces=args.namespace or [],
        clusterwide=not args.namespace,
        liveness_endpoint=liveness,
        priority=priority,
        memo=memo,
    )
    return 0
