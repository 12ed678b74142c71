from __future__ import annotations

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

import models


@pytest.fixture(scope="session")
def mlp(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A real MLP trained on digits, as ONNX (input 'features', output 'probabilities')."""
    d = tmp_path_factory.mktemp("mlp")
    return models.mlp_onnx(models.train_mlp(), d / "model.onnx")


@pytest.fixture(scope="session")
def digits_eval(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return models.evaluation_npz(tmp_path_factory.mktemp("data") / "eval.npz")
