"""Feedback behind a Service, on real server processes: a token from one pod is judged by another.

Two servers share a key file, as the pods of one ModelDeployment share its mounted
Secret: A is the canary of version 2, B the stable of version 1. Feedback for A's
answers posted to B counts under A's version and role; forged, altered and replayed
tokens are refused with a reason and move no counter.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient

from modelrollout import names
from tests.serve.conftest import Classifier, Server, StartServer

OLD, NEW = "a" * 64, "b" * 64


def _serve(
    start_server: StartServer, classifier: Classifier, version: str, role: str, *extra: str, **env: str
) -> Server:
    return start_server(
        "--model-name", "clf", "--model-version", version, "--role", role,
        "--model-uri", str(classifier.path), *extra, env=env,
    )  # fmt: skip


def _infer(server: Server, row: np.ndarray) -> dict[str, object]:
    body = {"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4], "data": row.tolist()}]}
    answer = requests.post(server.url + "/v2/models/clf/infer", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    payload: dict[str, object] = answer.json()
    return payload


def _token(answer: dict[str, object]) -> str:
    parameters = answer["parameters"]
    assert isinstance(parameters, dict)
    token: str = parameters[names.PARAMETER_FEEDBACK_TOKEN]
    return token


def _feedback(server: Server, body: dict[str, object], **headers: str) -> requests.Response:
    return requests.post(server.url + "/v2/models/clf/feedback", json=body, headers=headers, timeout=10)


def _judged(server: Server, version: str, role: str) -> float:
    return server.metric(names.METRIC_FEEDBACK, model="clf", version=version, role=role)


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    (tmp_path / "current").write_text(OLD + "\n")
    return tmp_path


def test_feedback_for_a_canary_answer_posted_to_stable_counts_for_the_canary(
    start_server: StartServer, classifier: Classifier, key_dir: Path
) -> None:
    shared = ("--feedback-key-file", str(key_dir / "current"))
    canary = _serve(start_server, classifier, "2", "canary", *shared)
    stable = _serve(start_server, classifier, "1", "stable", *shared)
    rows = list(zip(classifier.features[:20], classifier.truth[:20], strict=True))
    for row, truth in rows:
        judged = _feedback(stable, {"token": _token(_infer(canary, row)), "label": int(truth)})
        assert judged.status_code == 200, judged.text
        assert (judged.json()["version"], judged.json()["role"]) == ("2", "canary")
    predicted = classifier.predicted[:20]
    correct = int((predicted == classifier.truth[:20]).sum())
    assert 0 < correct < len(rows)  # the checks below could fail either way
    got = stable.metric(names.METRIC_FEEDBACK, model="clf", version="2", role="canary", correct="true")
    assert got == correct
    assert _judged(stable, "2", "canary") == len(rows)
    assert _judged(stable, "1", "stable") == 0  # the pod that received it predicted nothing
    assert _judged(canary, "2", "canary") == 0

    # The gRPC answer carries a token too, judged the same way.
    assert canary.grpc_port is not None
    client = grpcclient.InferenceServerClient(url=f"127.0.0.1:{canary.grpc_port}")
    try:
        tensor = grpcclient.InferInput("X", [1, 4], "FP32")
        tensor.set_data_from_numpy(classifier.features[:1])
        answer = client.infer("clf", [tensor]).get_response()
    finally:
        client.close()
    token = answer.parameters[names.PARAMETER_FEEDBACK_TOKEN].string_param
    assert _feedback(stable, {"token": token, "correct": True}).status_code == 200
    assert _judged(stable, "2", "canary") == len(rows) + 1


def _altered_labels(token: str) -> str:
    """The same signature over a claim whose predicted labels were changed."""
    payload, signature = token.split(".")
    claim = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claim["l"] = [label + 1 for label in claim["l"]]
    forged = base64.urlsafe_b64encode(json.dumps(claim, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"{forged}.{signature}"


def test_forged_and_replayed_tokens_are_refused_and_not_counted(
    start_server: StartServer, classifier: Classifier, key_dir: Path
) -> None:
    shared = ("--feedback-key-file", str(key_dir / "current"))
    canary = _serve(start_server, classifier, "2", "canary", *shared)
    stable = _serve(start_server, classifier, "1", "stable", *shared)
    stranger = _serve(start_server, classifier, "2", "canary")  # a random key of its own
    token = _token(_infer(canary, classifier.features[0]))
    refusals = {
        "bad signature": _feedback(stable, {"token": token[:-4] + "AAAA", "correct": True}),
        "altered labels": _feedback(stable, {"token": _altered_labels(token), "correct": True}),
        "another key": _feedback(stable, {"token": _token(_infer(stranger, classifier.features[0])), "correct": True}),
    }
    for what, response in refusals.items():
        assert response.status_code == 403, (what, response.text)
        assert "bad signature" in response.json()["error"], what
    assert _feedback(stable, {"token": token, "correct": True}).status_code == 200
    replay = _feedback(stable, {"token": token, "correct": True})
    assert replay.status_code == 409
    assert "replay" in replay.json()["error"]
    assert _judged(stable, "2", "canary") == 1  # the genuine one, once


def test_a_rotated_key_still_verifies_tokens_of_the_previous_key(
    start_server: StartServer, classifier: Classifier, key_dir: Path
) -> None:
    before_rotation = _serve(start_server, classifier, "2", "canary", "--feedback-key-file", str(key_dir / "current"))
    token = _token(_infer(before_rotation, classifier.features[0]))
    rotated = key_dir / "rotated"
    rotated.mkdir()
    (rotated / "current").write_text(NEW)
    (rotated / "previous").write_text(OLD)
    after_rotation = _serve(
        start_server, classifier, "1", "stable",
        "--feedback-key-file", str(rotated / "current"), "--feedback-previous-key-file", str(rotated / "previous"),
    )  # fmt: skip
    assert _feedback(after_rotation, {"token": token, "correct": True}).status_code == 200
    assert _judged(after_rotation, "2", "canary") == 1
    # Its own tokens are signed with the new key, which the old pods do not hold.
    fresh = _token(_infer(after_rotation, classifier.features[0]))
    assert _feedback(before_rotation, {"token": fresh, "correct": True}).status_code == 403


def test_feedback_limits_bearer_rate_and_size(start_server: StartServer, classifier: Classifier) -> None:
    server = _serve(
        start_server, classifier, "1", "stable",
        "--feedback-rate", "1", "--feedback-burst", "2", **{names.ENV_FEEDBACK_BEARER_TOKEN: "s3cret"},
    )  # fmt: skip
    token = _token(_infer(server, classifier.features[0]))
    unauthorized = _feedback(server, {"token": token, "correct": True})
    assert unauthorized.status_code == 401
    assert unauthorized.headers["WWW-Authenticate"].startswith("Bearer")
    assert _feedback(server, {"token": token, "correct": True}, Authorization="Bearer nope").status_code == 401
    good = {"Authorization": "Bearer s3cret"}
    assert _feedback(server, {"token": token, "correct": True}, **good).status_code == 200
    too_big = _feedback(server, {"token": token, "label": [1] * 400_000}, **good)
    assert too_big.status_code == 413
    # Refused before the limit (401, 413) costs nothing; the second request empties the burst of 2.
    assert _feedback(server, {"id": "x", "correct": True}, **good).status_code == 404
    limited = _feedback(server, {"id": "x", "correct": True}, **good)
    assert limited.status_code == 429, limited.text
    assert "too much feedback" in limited.json()["error"]
    assert _judged(server, "1", "stable") == 1
