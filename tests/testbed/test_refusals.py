"""What counts as an RBAC refusal in an operator log (lines as the API server and Kopf write them)."""

from __future__ import annotations

from e2e.testbed import operators

ACCOUNT = "system:serviceaccount:modelrollout-system:modelrollout-operator"


def test_a_plain_refusal_is_found() -> None:
    line = f'jobs.batch is forbidden: User "{ACCOUNT}" cannot create resource "jobs" in API group "batch"'
    assert operators.rbac_refusals(f"INFO ok\n{line}\n") == [line[line.index("forbidden") :]]


def test_a_refusal_inside_a_logged_json_body_is_found() -> None:
    body = (
        '{"kind":"Status","status":"Failure","message":"deployments.apps \\"clf-canary\\" is forbidden: '
        f'User \\"{ACCOUNT}\\" cannot delete resource \\"deployments\\" in API group \\"apps\\"","code":403}}'
    )
    found = operators.rbac_refusals(f"[WARNING] reconcile of ns/clf: 403 Forbidden: {body}")
    assert len(found) == 1 and "cannot delete resource" in found[0]


def test_kopfs_warning_is_found() -> None:
    line = "[WARNING ] Not enough permissions to watch for resources: changes (creation/deletion/updates) will not be noticed"
    assert operators.rbac_refusals(line) == [line[line.index("Not enough") :]]


def test_a_403_that_is_not_rbac_is_not_counted() -> None:
    line = 'jobs.batch "x" is forbidden: unable to create new content in namespace t-1 because it is being terminated'
    assert operators.rbac_refusals(line) == []
