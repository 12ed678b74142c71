"""Scoring a candidate's outputs against the FP32 reference's (pure numpy)."""

from __future__ import annotations

import numpy as np

from modelrollout.api import optimization as api
from modelrollout.optimize import datasets
from modelrollout.optimize.candidates import base
from modelrollout.optimize.errors import OptimizeError


def scored_output(outputs: list[np.ndarray]) -> int:
    """Index of the output that is judged: the first floating-point one."""
    for i, out in enumerate(outputs):
        if out.dtype.kind == "f":
            return i
    raise OptimizeError("the model has no floating-point output to compare")


def predict(runner: base.Runner, data: datasets.Dataset, batch: int, output: int) -> np.ndarray:
    """The chosen output for every sample, in order, as float32."""
    parts = [runner.run(feed)[output] for feed in data.batches(batch)]
    return np.concatenate(parts).astype(np.float32, copy=False)


def score(
    metric: api.Metric,
    outputs: np.ndarray,
    reference: np.ndarray,
    labels: np.ndarray | None = None,
) -> float:
    """Higher is better; the reference scores itself 1.0 except under labelled accuracy."""
    if outputs.shape != reference.shape:
        raise ValueError(f"output shape {outputs.shape} differs from the reference's {reference.shape}")
    if metric is api.Metric.COSINE:
        a = outputs.reshape(len(outputs), -1).astype(np.float64)
        b = reference.reshape(len(reference), -1).astype(np.float64)
        norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        both_zero = norms == 0
        cos = np.where(both_zero, 1.0, (a * b).sum(axis=1) / np.where(both_zero, 1.0, norms))
        if not np.all(np.isfinite(cos)):
            return 0.0
        return float(cos.mean())
    predicted = _argmax(outputs)
    if metric is api.Metric.TOP1_AGREEMENT:
        return float((predicted == _argmax(reference)).mean())
    if labels is None:
        raise OptimizeError("metric accuracy needs an evaluation file with a 'labels' array")
    return float((predicted == labels).mean())


def _argmax(outputs: np.ndarray) -> np.ndarray:
    if outputs.ndim < 2:
        raise OptimizeError("accuracy and top-1 agreement need an output of class scores")
    return np.asarray(outputs.reshape(len(outputs), -1).argmax(axis=1))
