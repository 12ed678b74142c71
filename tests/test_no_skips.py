"""The CI rule that every test really runs: a real pytest run per kind of 'did not run'."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]

CASES = {
    "skipped": "import pytest\n\ndef test_a():\n    pytest.skip('no server')\n",
    "xfailed": "import pytest\n\n@pytest.mark.xfail(reason='known')\ndef test_a():\n    assert False\n",
    "xpassed": "import pytest\n\n@pytest.mark.xfail(reason='known')\ndef test_a():\n    assert True\n",
    "deselected": "def test_a():\n    pass\n\ndef test_b():\n    pass\n",
}


def _run(tmp_path: pathlib.Path, source: str, *args: str, enforce: bool = True) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_case.py").write_text(source)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MODELROLLOUT_NO_SKIPS", None)
    if enforce:
        env["MODELROLLOUT_NO_SKIPS"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.no_skips", "-q", "-p", "no:cacheprovider", "-c", "/dev/null",
         "--rootdir", str(tmp_path), str(tmp_path), *args],
        capture_output=True, text=True, env=env, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip


@pytest.mark.parametrize("kind", CASES)
def test_a_test_that_did_not_really_run_fails_the_ci_run(kind: str, tmp_path: pathlib.Path) -> None:
    args = ("--deselect", "test_case.py::test_b") if kind == "deselected" else ()
    relaxed = _run(tmp_path, CASES[kind], *args, enforce=False)
    assert relaxed.returncode == 0, relaxed.stdout
    enforced = _run(tmp_path, CASES[kind], *args)
    assert enforced.returncode == pytest.ExitCode.TESTS_FAILED, enforced.stdout
    assert f"{kind} in CI (not allowed)" in enforced.stdout


def test_a_clean_run_passes_under_the_rule(tmp_path: pathlib.Path) -> None:
    assert _run(tmp_path, "def test_a():\n    assert 1 + 1 == 2\n").returncode == 0
