"""The operator as a separate process, the way it runs in a pod: killed and restarted at will."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from e2e.testbed import controlplane, kubelet, processes

# An RBAC refusal as the API server words it, with the quotes escaped or not (the
# operator logs an ApiException's JSON body), and Kopf's own warning when it cannot list
# or watch a resource.
_REFUSAL = re.compile(
    r'forbidden: User \\?"system:serviceaccount:[^"\\]+\\?" cannot [^\n]*|Not enough permissions[^\n]*'
)


def rbac_refusals(log: str) -> list[str]:
    """Every line of an operator log that says RBAC refused it something."""
    return _REFUSAL.findall(log)


class OperatorProcess:
    def __init__(
        self,
        work_dir: Path,
        kubeconfig: Path,
        settings: dict[str, Any],
        extra_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.extra_args = extra_args
        self.env = env or {}  # e.g. a pod name per replica, as the downward API gives one
        self.work_dir = work_dir
        self.kubeconfig = kubeconfig
        self.config = work_dir / "operator.yaml"
        self.config.write_text(yaml.safe_dump(settings))
        self.log_path = work_dir / "operator.log"
        self.metrics_port, self.liveness_port = controlplane.free_ports(2)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self, timeout: float = 60.0) -> None:
        self.starts += 1
        log = self.log_path.open("ab")
        env = {
            **os.environ,
            **self.env,
            "PYTHONPATH": kubelet.python_path(os.environ.get("PYTHONPATH"), kubelet.package_root()),
        }
        self.proc = processes.spawn(
            [
                sys.executable, "-m", "modelrollout", "operator",
                "--kubeconfig", str(self.kubeconfig),
                "--config", str(self.config),
                "--host", "127.0.0.1",
                "--metrics-port", str(self.metrics_port),
                "--liveness-port", str(self.liveness_port),
                *self.extra_args,
            ],
            log,
            env=env,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"operator not live after {timeout}s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL: the operator gets no chance to tidy up, as in a node failure."""
        processes.kill(self.proc)

    def stop(self, timeout: float = 15.0) -> None:
        processes.terminate(self.proc, timeout)

    def tail(self, lines: int = 40) -> str:
        return processes.tail(self.log_path, lines)

    def metrics(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            text: str = response.read().decode()
            return text
