"""`modelrollout optimize`: the optimization Job's container, or a command for development.

Exit status 0 on success. On any failure the report is still written (file and
termination message) with `succeeded: false` and a one-line reason, and the status is 1
(2 for a malformed command line).
"""

from __future__ import annotations

import logging
import pathlib
import sys
import time

from modelrollout import names
from modelrollout.api import optimization as api
from modelrollout.optimize import optimizing, reporting, settings
from modelrollout.optimize.errors import OptimizeError

log = logging.getLogger("modelrollout.optimize")


def _setup_logging() -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    # openvino.convert_model raises the root logger's level to ERROR; a level of our own
    # keeps the Job's progress lines flowing after it.
    logging.getLogger("modelrollout").setLevel(logging.INFO)
    for noisy in ("nncf", "openvino", "onnxruntime", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _finish(report: api.OptimizationReport, report_path: pathlib.Path, termination: pathlib.Path) -> None:
    try:
        reporting.write(report, report_path)
        log.info("report written to %s", report_path)
    except OSError as e:
        log.error("could not write the report to %s: %s", report_path, e)
    reporting.write_termination(report, termination)


def main(argv: list[str] | None = None) -> int:
    _setup_logging()
    started = time.monotonic()
    try:
        s = settings.parse(sys.argv[1:] if argv is None else argv)
    except settings.UsageError as e:
        reason = f"usage: {e}"
        log.error(reason)
        report = optimizing.failed_report(None, reason, started)
        import os  # noqa: PLC0415

        termination = pathlib.Path(os.environ.get(names.ENV_TERMINATION_LOG, names.TERMINATION_MESSAGE_PATH))
        reporting.write_termination(report, termination)
        return 2
    try:
        report = optimizing.run(s)
    except OptimizeError as e:
        report = optimizing.failed_report(s, str(e), started)
    except Exception as e:  # a bug or an unforeseen failure still gets a reason and a report
        log.exception("unexpected failure")
        report = optimizing.failed_report(s, f"unexpected {type(e).__name__}: {e}", started)
    if not report.succeeded:
        log.error("optimization failed: %s", report.reason)
    _finish(report, s.report, s.termination_log)
    return 0 if report.succeeded else 1
