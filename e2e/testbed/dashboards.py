"""`modelrollout dashboard` as its own process, the way a person runs it: the demo and the
browser tests start it on a free port and read its URL from the first line it prints."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from e2e.testbed import kubelet, processes

_URL_PREFIX = "http://127.0.0.1:"


class Dashboard(processes.Supervised):
    def __init__(
        self,
        kubeconfig: Path,
        log_path: Path,
        *,
        allow_actions: bool = False,
        port: int = 0,
        timeout: float = 60.0,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.port = port
        self.log_path = log_path
        self.allow_actions = allow_actions
        self.timeout = timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def _start(self) -> None:
        env = {**os.environ, "PYTHONPATH": kubelet.python_path(os.environ.get("PYTHONPATH"), kubelet.package_root())}
        command = [
            sys.executable, "-m", "modelrollout", "dashboard",
            "--kubeconfig", str(self.kubeconfig),
            "--port", str(self.port),
        ]  # fmt: skip
        if self.allow_actions:
            command.append("--allow-actions")
        # The log may hold an earlier run's lines: only what this run prints counts.
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = processes.spawn(command, log, env=env)
        self.url = self._wait_for_url(offset)

    def _wait_for_url(self, offset: int) -> str:
        assert self.proc is not None
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            with self.log_path.open(errors="replace") as log:
                log.seek(offset)
                for line in log:
                    if _URL_PREFIX in line and line.endswith("\n"):
                        return line[line.index(_URL_PREFIX) :].strip()
            if self.proc.poll() is not None:
                raise RuntimeError(f"dashboard exited {self.proc.returncode} before printing its URL:\n{self.tail()}")
            time.sleep(0.1)
        raise RuntimeError(f"dashboard printed no URL in {self.timeout:.0f}s:\n{self.tail()}")

    def stop(self, timeout: float = 15.0) -> None:
        processes.terminate(self.proc, timeout)

    def tail(self, lines: int = 40) -> str:
        return processes.tail(self.log_path, lines)
