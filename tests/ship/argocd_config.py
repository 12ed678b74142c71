"""The `argocd-cm` patch, generated from the Lua files under manifests/argocd/.

Regenerate with `python -m tests.ship.argocd_config` from the repository root; a test
fails when the checked-in patch differs from what this renders.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Final

import yaml

from modelrollout import names

ROOT: Final = Path(__file__).resolve().parents[2] / "manifests" / "argocd"
PATCH: Final = ROOT / "argocd-cm.yaml"
GROUP_KIND: Final = f"{names.GROUP}_{names.KIND}"
ACTIONS: Final = ("promote", "abort", "retry", "pause", "resume")


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def _dump(value: Any) -> str:
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, width=120)


def actions_config(root: Path = ROOT) -> dict[str, Any]:
    """The value of resource.customizations.actions.<group_kind>, as Argo CD reads it."""
    return {
        "discovery.lua": (root / "actions" / "discovery.lua").read_text(),
        "definitions": [
            {"name": name, "action.lua": (root / "actions" / name / "action.lua").read_text()} for name in ACTIONS
        ],
    }


def render(root: Path = ROOT) -> str:
    patch = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "namespace": "argocd"},
        "data": {
            # Label tracking would claim the operator's children, which carry
            # app.kubernetes.io/instance too; annotation tracking does not.
            "application.resourceTrackingMethod": "annotation",
            f"resource.customizations.health.{GROUP_KIND}": (root / "health.lua").read_text(),
            f"resource.customizations.actions.{GROUP_KIND}": _dump(actions_config(root)),
        },
    }
    header = (
        "# Generated from health.lua and actions/ by `python -m tests.ship.argocd_config`. Do not edit.\n"
        "# Merge into Argo CD's argocd-cm (see docs/argocd.md).\n"
    )
    return header + _dump(patch)


if __name__ == "__main__":
    PATCH.write_text(render())
    sys.exit(0)
