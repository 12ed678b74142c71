"""docs/inference-server.md is the one place for the server's names: it must not drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelrollout import names
from modelrollout.serve import settings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "inference-server.md").read_text()

SERVER_NAMES = [
    names.METRIC_REQUEST_DURATION,
    names.METRIC_REQUESTS,
    names.METRIC_IN_FLIGHT,
    names.METRIC_FEEDBACK,
    names.METRIC_MODEL_LOAD,
    *(f"`{label}`" for label in (*names.SERVER_LABELS, names.LABEL_CODE, names.LABEL_CORRECT)),
    names.HEADER_INFERENCE_ID,
    *settings.ENV_VARS,
]


@pytest.mark.parametrize("name", SERVER_NAMES)
def test_the_doc_names_it(name: str) -> None:
    assert name in DOC


def test_every_flag_is_documented() -> None:
    flags = [o for action in settings.build_parser()._actions for o in action.option_strings if o != "-h"]
    missing = [f for f in flags if f"`{f}`" not in DOC and f != "--help"]
    assert not missing
