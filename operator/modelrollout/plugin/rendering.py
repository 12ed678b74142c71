"""What `kubectl modelrollout status` and `history` print, from the resource's JSON (pure).

The input is the object as the API server returns it; every field may be missing (a
resource the operator has not reached yet, or one written by an older operator), so
nothing here assumes more than the JSON holds.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any, Final

MEASUREMENTS_SHOWN: Final = 8
NONE: Final = "-"


def parse_time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def age(value: Any, now: datetime.datetime) -> str:
    """kubectl's style: 45s, 3m, 2h, 5d."""
    then = parse_time(value)
    if then is None:
        return NONE
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return NONE
    return f"{value:.4g}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = []
    for row in (header, *rows):
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def _version(ref: Any) -> str:
    if not isinstance(ref, dict) or not ref.get("version"):
        return NONE
    runtime = ref.get("runtime")
    return f"{ref['version']} ({runtime})" if runtime else str(ref["version"])


def step_rows(steps: list[dict[str, Any]], status: dict[str, Any], now: datetime.datetime) -> list[list[str]]:
    """One row per step, marked done (*), current (>) or to come ( )."""
    phase = status.get("phase", "")
    current = status.get("currentStep")
    rows = []
    for index, step in enumerate(steps):
        if phase == "Succeeded" or (isinstance(current, int) and index < current):
            mark, started = "*", ""
        elif index == current and phase in {"Canary", "Paused", "Promoting"}:
            mark, started = ">", age(status.get("stepStartedAt"), now)
        else:
            mark, started = " ", ""
        pause = step.get("pause") or ("until analysis passes" if index < len(steps) - 1 else "")
        rows.append([mark, str(index), f"{step.get('weight', '?')}%", pause or NONE, started or NONE])
    return rows


def selected_figures(selected: dict[str, Any]) -> str:
    """What the chosen artifact does and costs on its pool, in one line."""
    ratio = selected.get("throughputRatio")
    cost = selected.get("costPerMillion")
    pool = selected.get("pool") or "its pool"
    parts = [
        f"{selected.get('method', '?')}",
        f"throughput {number(selected.get('throughput'))}/s per replica"
        + (f" ({float(ratio):.2f}x FP32)" if isinstance(ratio, int | float) else ""),
        f"p50 {number(selected.get('p50Ms'))} ms, p99 {number(selected.get('p99Ms'))} ms at batch 1",
        f"cost per million {number(cost)} on {pool}" if cost is not None else f"no price for {pool}",
    ]
    return ", ".join(parts)


def render_status(obj: dict[str, Any], now: datetime.datetime) -> str:
    spec = obj.get("spec", {})
    status = obj.get("status") or {}
    lines = _headline(obj.get("metadata", {}), spec, status)
    steps = spec.get("rollout", {}).get("steps", [])
    if steps:
        lines += ["", "Steps:", *table(["", "STEP", "WEIGHT", "PAUSE", "IN STEP"], step_rows(steps, status, now))]
    lines += _analysis(spec, status, now)
    lines += _optimization(status.get("optimization"))
    conditions = status.get("conditions") or []
    if conditions:
        rows = [
            [
                str(c.get("type", "?")),
                str(c.get("status", "?")),
                str(c.get("reason", "")) or NONE,
                age(c.get("lastTransitionTime"), now),
                str(c.get("message", "")),
            ]
            for c in conditions
        ]
        lines += ["", "Conditions:", *table(["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], rows)]
    return "\n".join(lines) + "\n"


def _headline(metadata: dict[str, Any], spec: dict[str, Any], status: dict[str, Any]) -> list[str]:
    """Which model, its phase, whether the status is current, and the versions serving."""
    model = spec.get("model", {})
    lines = [
        f"{metadata.get('namespace', '?')}/{metadata.get('name', '?')}: model {model.get('name', '?')} "
        f"version {model.get('version', '?')}, phase {status.get('phase', 'Pending')}",
    ]
    generation, observed = metadata.get("generation"), status.get("observedGeneration")
    if generation is not None and observed != generation:
        lines.append(
            f"  (status is for generation {observed if observed is not None else NONE}, spec is at {generation})"
        )
    if status.get("message"):
        lines.append(f"  {status['message']}")
    if status.get("phase") == "Paused":
        lines.append(f"  paused: {status.get('pauseReason') or 'Manual'}")
    lines.append(
        f"  stable {_version(status.get('stable'))}   canary {_version(status.get('canary'))}   "
        f"weight {status.get('canaryWeight', 0)}%"
    )
    return lines


def _analysis(spec: dict[str, Any], status: dict[str, Any], now: datetime.datetime) -> list[str]:
    """The analysis counters, then the latest measurements, newest first."""
    analysis = status.get("analysis") or {}
    measurements = analysis.get("measurements") or []
    limit = spec.get("rollout", {}).get("analysis", {}).get("failureLimit")
    # What the canary is judged against; the baseline's estimates sit in stableValue.
    against = spec.get("rollout", {}).get("analysis", {}).get("compareWith") or "stable"
    failed = f"{analysis.get('failedChecks', 0)} failed" + (f" (limit {limit})" if limit is not None else "")
    lines = [
        "",
        f"Analysis: {analysis.get('passedChecks', 0)} passed in step, {failed}, "
        f"{analysis.get('inconclusiveChecks', 0)} without an answer in a row; "
        f"last check {age(analysis.get('lastCheck'), now)} ago"
        + (
            f" ({analysis['lastResult']}, look {analysis.get('stepLooks', 0)} of the step)"
            if analysis.get("lastResult")
            else ""
        )
        + (f"; compared with {analysis['comparedWith']}" if analysis.get("comparedWith") else ""),
    ]
    if not measurements:
        return [*lines, "  no measurements yet"]
    rows = [
        [
            age(m.get("at"), now),
            str(m.get("step", NONE)),
            str(m.get("check", NONE)),
            str(m.get("result", NONE)),
            number(m.get("value")),
            number(m.get("stableValue")),
            str(m.get("message", "")),
        ]
        for m in reversed(measurements[-MEASUREMENTS_SHOWN:])
    ]
    return lines + table(["AGE", "STEP", "CHECK", "RESULT", "VALUE", against.upper(), "MESSAGE"], rows)


def _optimization(optimization: object) -> list[str]:
    """The optimization Job's outcome and what it chose; nothing before a Job ran."""
    if not isinstance(optimization, dict) or not optimization:
        return []
    selected = optimization.get("selected") or {}
    outcome = {True: "succeeded", False: "failed", None: "running"}.get(optimization.get("succeeded"), "?")
    detail = f"{selected.get('runtime', '?')} {selected.get('precision', '?')}" if selected else NONE
    lines = ["", f"Optimization: {outcome} (job {optimization.get('job') or NONE}), selected {detail}"]
    if optimization.get("reason"):
        lines.append(f"  {optimization['reason']}")
    if selected:
        lines.append("  " + selected_figures(selected))
    return lines


def render_history(obj: dict[str, Any], now: datetime.datetime) -> str:
    history = (obj.get("status") or {}).get("history") or []
    name = f"{obj.get('metadata', {}).get('namespace', '?')}/{obj.get('metadata', {}).get('name', '?')}"
    if not history:
        return f"{name}: no rollouts recorded yet\n"
    rows = [
        [
            str(h.get("version", NONE)),
            str(h.get("revision", NONE))[:12],
            str(h.get("outcome", NONE)),
            str(h.get("at", NONE)),
            age(h.get("at"), now),
            str(h.get("reason", "")),
        ]
        for h in history
    ]
    rolled_back = (obj.get("status") or {}).get("rolledBackRevisions") or []
    lines = [f"{name}:", *table(["VERSION", "REVISION", "OUTCOME", "AT", "AGE", "REASON"], rows)]
    if rolled_back:
        lines += ["", "Not retried until the spec changes or `retry`: " + ", ".join(r[:12] for r in rolled_back)]
    return "\n".join(lines) + "\n"
