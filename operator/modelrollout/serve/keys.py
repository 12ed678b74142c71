"""The feedback signing keys, read from files (a mounted Secret) and re-read as they change.

Every pod of a model that holds the same key verifies the tokens any of them issued.
The files are re-read at most every `RELOAD_SECONDS`, so a rotation (the old key moved
to the previous-key file, a new one written to the key file) takes effect without a
restart, as the kubelet updates a mounted Secret in place. Without a key file, or while
it cannot be read, the server signs with a random key of its own: serving goes on, but
its tokens verify only on this pod, and the log says so.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from pathlib import Path

from modelrollout.serve import feedback

log = logging.getLogger(__name__)

RELOAD_SECONDS = 10.0
MIN_KEY_BYTES = 16


class KeyFileError(ValueError):
    """A key file that cannot serve as a key; the message names the file."""


def read_key(path: Path) -> bytes:
    """A key file's bytes without surrounding whitespace (so `openssl rand -hex 32 > file` works)."""
    try:
        key = path.read_bytes().strip()
    except OSError as error:
        raise KeyFileError(f"cannot read feedback key file {path}: {error.strerror or error}") from None
    if len(key) < MIN_KEY_BYTES:
        raise KeyFileError(f"feedback key file {path} holds {len(key)} bytes; a key needs at least {MIN_KEY_BYTES}")
    return key


class KeyFiles:
    """The current `Tokens`, rebuilt when the key files change."""

    def __init__(
        self,
        key_file: Path | None,
        previous_file: Path | None,
        window_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self.key_file = key_file
        self.previous_file = previous_file
        self.window_seconds = window_seconds
        self._clock = clock
        self._signing = secrets.token_bytes(32)  # this process's own, until a shared key is read
        self._files: tuple[bytes, bytes | None] | None = None  # what the files held when last read
        self._tokens = feedback.Tokens(self._signing, window_seconds)
        self._checked = float("-inf")
        self._complained = ""
        self.reload()
        if key_file is None:
            log.warning(
                "no feedback key file configured: feedback tokens are signed with a random key of "
                "this process and verify only on this pod"
            )

    @property
    def shared(self) -> bool:
        """Whether tokens are signed with the key file's key, so other pods verify them."""
        return self._files is not None

    def tokens(self) -> feedback.Tokens:
        if self._clock() - self._checked >= RELOAD_SECONDS:
            self.reload()
        return self._tokens

    def reload(self) -> None:
        self._checked = self._clock()
        if self.key_file is None:
            return
        try:
            files = (read_key(self.key_file), self._previous())
        except KeyFileError as error:
            # The last key read stays in use; without one, this process's own.
            self._complain(
                f"{error}: feedback tokens verify only on this pod until it can be read"
                if not self.shared
                else f"{error}: still signing with the key read before"
            )
            return
        if files == self._files:
            return
        key, previous = files
        # The key signing until now keeps verifying, so this pod's own tokens issued
        # before a rotation are not lost even when the previous-key file is not set.
        verifying = tuple(k for k in (previous, self._signing) if k is not None and k != key)
        self._files, self._signing = files, key
        self._tokens = feedback.Tokens(key, self.window_seconds, verifying)
        self._complained = ""
        log.info(
            "feedback tokens are signed with the key in %s and verified with it%s",
            self.key_file,
            " and the previous key" if previous is not None else "",
        )

    def _previous(self) -> bytes | None:
        if self.previous_file is None or not self.previous_file.exists():
            return None
        return read_key(self.previous_file)

    def _complain(self, message: str) -> None:
        if message != self._complained:
            log.warning("%s", message)
            self._complained = message
