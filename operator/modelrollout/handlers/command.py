"""`modelrollout operator`: run the Kopf operator with metrics and a liveness endpoint."""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import socket

from modelrollout import names
from modelrollout.settings import ENV_CONFIG

# Kopf's peering lifetime: a replica that has not renewed its entry for this long counts
# as dead, and the standby resumes. Kopf renews every lifetime minus 5-10 s, so the
# renewal has that much slack whatever the lifetime; a shorter one costs only more
# keep-alive patches. 20 s: a killed leader is replaced within about 20 s (Kopf's 60 s
# default made failover take a minute).
DEFAULT_PEERING_LIFETIME = 20
# Below this, Kopf's 5-10 s early renewal leaves a renewal every second or less.
MIN_PEERING_LIFETIME = 12


def peering_lifetime(text: str) -> int:
    """`--peering-lifetime-seconds`: whole seconds, long enough for Kopf's early renewal."""
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if seconds < MIN_PEERING_LIFETIME:
        raise argparse.ArgumentTypeError(f"{seconds} is under {MIN_PEERING_LIFETIME} seconds")
    return seconds


def peering_priority(identity: str) -> int:
    """A replica's Kopf priority: distinct per identity, the same across its restarts."""
    return int(hashlib.sha256(identity.encode()).hexdigest()[:6], 16)


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
    parser.add_argument(
        "--peering-lifetime-seconds",
        type=peering_lifetime,
        default=DEFAULT_PEERING_LIFETIME,
        help="how long a silent replica counts as alive: the standby takes over within about this long "
        f"(default {DEFAULT_PEERING_LIFETIME}, at least {MIN_PEERING_LIFETIME})",
    )
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
    priority = peering_priority(identity)
    settings = kopf.OperatorSettings()
    settings.peering.lifetime = args.peering_lifetime_seconds
    settings.peering.stealth = True  # a keep-alive every few seconds says nothing in a DEBUG log
    liveness = f"http://{args.host}:{args.liveness_port}/healthz" if args.liveness_port else None
    kopf.run(
        settings=settings,
        standalone=args.peering is None,
        peering_name=args.peering,
        namespaces=args.namespace or [],
        clusterwide=not args.namespace,
        liveness_endpoint=liveness,
        priority=priority,
        memo=memo,
    )
    return 0
