from __future__ import annotations

import pytest

from modelrollout.api.v1alpha1 import Accelerator, Serving
from modelrollout.pools import profiles
from modelrollout.pools.profiles import NodeView

CPU_NODE = NodeView("cpu-0", {"modelrollout.io/pool": "cpu"}, [], {"cpu": "16", "pods": "110"})
GPU_NODE = NodeView(
    "gpu-0",
    {"nvidia.com/gpu.present": "true"},
    [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
    {"cpu": "32", "nvidia.com/gpu": "8"},
)
NPU_NODE = NodeView(
    "npu-0",
    {"intel.feature.node.kubernetes.io/npu": "true"},
    [{"key": "npu.intel.com/accel", "value": "present", "effect": "NoSchedule"}],
    {"npu.intel.com/accel": "1"},
)


def test_every_accelerator_has_a_default_profile() -> None:
    defaults = profiles.defaults()
    for accelerator in Accelerator:
        assert profiles.select(defaults, Serving(accelerator=accelerator)).accelerator is accelerator


def test_pinned_pool_wins_and_unknown_pool_is_named() -> None:
    defaults = profiles.defaults()
    assert profiles.select(defaults, Serving(accelerator=Accelerator.CPU, node_pool="npu")).name == "npu"
    with pytest.raises(profiles.UnknownPool, match="spec.serving.nodePool: no node pool profile 'gpu-h100'"):
        profiles.select(defaults, Serving(node_pool="gpu-h100"))


def test_overrides_replace_a_profile_and_add_new_ones() -> None:
    merged = profiles.merged(
        {
            "cpu": {"accelerator": "cpu", "nodeSelector": {"pool": "general"}},
            "gpu-h100": {
                "accelerator": "nvidia-gpu",
                "resource": "nvidia.com/gpu",
                "devices": {"onnxruntime": "TensorRT"},
            },
        }
    )
    assert merged["cpu"].node_selector == {"pool": "general"}
    assert merged["gpu-h100"].device_for("onnxruntime") == "TensorRT"
    assert merged["gpu-h100"].device_for("openvino") == "CPU"


@pytest.mark.parametrize(
    ("pool", "node", "why"),
    [
        ("cpu", CPU_NODE, None),
        ("cpu", GPU_NODE, "label modelrollout.io/pool=cpu missing"),
        ("nvidia-gpu", GPU_NODE, None),
        ("nvidia-gpu", CPU_NODE, "label nvidia.com/gpu.present=true missing"),
        ("npu", NPU_NODE, None),
        ("npu", GPU_NODE, "label intel.feature.node.kubernetes.io/npu=true missing"),
    ],
)
def test_fits(pool: str, node: NodeView, why: str | None) -> None:
    assert profiles.fits(profiles.defaults()[pool], node) == why


def test_untolerated_taint_and_missing_resource_and_cordon() -> None:
    gpu = profiles.defaults()["nvidia-gpu"]
    no_toleration = gpu.model_copy(update={"tolerations": []})
    assert profiles.fits(no_toleration, GPU_NODE) == "taint nvidia.com/gpu:NoSchedule not tolerated"
    empty = NodeView("gpu-1", GPU_NODE.labels, GPU_NODE.taints, {"nvidia.com/gpu": "0"})
    assert profiles.fits(gpu, empty) == "no nvidia.com/gpu allocatable"
    cordoned = NodeView("gpu-2", GPU_NODE.labels, GPU_NODE.taints, GPU_NODE.allocatable, unschedulable=True)
    assert profiles.fits(gpu, cordoned) == "cordoned"


def test_placement_reason_names_pool_selector_and_resource() -> None:
    result = profiles.placement(profiles.defaults()["npu"], [CPU_NODE, GPU_NODE])
    assert not result.possible
    assert "'npu'" in result.reason and "npu.intel.com/accel" in result.reason and "2 nodes" in result.reason
    assert profiles.placement(profiles.defaults()["npu"], [CPU_NODE, NPU_NODE]).possible
