"""A pytest plugin loaded for every run (pyproject addopts: -p tests.no_skips).

With MODELROLLOUT_NO_SKIPS=1 (set by .ci/run) a skipped test fails the run: a test that
skips because a server or binary is missing proves nothing, and CI installs them all.
"""

from __future__ import annotations

import os

import pytest


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not os.environ.get("MODELROLLOUT_NO_SKIPS") or exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        for report in skipped:
            print(f"\nskipped in CI (not allowed): {report.nodeid}: {report.longrepr}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
