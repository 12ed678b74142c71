"""What the dashboard shows, from resource bodies (pure: no I/O, no clock but the one given).

The page renders these dicts as they are; keeping the shaping here lets it be tested
without a browser or a cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import pydantic

from modelrollout import names
from modelrollout.api import v1alpha1
from modelrollout.rollout import machine, verdicts

Body = Mapping[str, Any]
# Columns of the optimization table that come first, in this order; any other key a
# candidate carries (a cost, a device...) follows, so new report fields show up unasked.
CANDIDATE_COLUMNS: Final = ("runtime", "precision", "method", "device", "p50Ms", "p99Ms", "throughput", "accuracyDrop")
Phase = v1alpha1.Phase
# A rollout under way: the controls promote, abort and pause apply.
ACTIVE_PHASES: Final = frozenset({Phase.OPTIMIZING, Phase.CANARY, Phase.PAUSED, Phase.PROMOTING})
RETRYABLE_PHASES: Final = frozenset({Phase.ROLLED_BACK, Phase.FAILED})
PROMOTABLE_PHASES: Final = frozenset({Phase.CANARY, Phase.PAUSED})


def key(body: Body) -> str:
    meta = body.get("metadata", {})
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def summary(body: Body) -> dict[str, Any]:
    """One row of the list: identity, phase, versions and the canary's weight."""
    meta, spec, status = body.get("metadata", {}), body.get("spec", {}), body.get("status", {})
    phase = status.get("phase", Phase.PENDING.value)
    return {
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "model": spec.get("model", {}).get("name", ""),
        "version": spec.get("model", {}).get("version", ""),
        "phase": phase,
        "active": phase in ACTIVE_PHASES,
        "stableVersion": status.get("stableVersion", ""),
        "canaryVersion": status.get("canaryVersion", ""),
        "canaryWeight": int(status.get("canaryWeight") or 0),
        "stableWeight": 100 - int(status.get("canaryWeight") or 0) if status.get("stableVersion") else 0,
        "message": status.get("message", ""),
        "paused": names.ANNOTATION_PAUSE in (meta.get("annotations") or {}),
    }


def summaries(bodies: Iterable[Body]) -> list[dict[str, Any]]:
    return sorted((summary(b) for b in bodies), key=lambda row: (row["namespace"], row["name"]))


def steps(body: Body) -> list[dict[str, Any]]:
    """The rollout's steps, each marked done, current or to come."""
    status = body.get("status", {})
    current = status.get("currentStep")
    phase = status.get("phase", "")
    rows = []
    for index, step in enumerate(body.get("spec", {}).get("rollout", {}).get("steps", [])):
        if phase in ACTIVE_PHASES and current is not None:
            state = "done" if index < current else "current" if index == current else "next"
        else:
            state = "done" if phase == Phase.SUCCEEDED else "next"
        rows.append({"index": index, "weight": step.get("weight"), "pause": step.get("pause") or "", "state": state})
    return rows


def optimization(body: Body) -> dict[str, Any]:
    """The optimization report as a table: columns, rows, and which row was chosen."""
    report = body.get("status", {}).get("optimization") or {}
    candidates: Sequence[Mapping[str, Any]] = report.get("candidates") or []
    extra = sorted({k for c in candidates for k in c} - set(CANDIDATE_COLUMNS))
    columns = [c for c in CANDIDATE_COLUMNS if any(c in row for row in candidates)] + extra
    selected = report.get("selected") or {}
    chosen = (selected.get("runtime"), selected.get("precision"), selected.get("method"))
    rows = [
        {
            "cells": [row.get(c) for c in columns],
            "chosen": bool(selected) and (row.get("runtime"), row.get("precision"), row.get("method")) == chosen,
        }
        for row in candidates
    ]
    return {
        "job": report.get("job", ""),
        "succeeded": report.get("succeeded"),
        "reason": report.get("reason", ""),
        "columns": columns,
        "rows": rows,
    }


# What an effect interval is, per kind of check: how much worse the canary is than stable.
EFFECTS: Final = {
    verdicts.Kind.LATENCY: "ratio",
    verdicts.Kind.ERROR_RATE: "increase",
    verdicts.Kind.ACCURACY: "drop",
}
UNITS: Final = {verdicts.Kind.LATENCY: "ms", verdicts.Kind.ERROR_RATE: "share", verdicts.Kind.ACCURACY: "share"}


def checks(body: Body) -> dict[str, verdicts.Check]:
    """The spec's checks by name, as the judge reads them; none when the spec does not parse
    (the page still draws what the status says, without limits)."""
    spec = body.get("spec", {}).get("rollout", {}).get("analysis")
    if not spec:
        return {}
    try:
        found = verdicts.checks_for(v1alpha1.Analysis.model_validate(spec))
    except (pydantic.ValidationError, ValueError):
        return {}
    return {c.name: c for c in reversed(found)}  # a metric named like an SLO: the SLO's, as the judge's first


def _kind(check: str, known: Mapping[str, verdicts.Check]) -> verdicts.Kind:
    if check in known:
        return known[check].kind
    return verdicts.Kind(check) if check in {k.value for k in EFFECTS} else verdicts.Kind.CUSTOM


def _bounds(m: Mapping[str, Any], kind: verdicts.Kind) -> str | None:
    """What the point's interval bounds: "canary" (its value) or the effect's name."""
    if m.get("low") is None:
        return None
    of = m.get("intervalOf")
    # Without intervalOf (an older operator's measurement) only an uncompared one is certain.
    if of == v1alpha1.IntervalOf.VALUE or (of is None and m.get("effect") is None):
        return "canary"
    return EFFECTS.get(kind) if of == v1alpha1.IntervalOf.EFFECT else None


def _chart(check: str, known: Mapping[str, verdicts.Check]) -> dict[str, Any]:
    kind = _kind(check, known)
    rule = known.get(check)
    limit = {"comparator": rule.comparator, "value": rule.bound} if rule is not None else None
    tolerance = (
        {"of": EFFECTS[kind], "value": rule.tolerance}
        if rule is not None and rule.tolerance is not None and kind in EFFECTS
        else None
    )
    return {"check": check, "unit": UNITS.get(kind, ""), "limit": limit, "tolerance": tolerance, "points": []}


def analysis(body: Body) -> list[dict[str, Any]]:
    """One chart per check: canary and stable values over time, each point with its verdict and
    the interval the verdict rested on (`bounds`: the canary's value, or its ratio, increase or
    drop against stable), with the spec's limit on the value and tolerance on the effect."""
    measurements: Sequence[Mapping[str, Any]] = body.get("status", {}).get("analysis", {}).get("measurements") or []
    known = checks(body)
    charts: dict[str, dict[str, Any]] = {}
    for m in sorted(measurements, key=lambda m: str(m.get("at", ""))):
        check = str(m.get("check", ""))
        chart = charts.setdefault(check, _chart(check, known))
        chart["points"].append(
            {
                "at": m.get("at"),
                "step": m.get("step"),
                "result": m.get("result"),
                "canary": m.get("value"),
                "stable": m.get("stableValue"),
                "effect": m.get("effect"),
                "low": m.get("low"),
                "high": m.get("high"),  # None with a low: unbounded above
                "bounds": _bounds(m, _kind(check, known)),
                "confidence": m.get("confidence"),
                "message": m.get("message", ""),
            }
        )
    return [charts[check] for check in sorted(charts)]


def event_rows(events: Iterable[Body]) -> list[dict[str, Any]]:
    """Events (core/v1 bodies) newest first."""

    def when(event: Body) -> str:
        at = str(
            event.get("lastTimestamp")
            or event.get("eventTime")
            or event.get("metadata", {}).get("creationTimestamp")
            or ""
        )
        # One spelling of UTC, whichever client wrote the Event, so the rows read alike and sort.
        return at.replace("+00:00", "Z")

    return [
        {
            "at": when(e),
            "type": e.get("type", ""),
            "reason": e.get("reason", ""),
            "message": e.get("message", ""),
            "count": e.get("count") or 1,
        }
        for e in sorted(events, key=when, reverse=True)
    ]


def detail(body: Body, events: Iterable[Body], *, allow_actions: bool) -> dict[str, Any]:
    status = body.get("status", {})
    return {
        **summary(body),
        "steps": steps(body),
        "currentStep": status.get("currentStep"),
        "pauseReason": status.get("pauseReason", ""),
        "optimization": optimization(body),
        "analysis": analysis(body),
        "history": list(reversed(status.get("history") or [])),
        "conditions": status.get("conditions") or [],
        "events": event_rows(events),
        "actions": list(actions_for(body)) if allow_actions else [],
    }


def actions_for(body: Body) -> tuple[str, ...]:
    """The controls the operator acts on in the resource's state (the page shows only these)."""
    status = body.get("status", {})
    phase = status.get("phase", "")
    paused = names.ANNOTATION_PAUSE in (body.get("metadata", {}).get("annotations") or {})
    found: list[str] = []
    if phase in PROMOTABLE_PHASES:
        found.append("promote")
    if phase in machine.IN_PROGRESS and status.get("stable"):
        found.append("abort")  # back to stable: there must be one
    if paused:
        found.append("resume")
    elif phase in machine.IN_PROGRESS:
        found.append("pause")
    if phase in RETRYABLE_PHASES:
        found.append("retry")
    return tuple(found)
