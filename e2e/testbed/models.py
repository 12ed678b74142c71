"""Small real ONNX models for the demo and the end-to-end scenarios.

Each is a classifier over `classes` inputs whose right answer is known to whoever built
the input (the argmax of the input itself), so a load generator can post true labels
as feedback. Two knobs make a version worse in a way the canary analysis must catch:
`work` adds real compute (latency), `swapped` permutes some classes (accuracy).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INPUT = "x"
OUTPUT = "logits"


def classifier(path: Path, *, classes: int = 16, width: int = 65536, work: int = 80, swapped: int = 0) -> Path:
    """Write the model to `path`. Latency grows with `work`; accuracy drops by swapped/classes.

    The work is a chain of elementwise Sin over `width` values: quantization leaves it
    alone, so a version with three times the work stays three times slower whichever
    candidate the optimizer picks.
    """
    rng = np.random.default_rng(7)
    permutation = np.arange(classes)
    for i in range(0, 2 * (swapped // 2), 2):
        permutation[[i, i + 1]] = permutation[[i + 1, i]]
    select = np.eye(classes, dtype=np.float32)[:, permutation]
    expand = (rng.standard_normal((classes, width)) / np.sqrt(classes)).astype(np.float32)
    zero = np.zeros((1,), dtype=np.float32)

    nodes = [
        helper.make_node("MatMul", [INPUT, "select"], ["answer"]),
        helper.make_node("MatMul", [INPUT, "expand"], ["h0"]),
    ]
    nodes += [helper.make_node("Sin", [f"h{i}"], [f"h{i + 1}"]) for i in range(work)]
    nodes += [
        helper.make_node("ReduceSum", [f"h{work}"], ["total"], keepdims=1),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", ["answer", "nothing"], [OUTPUT]),
    ]
    graph = helper.make_graph(
        nodes,
        f"classifier-w{work}-s{swapped}",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", classes])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", classes])],
        [
            numpy_helper.from_array(select, "select"),
            numpy_helper.from_array(expand, "expand"),
            numpy_helper.from_array(zero, "zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def sample(rng: np.random.Generator, classes: int = 16) -> tuple[np.ndarray, int]:
    """One input row and its true label (the position of its clear maximum)."""
    label = int(rng.integers(classes))
    row = rng.uniform(0.0, 0.5, size=(1, classes)).astype(np.float32)
    row[0, label] = 1.0
    return row, label
