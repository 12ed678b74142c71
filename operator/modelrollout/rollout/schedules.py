"""When a rollout's next time-based work falls due: a pure function of spec, status and clock.

Changes to the resource and to its children wake a rollout through watches; only three
things happen by the clock alone, and this says when the earliest of them is due:
the next analysis check, the end of the current step's pause, and the progress
deadline. The shell schedules one pass for exactly that moment (and a slow resync as
the safety net), so a rollout at rest costs nothing between them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from modelrollout.api.v1alpha1 import ModelDeploymentSpec, ModelDeploymentStatus, Phase
from modelrollout.rollout import machine


def next_analysis(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> datetime | None:
    """When `machine.analysis_due` turns true; None when no check is pending."""
    analysis = spec.rollout.analysis
    if analysis is None or status.phase not in {Phase.CANARY, Phase.PAUSED} or status.canary is None:
        return None
    marks = [t for t in (status.analysis.last_check, status.step_started_at) if t is not None]
    if not marks:
        return datetime.min.replace(tzinfo=UTC)  # never checked: due at once
    return max(marks) + analysis.interval


def pause_end(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> datetime | None:
    """When the current step's pause is over; None outside a timed pause of a running canary."""
    step = status.current_step
    if status.phase is not Phase.CANARY or step is None or status.step_started_at is None:
        return None
    steps = spec.rollout.steps
    pause = steps[min(step, len(steps) - 1)].pause
    if pause is None:
        return None
    return status.step_started_at + pause


def progress_deadline(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> datetime | None:
    """When an unfinished rollout passes its progress deadline (the condition flips then)."""
    if status.phase not in machine.IN_PROGRESS or status.phase is Phase.PAUSED or status.rollout_started_at is None:
        return None
    # The machine compares with `>`: the first pass strictly after the deadline flips it.
    deadline = spec.rollout.progress_deadline + timedelta(milliseconds=1)
    return status.rollout_started_at + deadline


def next_due(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> datetime | None:
    """The earliest time-based work still ahead of `now` (or `now` if some is overdue); None if none.

    A deadline already passed is not "due" again: the pass that crossed it wrote the
    condition, and only a change can make the rollout move after that.
    """
    candidates = []
    analysis = next_analysis(spec, status)
    if analysis is not None:
        candidates.append(max(analysis, now))
    pause = pause_end(spec, status)
    if pause is not None and pause > now:
        # Once over, the step waits for its analysis (scheduled above), not for the clock.
        candidates.append(pause)
    deadline = progress_deadline(spec, status)
    if deadline is not None and deadline > now:
        candidates.append(deadline)
    return min(candidates, default=None)
