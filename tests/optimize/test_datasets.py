from __future__ import annotations

import pathlib

import numpy as np
import pytest

from modelrollout.api import optimization as api
from modelrollout.optimize import datasets, signatures
from modelrollout.optimize.errors import OptimizeError

SIG = (
    signatures.InputSpec("input_ids", np.dtype(np.int64), (None, None)),
    signatures.InputSpec("attention_mask", np.dtype(np.int64), (None, None)),
    signatures.InputSpec("pixels", np.dtype(np.float32), (None, 3, 4)),
)


def save(path: pathlib.Path, **arrays: np.ndarray) -> pathlib.Path:
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


def good(n: int = 5) -> dict[str, np.ndarray]:
    return {
        "input_ids": np.ones((n, 7), np.int32),
        "attention_mask": np.ones((n, 7), np.int64),
        "pixels": np.zeros((n, 3, 4), np.float64),
    }


def test_load_conforms_dtypes(tmp_path: pathlib.Path) -> None:
    data = datasets.load_npz(save(tmp_path / "d.npz", **good(), labels=np.arange(5)), SIG, "evaluation data")
    assert data.count == 5 and data.inputs["input_ids"].dtype == np.int64
    assert data.inputs["pixels"].dtype == np.float32 and data.labels is not None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pixels": np.zeros((5, 4, 4), np.float32)}, "input 'pixels' has shape \\(5, 4, 4\\), the model expects \\(N, 3, 4\\)"),
        ({"pixels": np.zeros((5, 12), np.float32)}, "input 'pixels' has shape"),
        ({"input_ids": np.ones((5, 7), np.float32)}, "input 'input_ids' is float32"),
        ({"attention_mask": np.ones((4, 7), np.int64)}, "inputs disagree on the number of samples"),
        ({"labels": np.zeros((5, 2), np.int64)}, "'labels' must be 5 integers"),
    ],
)  # fmt: skip
def test_bad_data_names_the_array(tmp_path: pathlib.Path, change: dict[str, np.ndarray], message: str) -> None:
    with pytest.raises(OptimizeError, match=f"calibration data: {message}"):
        datasets.load_npz(save(tmp_path / "d.npz", **{**good(), **change}), SIG, "calibration data")


def test_missing_input(tmp_path: pathlib.Path) -> None:
    arrays = good()
    del arrays["pixels"]
    with pytest.raises(OptimizeError, match="no array for model input 'pixels'"):
        datasets.load_npz(save(tmp_path / "d.npz", **arrays), SIG, "evaluation data")


def test_not_an_npz(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "d.npz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(OptimizeError, match="not a readable .npz"):
        datasets.load_npz(bad, SIG, "evaluation data")


def test_synthesize_follows_the_signature() -> None:
    data = datasets.synthesize(SIG, 12)
    assert data.inputs["input_ids"].shape == (12, datasets.DYNAMIC_DIM)
    assert data.inputs["input_ids"].max() < datasets.TOKEN_RANGE
    assert np.all(data.inputs["attention_mask"] == 1)
    assert data.inputs["pixels"].shape == (12, 3, 4) and data.inputs["pixels"].dtype == np.float32


@pytest.mark.parametrize(
    ("metric", "max_drop", "need"),
    [
        (api.Metric.COSINE, 0.01, datasets.MIN_SAMPLES),
        (api.Metric.ACCURACY, 0.01, 100),
        (api.Metric.TOP1_AGREEMENT, 0.02, 50),
        (api.Metric.TOP1_AGREEMENT, 0.5, datasets.MIN_SAMPLES),
        (api.Metric.ACCURACY, 0.0, datasets.MIN_SAMPLES),
    ],
)
def test_min_evaluation_samples(metric: api.Metric, max_drop: float, need: int) -> None:
    assert datasets.min_evaluation_samples(metric, max_drop) == need


def test_batch_of_repeats() -> None:
    data = datasets.synthesize(SIG, 3)
    assert data.batch_of(8)["pixels"].shape[0] == 8
