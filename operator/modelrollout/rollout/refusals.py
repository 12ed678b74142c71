"""Why a pass could not act: the API server's refusal of a change, as a condition.

A 403 (RBAC) or 422 (a child the API refuses) does not go away by retrying; without a
condition the status never says why nothing happens. Other errors (conflicts, 5xx,
timeouts) are transient and only retried.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from modelrollout.api.v1alpha1 import Condition, ConditionType
from modelrollout.rollout import conditions

REASONS: Final = {400: "BadRequest", 403: "Forbidden", 422: "Invalid"}
MAX_DETAIL: Final = 1024


@dataclass(frozen=True)
class Refusal:
    code: int
    reason: str  # CamelCase, from REASONS
    detail: str  # the API server's own message, one line


def of(code: int, body: str | None) -> Refusal | None:
    """The refusal an API error stands for; None for errors that a retry may cure."""
    reason = REASONS.get(code)
    if reason is None:
        return None
    detail = (body or "").strip()
    try:
        parsed = json.loads(detail)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        detail = parsed["message"]
    detail = " ".join(detail.split())[:MAX_DETAIL] or f"{code} {reason}"
    return Refusal(code, reason, detail)


def message(refusal: Refusal) -> str:
    return f"the API server refused a change ({refusal.code} {refusal.reason}): {refusal.detail}"


def reconciled(
    current: Sequence[Condition], refusal: Refusal | None, *, now: datetime, generation: int | None
) -> list[Condition] | None:
    """The conditions after a pass, or None when the Reconciled condition already says it.

    A refusal sets Reconciled=False with the API's reason; the next pass that applies
    everything sets it back to True. A resource never refused carries no such condition,
    so a healthy pass writes nothing.
    """
    found = conditions.find(current, ConditionType.RECONCILED)
    if refusal is None:
        if found is None or found.status == conditions.TRUE:
            return None
        status, reason, text = conditions.TRUE, "Applied", "the last pass applied every change"
    else:
        status, reason, text = conditions.FALSE, refusal.reason, message(refusal)
        if found is not None and (found.status, found.reason, found.message) == (status, reason, text):
            return None
    return conditions.set_condition(
        current, ConditionType.RECONCILED, status, reason, text, now=now, generation=generation
    )
