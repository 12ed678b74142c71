"""`python -m e2e.testbed`: bring the test bed up and keep it until interrupted.

Prints shell lines (`export KUBECONFIG=...`, the Prometheus URL) once everything is
ready, so a person can drive the cluster with kubectl; SIGINT or SIGTERM tears it
all down.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import types
from pathlib import Path

from e2e.testbed import binaries, controlplane, gatewayapi, kubelet, nodes, prometheus
from e2e.testbed import kubectl as kubectl_cli


def parse(argv: list[str]) -> argparse.Namespace:
    known = [pool.name for pool in nodes.load_pools().pools]
    parser = argparse.ArgumentParser(prog="python -m e2e.testbed", description=__doc__)
    parser.add_argument(
        "--pools",
        default=",".join(known),
        help=f"comma-separated node pools to create (default: all of {', '.join(known)})",
    )
    parser.add_argument("--work-dir", type=Path, help="keep all state here (default: a temp dir)")
    parser.add_argument("--no-prometheus", action="store_true", help="do not start Prometheus")
    parser.add_argument(
        "--no-kubelet",
        action="store_true",
        help="let KWOK handle every pod (no local processes for inference servers and optimizers)",
    )
    parser.add_argument("--gateway-api", action="store_true", help="install the Gateway API CRDs")
    args = parser.parse_args(argv)
    args.pools = [p for p in args.pools.split(",") if p]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: types.FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    try:
        bins = binaries.build_control_plane()
        with contextlib.ExitStack() as stack:
            plane = stack.enter_context(
                controlplane.ControlPlane(
                    bins,
                    work_dir=args.work_dir,
                    pools=args.pools,
                    process_pods=not args.no_kubelet,
                )
            )
            server = None if args.no_prometheus else stack.enter_context(prometheus.Prometheus())
            if not args.no_kubelet:
                stack.enter_context(kubelet.ProcessKubelet(plane.api_client(), prometheus_server=server))
            if args.gateway_api:
                versions = binaries.read_versions(binaries.find_cluster_module())
                gatewayapi.install(kubectl_cli.Kubectl(plane.kubeconfig_path), versions["GATEWAY_API_VERSION"])
            print(f"export KUBECONFIG={plane.kubeconfig_path}")
            if server is not None:
                print(f"# prometheus: {server.url}")
            print(f"# nodes: {' '.join(plane.node_names)}", flush=True)
            stop.wait()
    except (binaries.MissingTool, controlplane.StartError, ValueError) as error:
        print(f"testbed: {error}", file=sys.stderr)
        return 1
    return 0
