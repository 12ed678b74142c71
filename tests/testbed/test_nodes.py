from __future__ import annotations

from pathlib import Path

import pytest

from e2e.testbed import nodes
from modelrollout import names


def test_shipped_pools_have_the_accelerator_shapes() -> None:
    pools = {p.name: p for p in nodes.load_pools().pools}
    assert set(pools) >= {"cpu", "nvidia-gpu", "npu"}
    gpu = pools["nvidia-gpu"]
    assert gpu.capacity["nvidia.com/gpu"] == "8"
    assert gpu.labels["nvidia.com/gpu.present"] == "true"
    assert any(t.key == "nvidia.com/gpu" and t.effect == "NoSchedule" for t in gpu.taints)
    assert "npu.intel.com/accel" in pools["npu"].capacity
    assert not pools["cpu"].taints


def test_manifests_are_kwok_nodes_with_pool_label_and_capacity() -> None:
    pools = nodes.select(nodes.load_pools(), ["nvidia-gpu"])
    manifests = nodes.node_manifests(pools, names.LABEL_NODE_POOL)
    assert [m["metadata"]["name"] for m in manifests] == ["nvidia-gpu-0", "nvidia-gpu-1"]
    first = manifests[0]
    assert first["metadata"]["annotations"] == {nodes.KWOK_ANNOTATION: "fake"}
    assert first["metadata"]["labels"][names.LABEL_NODE_POOL] == "nvidia-gpu"
    assert first["metadata"]["labels"]["kubernetes.io/hostname"] == "nvidia-gpu-0"
    assert first["status"]["allocatable"] == first["status"]["capacity"]
    assert first["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]


def test_select_keeps_file_order_and_can_leave_a_pool_out() -> None:
    pools = nodes.load_pools()
    chosen = nodes.select(pools, ["nvidia-gpu", "cpu"])
    assert [p.name for p in chosen] == ["cpu", "nvidia-gpu"]
    assert nodes.select(pools, None) == pools.pools


def test_select_unknown_pool_names_it() -> None:
    with pytest.raises(ValueError, match=r"unknown node pool\(s\) \['tpu'\]"):
        nodes.select(nodes.load_pools(), ["cpu", "tpu"])


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("pools:\n- {name: a, capacity: {cpu: '1'}}\n", "pods"),
        ("pools:\n- {name: A_b, capacity: {pods: '1'}}\n", "name"),
        ("pools:\n- {name: a, capacity: {pods: '1'}, colour: red}\n", "colour"),
        (
            "pools:\n- {name: a, capacity: {pods: '1'}}\n- {name: a, capacity: {pods: '1'}}\n",
            "duplicate",
        ),
        (
            "pools:\n- {name: a, capacity: {pods: '1'}, taints: [{key: k, effect: Never}]}\n",
            "effect",
        ),
    ],
)
def test_bad_pool_files_are_refused_naming_the_field(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "pools.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=complaint) as raised:
        nodes.load_pools(path)
    assert str(path) in str(raised.value)


def test_counts_widen_a_pool_without_editing_the_file() -> None:
    pools = nodes.with_counts(nodes.select(nodes.load_pools(), ["cpu", "npu"]), {"cpu": 24})
    assert [(p.name, p.count) for p in pools] == [("cpu", 24), ("npu", 1)]
    assert len(nodes.node_manifests(pools, "pool")) == 25
    with pytest.raises(ValueError, match="tpu"):
        nodes.with_counts(pools, {"tpu": 3})
