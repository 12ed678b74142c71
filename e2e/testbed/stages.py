"""KWOK stages: how fake nodes and the pods on them move through their lifecycle.

KWOK v0.8 ships no built-in stages, so the test bed carries KWOK's `fast` set (nodes
ready at once with a lease heartbeat; pods Running and Ready at once; Job pods
Succeeded; deleted pods gone). When the process kubelet is on, the pods it runs for
real (the operator's inference servers and optimization Jobs) must be left alone by
KWOK, else both would write their status.
"""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any, Final

import yaml

from modelrollout import names

STAGE_FILES: Final = (
    "node-initialize.yaml",
    "node-heartbeat-with-lease.yaml",
    "pod-ready.yaml",
    "pod-complete.yaml",
    "pod-delete.yaml",
)
PROCESS_COMPONENTS: Final = (names.COMPONENT_SERVER, names.COMPONENT_OPTIMIZER)


def process_pod_query() -> str:
    """A jq query that is `true` for a pod the process kubelet runs, `false` otherwise.

    KWOK's selector ANDs its requirements, and "not (managed by us and one of our
    components)" is an OR, so the whole test is one jq expression compared with a set.
    """
    component = f'.metadata.labels["{names.LABEL_COMPONENT}"]'
    components = " or ".join(f'{component} == "{c}"' for c in PROCESS_COMPONENTS)
    return f'(.metadata.labels["{names.LABEL_MANAGED_BY}"] == "{names.MANAGER}") and ({components})'


def load_stages() -> list[dict[str, Any]]:
    """The shipped stage documents, in file order."""
    folder = resources.files("e2e.testbed") / "kwok-stages"
    stages: list[dict[str, Any]] = []
    for name in STAGE_FILES:
        document = yaml.safe_load((folder / name).read_text())
        if not isinstance(document, dict) or document.get("kind") != "Stage":
            raise ValueError(f"stages/{name}: not a KWOK Stage")
        stages.append(document)
    return stages


def compose(stages: list[dict[str, Any]], *, skip_process_pods: bool) -> list[dict[str, Any]]:
    """The stages to hand to KWOK; with `skip_process_pods`, pod stages exclude process pods."""
    if not skip_process_pods:
        return copy.deepcopy(stages)
    excluded = {"key": process_pod_query(), "operator": "NotIn", "values": ["true"]}
    composed = []
    for original in stages:
        stage = copy.deepcopy(original)
        if stage["spec"]["resourceRef"]["kind"] == "Pod":
            stage["spec"].setdefault("selector", {}).setdefault("matchExpressions", [])
            stage["spec"]["selector"]["matchExpressions"].append(excluded)
        composed.append(stage)
    return composed


def render(stages: list[dict[str, Any]]) -> str:
    """One multi-document YAML file for `kwok --config`."""
    return yaml.safe_dump_all(stages, sort_keys=False)
