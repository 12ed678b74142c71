"""`kubectl modelrollout`: status, history, day-2 controls and a dashboard of ModelDeployments.

kubectl finds the plugin as `kubectl-modelrollout` on PATH (installed with the
package). It reads the current kubeconfig like kubectl does; `--kubeconfig`,
`--context` and `-n/--namespace` override it.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import sys
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client import exceptions

from modelrollout import names
from modelrollout.dashboard import options
from modelrollout.kube import clients
from modelrollout.plugin import controls, rendering

USAGE_COMMANDS = ("status", "history", *controls.COMMANDS)
# The kubeconfig reader carries no annotations in some client versions.
_list_contexts: Callable[..., tuple[Any, Any]] = config.list_kube_config_contexts


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubectl modelrollout", description="Status, history and day-2 controls of ModelDeployments."
    )
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--context", help="kubeconfig context to use")
    parser.add_argument("-n", "--namespace", help="namespace (default: the context's, else 'default')")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    helps = {
        "status": "phase, versions, steps with the current one marked, last measurements, conditions",
        "history": "past rollouts and their outcomes",
        "promote": "skip the remaining steps and promote the canary now",
        "abort": "roll back to stable now",
        "retry": "retry a rolled-back or failed version",
        "pause": "hold the rollout at its current step",
        "resume": "let a paused rollout go on",
    }
    for name in USAGE_COMMANDS:
        sub = commands.add_parser(name, help=helps[name])
        sub.add_argument("name", help="ModelDeployment name")
    dashboard = commands.add_parser("dashboard", help="a local web UI on 127.0.0.1 (read-only unless --allow-actions)")
    options.add_arguments(dashboard)
    return parser


def _namespace(args: argparse.Namespace) -> str:
    if args.namespace:
        return str(args.namespace)
    try:
        _, active = _list_contexts(config_file=args.kubeconfig)
    except (config.ConfigException, OSError):
        return "default"
    namespace = (active or {}).get("context", {}).get("namespace")
    return str(namespace) if namespace else "default"


def _get(api: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    obj = api.get_namespaced_custom_object(names.GROUP, names.VERSION, namespace, names.PLURAL, name)
    return cast(dict[str, Any], obj)


def run(args: argparse.Namespace, api: client.CustomObjectsApi, now: datetime.datetime) -> str:
    """Carry out one command; returns what to print."""
    namespace = _namespace(args)
    obj = _get(api, namespace, args.name)
    if args.command == "status":
        return rendering.render_status(obj, now)
    if args.command == "history":
        return rendering.render_history(obj, now)
    return control(api, obj, args.command, now) + "\n"


def control(api: client.CustomObjectsApi, obj: dict[str, Any], command: str, now: datetime.datetime) -> str:
    """Ask the operator for `command` on `obj` (the dashboard's buttons do the same)."""
    namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
    patch = controls.patch_for(command, obj["metadata"].get("annotations"), now)
    if not patch:
        return f"{names.KIND} {namespace}/{name}: nothing to {command}"
    api.patch_namespaced_custom_object(
        names.GROUP, names.VERSION, namespace, names.PLURAL, name, patch, _content_type=controls.CONTENT_TYPE
    )
    return f"{names.KIND} {namespace}/{name}: {command} requested"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not clients.load_kubeconfig(args.kubeconfig, args.context, "kubectl modelrollout"):
        return 1
    if args.command == "dashboard":
        # Imported only when asked for: the other commands never pay for the web stack.
        # The plugin's -n narrows the dashboard to one namespace; without it, all of them.
        serve: Callable[[argparse.Namespace, client.ApiClient], int] = importlib.import_module(
            "modelrollout.dashboard.command"
        ).serve
        return serve(args, client.ApiClient())
    api = client.CustomObjectsApi()
    try:
        sys.stdout.write(run(args, api, datetime.datetime.now(datetime.UTC)))
    except exceptions.ApiException as error:
        reason = "not found" if error.status == 404 else f"{error.status} {error.reason}"
        print(f"kubectl modelrollout: {names.KIND} {args.name}: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
