"""Running kubectl against the test bed (tests and docs drive the cluster as a user would)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from e2e.testbed import binaries


class KubectlError(RuntimeError):
    def __init__(self, args: list[str], returncode: int, stderr: str) -> None:
        super().__init__(f"kubectl {' '.join(args)} exited {returncode}: {stderr.strip()}")
        self.returncode = returncode
        self.stderr = stderr


class Kubectl:
    def __init__(self, kubeconfig: Path, executable: Path | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.executable = executable or binaries.kubectl()

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.executable), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise KubectlError(list(args), done.returncode, done.stderr)
        return done

    def __call__(self, *args: str, input: str | None = None) -> str:
        """stdout of a command that must succeed."""
        return self.run(*args, input=input).stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))
