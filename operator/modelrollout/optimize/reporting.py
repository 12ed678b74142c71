"""Writing the report: whole to a file, compacted to the termination message."""

from __future__ import annotations

import logging
import pathlib
from typing import Final

from modelrollout.api import optimization as api

log = logging.getLogger(__name__)

# Kubernetes keeps at most 4096 bytes of a container's termination message.
TERMINATION_LIMIT: Final = 4096
REASON_LIMITS: Final = (200, 80, 0)
_ESSENTIAL: Final = {"runtime", "precision", "method", "passed"}
_SUMMARY: Final = _ESSENTIAL | {"p50Ms", "throughput", "accuracyDrop", "sizeBytes", "reason"}


def write(report: api.OptimizationReport, path: pathlib.Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(report.model_dump_json(indent=2) + "\n")
    tmp.replace(path)


def _round(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.4g}")


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 3)] + "..." if limit > 3 else ""


def compact(report: api.OptimizationReport, limit: int = TERMINATION_LIMIT) -> str:
    """The report as compact JSON under `limit` UTF-8 bytes, still a valid report.

    Details go first (p99, accuracy, memory, device), then reasons are shortened, then
    candidates are cut to their essentials, then dropped; the verdict and the selected
    artifact always stay.
    """
    candidates = [
        c.model_copy(
            update={
                "p50Ms": _round(c.p50Ms),
                "throughput": _round(c.throughput),
                "accuracyDrop": _round(c.accuracyDrop),
            }
        )
        for c in report.candidates
    ]
    selected = report.selected
    if selected is not None:
        selected = selected.model_copy(update={"throughputRatio": _round(selected.throughputRatio)})
    base = report.model_copy(update={"selected": selected, "durationSeconds": _round(report.durationSeconds)})
    attempts: list[tuple[set[str], int, int]] = [
        (_SUMMARY, reason_limit, len(candidates)) for reason_limit in REASON_LIMITS
    ]
    attempts += [(_ESSENTIAL, 0, n) for n in range(len(candidates), -1, -1)]
    for fields, reason_limit, count in attempts:
        kept = [
            api.CandidateResult.model_validate(
                {
                    **c.model_dump(include=fields, exclude_none=True),
                    "reason": _truncate(c.reason, reason_limit) if "reason" in fields else "",
                }
            )
            for c in candidates[:count]
        ]
        text = _dump(base.model_copy(update={"candidates": kept}))
        if len(text.encode()) <= limit:
            return text
    # Only a huge top-level reason or URI is left to blame: shorten the reason.
    short = base.model_copy(update={"candidates": [], "reason": _truncate(report.reason, 200)})
    text = _dump(short)
    if len(text.encode()) > limit:
        raise ValueError(f"report cannot fit {limit} bytes even without candidates")
    return text


def _dump(report: api.OptimizationReport) -> str:
    return report.model_dump_json(exclude_none=True, exclude_defaults=False)


def write_termination(report: api.OptimizationReport, path: pathlib.Path) -> None:
    """Best effort: a missing /dev/termination-log outside Kubernetes is not an error."""
    try:
        path.write_text(compact(report))
    except OSError as e:
        log.warning("could not write the termination message to %s: %s", path, e)
