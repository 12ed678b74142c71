"""Mixed-precision static QDQ: the nodes that cost the most accuracy stay in FP32.

Static INT8 of every MatMul is the fastest ONNX Runtime variant on most CPUs, and on
transformers often outside a tight budget (MiniLM: 0.937 cosine), because a few
activations carry outliers that one INT8 scale cannot hold. Which ones is a property of
the model and the data, so it is measured: from the fully quantized model, each
quantized node in turn is put back in FP32 and the metric says how much of the drop it
was responsible for; then nodes are kept in FP32, the most responsible first, until the
drop fits the budget. Everything works on the QDQ graph, so the data is calibrated once.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from typing import Final

import numpy as np
import onnx
from onnx import numpy_helper

log = logging.getLogger(__name__)

# The search aims under the budget: it judges on a subset, the Job on all the data.
SAFETY: Final = 0.8
# Share of the search time for measuring nodes one by one; the rest is for the greedy pass.
RANKING_SHARE: Final = 0.7
_QUANTIZED_SUFFIX: Final = "_quantized"


def name_nodes(model: onnx.ModelProto) -> None:
    """Give every node a unique name, so nodes can be named across copies of the graph."""
    seen: set[str] = set()
    for i, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{i}"
        seen.add(node.name)


def quantized_nodes(model: onnx.ModelProto, op_types: Iterable[str]) -> list[str]:
    """Names of the nodes of `op_types` that read at least one dequantized input, in graph order."""
    wanted = set(op_types)
    dequantized = {out for n in model.graph.node if n.op_type == "DequantizeLinear" for out in n.output}
    return [n.name for n in model.graph.node if n.op_type in wanted and any(i in dequantized for i in n.input)]


def keep_float(model: onnx.ModelProto, originals: dict[str, onnx.TensorProto], names: Iterable[str]) -> onnx.ModelProto:
    """A copy of the QDQ `model` where the nodes `names` read their inputs unquantized.

    An activation input is rewired past its QuantizeLinear/DequantizeLinear pair; a weight
    input gets its original FP32 initializer from `originals` (by the quantizer's naming),
    or the dequantized values when the original is not found. Q/DQ nodes and initializers
    nothing reads any more are removed.
    """
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    chosen = set(names)
    producers = {o: n for n in graph.node for o in n.output}
    inits = {i.name: i for i in graph.initializer}
    added: dict[str, onnx.TensorProto] = {}
    for node in graph.node:
        if node.name not in chosen:
            continue
        for k, name in enumerate(node.input):
            dq = producers.get(name)
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            source = dq.input[0]
            q = producers.get(source)
            if q is not None and q.op_type == "QuantizeLinear":
                node.input[k] = q.input[0]
            elif source in inits:
                node.input[k] = _float_weight(source, dq, inits, originals, added)
    graph.initializer.extend(added.values())
    _prune(graph)
    return out


def _float_weight(
    source: str,
    dq: onnx.NodeProto,
    inits: dict[str, onnx.TensorProto],
    originals: dict[str, onnx.TensorProto],
    added: dict[str, onnx.TensorProto],
) -> str:
    original = source.removesuffix(_QUANTIZED_SUFFIX)
    name = f"{original}_fp32"
    if name in added:
        return name
    if original in originals:
        tensor = onnx.TensorProto()
        tensor.CopyFrom(originals[original])
    else:
        q = numpy_helper.to_array(inits[source]).astype("float32")
        scale = numpy_helper.to_array(inits[dq.input[1]]).astype("float32")
        zero = (
            numpy_helper.to_array(inits[dq.input[2]]).astype("float32") if len(dq.input) > 2 else np.zeros_like(scale)
        )
        axis = next((a.i for a in dq.attribute if a.name == "axis"), 1)
        if scale.ndim == 1:  # per channel: broadcast along the axis
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        tensor = numpy_helper.from_array((q - zero) * scale)
    tensor.name = name
    added[name] = tensor
    return name


def _prune(graph: onnx.GraphProto) -> None:
    """Drop nodes whose outputs nothing reads, then initializers nothing reads."""
    outputs = {o.name for o in graph.output}
    while True:
        read = {i for n in graph.node for i in n.input} | outputs
        dead = [n for n in graph.node if not any(o in read for o in n.output)]
        if not dead:
            break
        for n in dead:
            graph.node.remove(n)
    read = {i for n in graph.node for i in n.input} | outputs
    for init in [i for i in graph.initializer if i.name not in read]:
        graph.initializer.remove(init)


@dataclasses.dataclass(frozen=True)
class Outcome:
    model: onnx.ModelProto
    kept_float: list[str]  # node names left in FP32, most responsible first
    drop: float  # on the judge's subset
    measured: int  # nodes whose effect was measured one by one
    total: int  # quantized nodes in the full model
    note: str  # one line for the log and the report


def search(
    full: onnx.ModelProto,
    originals: dict[str, onnx.TensorProto],
    op_types: Iterable[str],
    judge: Callable[[onnx.ModelProto], float],
    max_drop: float,
    seconds: float | None,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """The fewest FP32 nodes that bring the drop inside the budget, within `seconds`.

    When time runs out first, the best model found so far (lowest drop) is returned, and
    the Job's own evaluation decides whether it passes.
    """
    start = clock()
    deadline = None if seconds is None else start + seconds
    target = max_drop * SAFETY
    nodes = quantized_nodes(full, op_types)
    drop = judge(full)
    if drop <= target or not nodes:
        return Outcome(full, [], drop, 0, len(nodes), f"all {len(nodes)} quantized nodes in INT8")

    ranking_end = None if deadline is None else start + (seconds or 0.0) * RANKING_SHARE
    effect: dict[str, float] = {}
    for name in nodes:
        if ranking_end is not None and clock() >= ranking_end:
            break
        effect[name] = drop - judge(keep_float(full, originals, [name]))
    # Measured nodes by how much of the drop they carry; unmeasured ones after, in graph order.
    order = sorted(effect, key=lambda n: -effect[n]) + [n for n in nodes if n not in effect]

    best = Outcome(full, [], drop, len(effect), len(nodes), "")
    kept: list[str] = []
    for name in order:
        if deadline is not None and clock() >= deadline:
            break
        kept.append(name)
        model = keep_float(full, originals, kept)
        d = judge(model)
        if d < best.drop:
            best = Outcome(model, list(kept), d, len(effect), len(nodes), "")
        if d <= target:
            break
    note = (
        f"{len(best.kept_float)} of {len(nodes)} quantized nodes kept in FP32 "
        f"(effect of {len(effect)} measured one by one), drop {best.drop:.4g} on the search subset"
    )
    if best.drop > target and deadline is not None and clock() >= deadline:
        note += "; the search time ran out before the budget was met"
    return dataclasses.replace(best, note=note)
