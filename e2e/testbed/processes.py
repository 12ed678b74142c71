"""The one process supervisor of the test bed: start a child, stop it, read its log.

Every long-running part (the control plane's components, Prometheus, the operator, the
process kubelet's pods) is a child in a process group of its own (or of the control
plane's), dies with the test bed's process, and is stopped SIGTERM first, SIGKILL after
a grace period.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Final, Self

_PR_SET_PDEATHSIG: Final = 1


def die_with_parent() -> None:
    # If the Python process dies without running stop() (SIGKILL, a crash), the kernel
    # kills the children too, so no process outlives the test session. The signal fires
    # when the *thread* that started the child ends, so start children from a thread
    # that outlives them (the main thread, or one that waits for the child).
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(
    argv: list[str],
    log: IO[str] | IO[bytes],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    group: int | None = None,
) -> subprocess.Popen[bytes]:
    """`argv` with its output in `log`, leading a new process group unless `group` is given."""
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=None if env is None else dict(env),
        process_group=0 if group is None else group,
        # Only prctl runs between fork and exec, which is safe with threads about.
        preexec_fn=die_with_parent,  # noqa: PLW1509
    )


def terminate(proc: subprocess.Popen[bytes] | None, grace: float) -> None:
    """SIGTERM the child's process group, SIGKILL it after `grace` seconds; reaped after."""
    terminate_all([proc], grace)


def terminate_all(procs: Iterable[subprocess.Popen[bytes] | None], grace: float) -> None:
    """`terminate` for many children at once: all drain together, within one `grace`."""
    live = [proc for proc in procs if proc is not None and proc.poll() is None]
    for proc in live:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in live:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill(proc)


def kill(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL the child's process group at once, as a node failure would, and reap it."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log, empty when there is none yet."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Supervised:
    """A part of the test bed used as a context manager: started on entry, stopped on exit,
    and stopped again when its own start fails half-way, so nothing is left running."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError
