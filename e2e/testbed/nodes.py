"""Fake nodes for the test bed's pools, declared in `nodepools.yaml`, simulated by KWOK.

`node_manifests` is pure (pools in, Node objects out); `create_nodes` and `wait_ready`
are the thin I/O shell around the Kubernetes API.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal, cast

import pydantic
import yaml
from kubernetes import client

KWOK_ANNOTATION: Final = "kwok.x-k8s.io/node"
KWOK_ANNOTATION_VALUE: Final = "fake"
# KWOK manages only the nodes carrying this annotation; any real node is left alone.
KWOK_NODE_SELECTOR: Final = f"{KWOK_ANNOTATION}={KWOK_ANNOTATION_VALUE}"


class Taint(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    key: str = pydantic.Field(min_length=1)
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class NodePool(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    name: str = pydantic.Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=50)
    count: int = pydantic.Field(default=1, ge=0, le=1000)
    labels: dict[str, str] = {}
    taints: tuple[Taint, ...] = ()
    capacity: dict[str, str]

    @pydantic.field_validator("capacity")
    @classmethod
    def _needs_pods(cls, capacity: dict[str, str]) -> dict[str, str]:
        # Without a `pods` capacity the scheduler places nothing on the node.
        if "pods" not in capacity:
            raise ValueError("must include 'pods'")
        return capacity

    def node_names(self) -> list[str]:
        return [f"{self.name}-{index}" for index in range(self.count)]


class NodePools(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    pools: tuple[NodePool, ...]

    @pydantic.field_validator("pools")
    @classmethod
    def _unique(cls, pools: tuple[NodePool, ...]) -> tuple[NodePool, ...]:
        seen = [pool.name for pool in pools]
        duplicates = sorted({name for name in seen if seen.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate pool names: {', '.join(duplicates)}")
        return pools


def load_pools(path: Path | None = None) -> NodePools:
    """The pools of `path`, or of the `nodepools.yaml` shipped with the test bed."""
    if path is None:
        text = (resources.files("e2e.testbed") / "nodepools.yaml").read_text()
        source = "nodepools.yaml"
    else:
        text, source = path.read_text(), str(path)
    try:
        return NodePools.model_validate(yaml.safe_load(text))
    except pydantic.ValidationError as error:
        raise ValueError(f"{source}: {error}") from error


def select(pools: NodePools, wanted: Iterable[str] | None) -> tuple[NodePool, ...]:
    """The pools named in `wanted` (all when None), in file order; unknown names are an error."""
    if wanted is None:
        return pools.pools
    wanted = list(wanted)
    known = {pool.name for pool in pools.pools}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ValueError(f"unknown node pool(s) {unknown}; known: {sorted(known)}")
    return tuple(pool for pool in pools.pools if pool.name in wanted)


def with_counts(pools: Sequence[NodePool], counts: Mapping[str, int]) -> tuple[NodePool, ...]:
    """The pools with `counts[name]` nodes where given; an unknown pool name is an error."""
    unknown = sorted(set(counts) - {pool.name for pool in pools})
    if unknown:
        raise ValueError(f"node counts for unknown pool(s) {unknown}")
    return tuple(
        NodePool.model_validate({**pool.model_dump(), "count": counts[pool.name]}) if pool.name in counts else pool
        for pool in pools
    )


def node_manifests(pools: Sequence[NodePool], pool_label: str) -> list[dict[str, Any]]:
    """Node objects for every node of `pools`, each labelled `pool_label: <pool name>`."""
    nodes = []
    for pool in pools:
        for name in pool.node_names():
            labels = {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                pool_label: pool.name,
                **pool.labels,
            }
            nodes.append(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": name,
                        "labels": labels,
                        "annotations": {KWOK_ANNOTATION: KWOK_ANNOTATION_VALUE},
                    },
                    "spec": {"taints": [t.model_dump() for t in pool.taints]},
                    "status": {
                        "capacity": dict(pool.capacity),
                        "allocatable": dict(pool.capacity),
                    },
                }
            )
    return nodes


def create_nodes(api: client.CoreV1Api, manifests: Sequence[dict[str, Any]]) -> None:
    for manifest in manifests:
        # The client sends a plain dict as it is; no need to build a V1Node.
        api.create_node(cast(client.V1Node, manifest))
        # Status on create is kept today, but a node's capacity is the kubelet's to
        # report: writing it through the status subresource is the supported path.
        api.patch_node_status(manifest["metadata"]["name"], {"status": manifest["status"]})


def wait_ready(api: client.CoreV1Api, node_names: Sequence[str], timeout: float = 60.0) -> None:
    """Until every named node is Ready and schedulable (the not-ready taint removed)."""
    deadline = time.monotonic() + timeout
    pending = set(node_names)
    while pending:
        for node in api.list_node().items:
            name = node.metadata.name if node.metadata else None
            if name in pending and _ready(node):
                pending.discard(str(name))
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"nodes not Ready after {timeout:.0f}s: {sorted(pending)}")
        time.sleep(0.2)


def _ready(node: Any) -> bool:
    conditions = node.status.conditions or []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    taints = node.spec.taints or []
    not_ready_taint = any(t.key.startswith("node.kubernetes.io/not-ready") for t in taints)
    return ready and not not_ready_taint
