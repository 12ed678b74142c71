"""`modelrollout dashboard` as its own process, the way a person runs it: the demo and the
browser tests start it on a free port and read its URL from the first line it prints."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

from e2e.testbed import kubelet


class Dashboard:
    def __init__(self, kubeconfig: Path, log_path: Path, *, allow_actions: bool = False, port: int = 0) -> None:
        self.kubeconfig = kubeconfig
        self.port = port
        self.log_path = log_path
        self.allow_actions = allow_actions
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> Dashboard:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self, timeout: float = 60.0) -> None:
        env = {**os.environ, "PYTHONPATH": kubelet.python_path(os.environ.get("PYTHONPATH"), kubelet.package_root())}
        command = [
            sys.executable,
            "-m",
            "modelrollout",
            "dashboard",
            "--kubeconfig",
            str(self.kubeconfig),
            "--port",
            str(self.port),
        ]
        if self.allow_actions:
            command.append("--allow-actions")
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._drain, args=(lines,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if "http://127.0.0.1:" in line:
                self.url = line[line.index("http://") :].strip()
                return
        self.stop()
        raise RuntimeError(f"dashboard printed no URL in {timeout:.0f}s:\n{self.tail()}")

    def _drain(self, lines: queue.Queue[str]) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with self.log_path.open("a") as log:
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                lines.put(line)

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
