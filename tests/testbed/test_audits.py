"""The audit-log reader that proves RBAC from real calls: what counts as a use and a refusal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from e2e.testbed import audits

OPERATOR = audits.service_account_user("modelrollout-system", "modelrollout-operator")


def event(verb: str, resource: str, code: int, *, group: str = "", sub: str = "", user: str = OPERATOR) -> str:
    ref: dict[str, Any] = {"resource": resource, "apiGroup": group}
    if sub:
        ref["subresource"] = sub
    return json.dumps({"user": {"username": user}, "verb": verb, "objectRef": ref, "responseStatus": {"code": code}})


def write(tmp_path: Path, *lines: str) -> Path:
    log = tmp_path / "audit.log"
    log.write_text("\n".join(lines) + "\n")
    return log


def test_a_creating_apply_is_a_create_too(tmp_path: Path) -> None:
    log = write(
        tmp_path,
        event("patch", "deployments", 201, group="apps"),
        event("patch", "services", 200),
    )
    used = audits.used(log, OPERATOR)
    assert audits.Use("apps", "deployments", "create") in used
    assert audits.Use("apps", "deployments", "patch") in used
    # a patch of an existing object is no create
    assert audits.Use("", "services", "create") not in used


def test_refusals_are_found_even_when_the_same_call_also_succeeded(tmp_path: Path) -> None:
    log = write(
        tmp_path,
        event("patch", "modeldeployments", 200, group="modelrollout.io", sub="status"),
        event("patch", "modeldeployments", 403, group="modelrollout.io", sub="status"),
        event("list", "secrets", 403),
    )
    refused = audits.refused(log, OPERATOR)
    assert refused == {
        audits.Use("modelrollout.io", "modeldeployments/status", "patch"),
        audits.Use("", "secrets", "list"),
    }
    assert audits.Use("", "secrets", "list") not in audits.used(log, OPERATOR)


def test_other_users_and_unparsable_lines_are_ignored(tmp_path: Path) -> None:
    log = write(tmp_path, "not json", event("delete", "jobs", 200, group="batch", user="someone-else"), "{}")
    assert audits.used(log, OPERATOR) == set()
    assert audits.refused(log, OPERATOR) == set()


def test_a_role_grants_each_group_resource_and_verb() -> None:
    role = {"rules": [{"apiGroups": ["", "apps"], "resources": ["pods"], "verbs": ["list", "watch"]}]}
    assert audits.granted(role) == {
        audits.Use(group, "pods", verb) for group in ("", "apps") for verb in ("list", "watch")
    }
    assert str(audits.Use("", "pods", "list")) == "core/pods:list"
