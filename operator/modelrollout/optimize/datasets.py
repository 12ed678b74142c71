"""Calibration and evaluation data: `.npz` files with one array per model input.

The first axis of every array counts samples. For the accuracy metric the file also holds
`labels` (one integer class per sample). Without a file, inputs are generated from the
model's signature: weaker (random inputs say nothing about real data) but it lets
`candidates: auto` run for any model.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import pathlib
import zipfile
from collections.abc import Iterator
from typing import Final

import numpy as np

from modelrollout.api import optimization as api
from modelrollout.optimize import signatures
from modelrollout.optimize.errors import OptimizeError

log = logging.getLogger(__name__)

LABELS: Final = "labels"
MIN_SAMPLES: Final = 10
DYNAMIC_DIM: Final = 16  # size given to a dynamic non-batch dim of a generated input
TOKEN_RANGE: Final = 100  # token ids drawn from a small vocabulary range


@dataclasses.dataclass(frozen=True)
class Dataset:
    inputs: dict[str, np.ndarray]
    labels: np.ndarray | None = None

    @property
    def count(self) -> int:
        return int(next(iter(self.inputs.values())).shape[0]) if self.inputs else 0

    def take(self, n: int) -> Dataset:
        labels = None if self.labels is None else self.labels[:n]
        return Dataset({k: v[:n] for k, v in self.inputs.items()}, labels)

    def batches(self, size: int) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, self.count, size):
            yield {k: v[start : start + size] for k, v in self.inputs.items()}

    def batch_of(self, size: int) -> dict[str, np.ndarray]:
        """`size` samples, repeating the data when it holds fewer."""
        reps = math.ceil(size / max(self.count, 1))
        return {k: np.concatenate([v] * reps)[:size] for k, v in self.inputs.items()}


def min_evaluation_samples(metric: api.Metric, max_drop: float) -> int:
    """Fewest samples that can judge a drop of `max_drop`.

    For a count-based metric (accuracy, top-1 agreement) one sample moves the score by
    1/n, so below 1/max_drop samples a single disagreement would already exceed the budget.
    """
    if metric is api.Metric.COSINE or max_drop <= 0:
        return MIN_SAMPLES
    return max(MIN_SAMPLES, math.ceil(1.0 / max_drop - 1e-9))


def load_npz(path: pathlib.Path, signature: signatures.Signature, what: str) -> Dataset:
    """Load and check a data file against the model's inputs; errors name the array."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise OptimizeError(f"{what} {path.name}: not a readable .npz file ({e})") from e
    labels = arrays.pop(LABELS, None)
    inputs: dict[str, np.ndarray] = {}
    for spec in signature:
        if spec.name not in arrays:
            have = ", ".join(sorted(arrays)) or "none"
            raise OptimizeError(f"{what}: no array for model input {spec.name!r} (arrays: {have})")
        inputs[spec.name] = _conform(arrays.pop(spec.name), spec, what)
    if arrays:
        log.warning("%s: ignoring arrays that are not model inputs: %s", what, ", ".join(arrays))
    counts = {name: a.shape[0] for name, a in inputs.items()}
    if len(set(counts.values())) > 1:
        raise OptimizeError(f"{what}: inputs disagree on the number of samples {counts}")
    n = next(iter(counts.values()), 0)
    if n == 0:
        raise OptimizeError(f"{what}: holds no samples")
    if labels is not None and (labels.ndim != 1 or labels.shape[0] != n or labels.dtype.kind not in "iu"):
        raise OptimizeError(f"{what}: 'labels' must be {n} integers, got {labels.dtype}{list(labels.shape)}")
    return Dataset(inputs, labels)


def _conform(array: np.ndarray, spec: signatures.InputSpec, what: str) -> np.ndarray:
    dims = ["N" if i == 0 else ("?" if d is None else str(d)) for i, d in enumerate(spec.shape)]
    expected = "(" + ", ".join(dims) + ")"
    mismatch = OptimizeError(
        f"{what}: input {spec.name!r} has shape {tuple(array.shape)}, the model expects {expected}"
    )
    if array.ndim != len(spec.shape):
        raise mismatch
    for axis, (got, want) in enumerate(zip(array.shape, spec.shape, strict=True)):
        if axis > 0 and want is not None and got != want:
            raise mismatch
    kinds_ok = {"f": "f", "i": "iu", "u": "iu", "b": "b"}
    if array.dtype.kind not in kinds_ok.get(spec.dtype.kind, spec.dtype.kind):
        raise OptimizeError(f"{what}: input {spec.name!r} is {array.dtype}, the model expects {spec.dtype}")
    return np.ascontiguousarray(array.astype(spec.dtype, copy=False))


def synthesize(signature: signatures.Signature, n: int, seed: int = 0) -> Dataset:
    """Generate `n` samples from the signature (see the module note on what this is worth)."""
    rng = np.random.default_rng(seed)
    inputs: dict[str, np.ndarray] = {}
    for spec in signature:
        shape = (n, *(DYNAMIC_DIM if d is None else d for d in spec.shape[1:]))
        inputs[spec.name] = _generate(spec, shape, rng)
    return Dataset(inputs)


def _generate(spec: signatures.InputSpec, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    name = spec.name.lower()
    kind = spec.dtype.kind
    if kind == "f":
        return rng.standard_normal(shape).astype(spec.dtype)
    if kind == "b":
        return rng.random(shape) < 0.5
    if "mask" in name:
        return np.ones(shape, dtype=spec.dtype)
    if "type" in name or "segment" in name or "position" in name:
        return np.zeros(shape, dtype=spec.dtype)
    high = TOKEN_RANGE if "id" in name else 10
    return rng.integers(0, high, size=shape).astype(spec.dtype)
