"""Feedback keys from files: shared, rotated without a restart, and a fallback that says so."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from modelrollout.serve import feedback, keys

OLD, NEW = b"o" * 32, b"n" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _issue(tokens: feedback.Tokens, nonce: str = "n") -> str:
    return tokens.issue("m", "1", "stable", [1], nonce=nonce, now=0.0)


def test_pods_sharing_the_key_file_verify_each_other(tmp_path: Path) -> None:
    (tmp_path / "current").write_bytes(OLD + b"\n")  # a trailing newline is not part of the key
    a = keys.KeyFiles(tmp_path / "current", None, 60, Clock())
    b = keys.KeyFiles(tmp_path / "current", tmp_path / "previous", 60, Clock())  # absent previous file: fine
    assert a.shared and b.shared
    assert b.tokens().verify(_issue(a.tokens()), now=1.0).model == "m"


def test_a_rotation_keeps_tokens_of_the_previous_key(tmp_path: Path) -> None:
    current, previous = tmp_path / "current", tmp_path / "previous"
    current.write_bytes(OLD)
    clock = Clock()
    files = keys.KeyFiles(current, previous, 60, clock)
    before = _issue(files.tokens())
    # The rotation: the old key becomes the previous one, a new key the current one.
    previous.write_bytes(OLD)
    current.write_bytes(NEW)
    assert files.tokens().verify(before, now=1.0)  # not re-read yet: still the old key
    clock.now = keys.RELOAD_SECONDS
    rotated = files.tokens()
    assert rotated.verify(before, now=1.0).nonce == "n"
    after = _issue(rotated, "m")
    # A pod that has only the new key (the old one retired) verifies new tokens only.
    fresh = feedback.Tokens(NEW, 60)
    assert fresh.verify(after, now=1.0).nonce == "m"
    with pytest.raises(feedback.ForgedToken):
        fresh.verify(before, now=1.0)


def test_without_a_key_file_tokens_verify_only_here(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        files = keys.KeyFiles(None, None, 60, Clock())
    assert not files.shared
    assert "verify only on this pod" in caplog.text
    token = _issue(files.tokens())
    assert files.tokens().verify(token, now=1.0)
    with pytest.raises(feedback.ForgedToken):
        keys.KeyFiles(None, None, 60, Clock()).tokens().verify(token, now=1.0)


def test_an_unreadable_key_file_falls_back_then_recovers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    current = tmp_path / "current"
    current.write_bytes(b"short")
    clock = Clock()
    with caplog.at_level(logging.WARNING):
        files = keys.KeyFiles(current, None, 60, clock)
    assert not files.shared
    assert f"{current} holds 5 bytes" in caplog.text
    own = _issue(files.tokens())
    current.write_bytes(NEW)  # the Secret arrives
    clock.now = keys.RELOAD_SECONDS
    # Tokens signed meanwhile with the process's own key still verify here.
    assert files.tokens().verify(own, now=1.0)
    assert files.shared
    assert feedback.Tokens(NEW, 60).verify(_issue(files.tokens()), now=1.0)


def test_the_two_step_rotation_refuses_no_token_while_pods_switch(tmp_path: Path) -> None:
    """docs/inference-server.md's rotation: pods pick each update up at their own moment."""
    lagging, leading = tmp_path / "lagging", tmp_path / "leading"
    for folder in (lagging, leading):
        folder.mkdir()
        (folder / "current").write_bytes(OLD)
    clock = Clock()
    pods = {f: keys.KeyFiles(f / "current", f / "previous", 60, clock) for f in (lagging, leading)}
    # Step 1 reached every pod: the new key verifies everywhere, the old one still signs.
    for folder in (lagging, leading):
        (folder / "previous").write_bytes(NEW)
    clock.now += keys.RELOAD_SECONDS
    # Step 2 reached only the leading pod.
    (leading / "current").write_bytes(NEW)
    (leading / "previous").write_bytes(OLD)
    clock.now += keys.RELOAD_SECONDS
    for issuer, judge in ((lagging, leading), (leading, lagging)):
        token = _issue(pods[issuer].tokens())
        assert pods[judge].tokens().verify(token, now=1.0).model == "m"
