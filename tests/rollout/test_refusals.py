"""A refusal by the API server as the Reconciled condition (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelrollout.api.v1alpha1 import Condition, ConditionType
from modelrollout.rollout import conditions, refusals

NOW = datetime(2026, 1, 1, tzinfo=UTC)
STATUS_BODY = json.dumps({
    "kind": "Status",
    "message": 'deployments.apps "m-stable" is forbidden: exceeded quota: no-deployments,\\n requested: 1',
    "reason": "Forbidden",
    "code": 403,
})  # fmt: skip


@pytest.mark.parametrize("code", [409, 429, 500, 503, 504, 404, 0])
def test_transient_errors_are_not_refusals(code: int) -> None:
    assert refusals.of(code, STATUS_BODY) is None


@pytest.mark.parametrize(("code", "reason"), [(400, "BadRequest"), (403, "Forbidden"), (422, "Invalid")])
def test_refusals_carry_the_api_servers_message_on_one_line(code: int, reason: str) -> None:
    refusal = refusals.of(code, STATUS_BODY)
    assert refusal is not None
    assert refusal.reason == reason
    assert refusal.detail.startswith('deployments.apps "m-stable" is forbidden: exceeded quota')
    assert "\n" not in refusals.message(refusal)


def test_a_body_that_is_not_a_status_is_kept_and_an_empty_one_named() -> None:
    assert refusals.of(403, "plain text\nrefusal") == refusals.Refusal(403, "Forbidden", "plain text refusal")
    assert refusals.of(422, None) == refusals.Refusal(422, "Invalid", "422 Invalid")
    long = refusals.of(403, "x" * 10_000)
    assert long is not None and len(long.detail) == refusals.MAX_DETAIL


def test_never_refused_writes_nothing() -> None:
    assert refusals.reconciled([], None, now=NOW, generation=1) is None


def test_refused_then_applied() -> None:
    refusal = refusals.of(403, STATUS_BODY)
    assert refusal is not None
    refused = refusals.reconciled([], refusal, now=NOW, generation=1)
    assert refused is not None
    found = conditions.find(refused, ConditionType.RECONCILED)
    assert found is not None and (found.status, found.reason) == ("False", "Forbidden")
    assert found.message == refusals.message(refusal)
    # The same refusal again: nothing to write (no status write and no Event per retry).
    assert refusals.reconciled(refused, refusal, now=NOW + timedelta(seconds=5), generation=1) is None
    applied = refusals.reconciled(refused, None, now=NOW + timedelta(seconds=9), generation=2)
    assert applied is not None
    back = conditions.find(applied, ConditionType.RECONCILED)
    assert back is not None and (back.status, back.reason) == ("True", "Applied")
    assert back.last_transition_time == NOW + timedelta(seconds=9)
    assert refusals.reconciled(applied, None, now=NOW, generation=2) is None


def test_other_conditions_are_kept() -> None:
    ready = Condition(type=ConditionType.READY.value, status="True", reason="Serving")
    refused = refusals.reconciled([ready], refusals.of(422, "bad"), now=NOW, generation=1)
    assert refused is not None
    assert conditions.find(refused, ConditionType.READY) == ready


@given(st.sampled_from([400, 403, 422]), st.text(max_size=3000))
def test_any_refusal_fits_the_condition_schema(code: int, body: str) -> None:
    refusal = refusals.of(code, body)
    assert refusal is not None
    changed = refusals.reconciled([], refusal, now=NOW, generation=1)
    assert changed is not None
    (condition,) = changed
    Condition.model_validate(condition.model_dump())  # within the schema's bounds
    assert "\n" not in condition.message and condition.message.strip()
