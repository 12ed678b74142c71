"""Small real models the tests build: an MLP trained on sklearn's digits, as ONNX."""

from __future__ import annotations

import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier


def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), y.astype(np.int64)


def train_mlp(hidden: int = 64, seed: int = 0) -> MLPClassifier:
    x, y = digits()
    clf = MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=200, random_state=seed)
    clf.fit(x[:1200], y[:1200])
    return clf


def mlp_onnx(clf: MLPClassifier, path: pathlib.Path, input_name: str = "features") -> pathlib.Path:
    """The trained MLP as plain ONNX ops (MatMul, Add, Relu, Softmax), dynamic batch."""
    w1, w2 = (np.asarray(w, dtype=np.float32) for w in clf.coefs_)
    b1, b2 = (np.asarray(b, dtype=np.float32) for b in clf.intercepts_)
    inits = [
        numpy_helper.from_array(w1, "w1"),
        numpy_helper.from_array(b1, "b1"),
        numpy_helper.from_array(w2, "w2"),
        numpy_helper.from_array(b2, "b2"),
    ]
    nodes = [
        helper.make_node("MatMul", [input_name, "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["l0"]),
        helper.make_node("Add", ["l0", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "digits-mlp",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [None, w1.shape[0]])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, w2.shape[1]])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def evaluation_npz(path: pathlib.Path, n: int = 200, input_name: str = "features") -> pathlib.Path:
    x, y = digits()
    np.savez(path, **{input_name: x[-n:], "labels": y[-n:]})
    return path
