"""Running promtool (Debian's `prometheus` package) on rule files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def binary() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (apt-get install -y prometheus)")
    return path


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary(), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
