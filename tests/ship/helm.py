"""The test bed's helm, built from its Go module (e2e/helm) into the cache on first use."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "manifests" / "helm" / "modelrollout"
BUILD = REPO / "e2e" / "helm" / "build.sh"


@functools.cache
def binary() -> str:
    if shutil.which("go") is None:
        pytest.skip("go is not installed: cannot build helm from its Go module")
    done = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, f"{BUILD} failed:\n{done.stderr[-4000:]}"
    return done.stdout.strip().splitlines()[-1]


def run(
    *args: str, check: bool = True, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([binary(), *args], capture_output=True, text=True, timeout=timeout, check=False, env=env)
    if check:
        assert done.returncode == 0, f"helm {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def values_file(tmp: Path, values: dict[str, Any]) -> str:
    path = tmp / f"values-{abs(hash(yaml.safe_dump(values)))}.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def template(tmp: Path, values: dict[str, Any], namespace: str = "modelrollout-system") -> list[dict[str, Any]]:
    done = run(
        "template", "modelrollout", str(CHART), "--namespace", namespace, "--include-crds",
        "-f", values_file(tmp, values),
    )  # fmt: skip
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]
