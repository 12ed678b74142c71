"""The `modelrollout` command: one entry point, a subcommand per role of the image."""

from __future__ import annotations

import importlib
import sys

# Each subcommand lives in its own package and is imported only when asked for, so
# `modelrollout serve` never pays for the operator's imports and vice versa.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "operator": ("modelrollout.handlers.command", "Run the Kopf operator."),
    "crd": ("modelrollout.api.command", "Print the CustomResourceDefinition generated from the API models."),
    "optimize": ("modelrollout.optimize.command", "Optimize a model (the optimization Job's container)."),
    "serve": ("modelrollout.serve.command", "Serve a model over the Open Inference Protocol."),
    "dashboard": ("modelrollout.dashboard.command", "Serve a local web UI over ModelDeployments (127.0.0.1)."),
}


def _usage() -> str:
    lines = ["usage: modelrollout <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {text}" for name, (_, text) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help"}:
        print(_usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"modelrollout: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    result: int = module.main(rest)
    return result


if __name__ == "__main__":
    sys.exit(main())
