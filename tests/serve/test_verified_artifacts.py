"""The real server loads only the artifact it was told to: the digest checked, file:// confined."""

from __future__ import annotations

import hashlib

from conftest import Server, StartServer, TinyModel
from modelrollout import names


def _wait_exit(server: Server) -> int:
    return server.process.wait(60)


def test_a_digest_mismatch_is_refused_before_loading(start_server: StartServer, tiny_model: TinyModel) -> None:
    env = {names.ENV_MODEL_NAME: "tiny", names.ENV_MODEL_URI: tiny_model.path.as_uri()}
    wrong = start_server(env={**env, names.ENV_MODEL_SHA256: "0" * 64}, ready=False)
    assert _wait_exit(wrong) == 1
    log = "".join(wrong.log)
    assert "does not match expected" in log and "0" * 64 in log
    assert "warmed up" not in log
    digest = hashlib.sha256(tiny_model.path.read_bytes()).hexdigest()
    right = start_server(env={**env, names.ENV_MODEL_SHA256: digest})
    assert right.process.poll() is None


def test_a_file_uri_outside_the_allowed_roots_is_refused(start_server: StartServer, tiny_model: TinyModel) -> None:
    env = {
        names.ENV_MODEL_NAME: "tiny",
        names.ENV_MODEL_URI: tiny_model.path.as_uri(),
        names.ENV_FILE_ROOTS: "/nonexistent-models",
    }
    refused = start_server(env=env, ready=False)
    assert _wait_exit(refused) == 1
    assert "outside the allowed file roots" in "".join(refused.log)
    allowed = start_server(env={**env, names.ENV_FILE_ROOTS: str(tiny_model.path.parent)})
    assert allowed.process.poll() is None
