"""A pytest plugin loaded for every run (pyproject addopts: -p tests.no_skips).

With MODELROLLOUT_NO_SKIPS=1 (set by .ci/run) a test that did not really run fails the
run: skipped (a server or binary is missing proves nothing, and CI installs them all),
xfailed or xpassed (an expected failure hides a known defect), or deselected (a filter
left a test out of the run CI is supposed to make whole).
"""

from __future__ import annotations

import os

import pytest


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not os.environ.get("MODELROLLOUT_NO_SKIPS") or exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    stats = reporter.stats if reporter is not None else {}
    found = [(kind, report) for kind in NOT_RUN for report in stats.get(kind, [])]
    for kind, report in found:
        detail = getattr(report, "longrepr", None) or getattr(report, "wasxfail", "") or ""
        print(f"\n{kind} in CI (not allowed): {getattr(report, 'nodeid', report)}: {detail}")
    if found:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# What the terminal reporter files a test under when it did not pass by really running.
NOT_RUN = ("skipped", "xfailed", "xpassed", "deselected")
