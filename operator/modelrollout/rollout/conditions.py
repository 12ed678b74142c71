"""Kubernetes-style conditions as immutable values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from modelrollout.api.v1alpha1 import Condition, ConditionType

TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"
MAX_CONDITION_MESSAGE = 32768  # the schema's bound on a condition's message


def set_condition(
    conditions: Sequence[Condition],
    type_: ConditionType,
    status: str,
    reason: str,
    message: str,
    *,
    now: datetime,
    generation: int | None,
) -> list[Condition]:
    """Conditions with one type set; lastTransitionTime moves only when status changes."""
    previous = find(conditions, type_)
    since = previous.last_transition_time if previous and previous.status == status else now
    updated = Condition(
        type=type_.value,
        status=status,
        reason=reason,
        message=message[:MAX_CONDITION_MESSAGE],
        last_transition_time=since,
        observed_generation=generation,
    )
    others = [c for c in conditions if c.type != type_.value]
    return sorted([*others, updated], key=lambda c: _ORDER.get(c.type, len(_ORDER)))


def find(conditions: Sequence[Condition], type_: ConditionType) -> Condition | None:
    return next((c for c in conditions if c.type == type_.value), None)


def is_true(conditions: Sequence[Condition], type_: ConditionType) -> bool:
    found = find(conditions, type_)
    return found is not None and found.status == TRUE


_ORDER = {t.value: i for i, t in enumerate(ConditionType)}
