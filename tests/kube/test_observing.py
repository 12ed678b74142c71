"""Watched bodies boiled down to views, and the core's states made of them."""

from __future__ import annotations

from typing import Any

from modelrollout import names
from modelrollout.kube import observing
from modelrollout.rollout.observations import JobPhase
from tests.rollout.world import report_for

OWNER = {names.LABEL_INSTANCE: "m", names.LABEL_MANAGED_BY: names.MANAGER}


def _pod(name: str, created: str, labels: dict[str, str], **status: Any) -> observing.PodView:
    return observing.pod_view(
        {
            "metadata": {"name": name, "namespace": "ns", "labels": labels, "creationTimestamp": created},
            "status": status,
        }
    )


def test_a_finished_job_reads_its_report_from_the_newest_pod() -> None:
    job = observing.job_view(
        {"metadata": {"name": "m-optimize-r1"}, "status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    )
    report = report_for("8").model_dump_json()
    old = _pod(
        "p0", "2026-01-01T00:00:00Z", {**OWNER, "job-name": "m-optimize-r1"},
        containerStatuses=[{"state": {"terminated": {"message": "killed", "exitCode": 137}}}],
    )  # fmt: skip
    new = _pod(
        "p1", "2026-01-01T00:01:00Z", {**OWNER, "job-name": "m-optimize-r1"},
        containerStatuses=[{"state": {"terminated": {"message": report, "exitCode": 0}}}],
    )  # fmt: skip
    seen = observing.Seen(jobs={job.name: job}, pods=(old, new))
    state = observing.job_state(seen, "m-optimize-r1")
    assert state.phase is JobPhase.SUCCEEDED and state.report is not None and state.report.version == "8"
    assert observing.job_state(seen, "m-optimize-r2").phase is JobPhase.ABSENT


def test_a_failed_job_says_why_and_a_pending_one_says_what_blocks_it() -> None:
    failed = observing.job_view(
        {
            "metadata": {"name": "j"},
            "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]},
        }
    )
    assert observing.job_state(observing.Seen(jobs={"j": failed}), "j").reason == "BackoffLimitExceeded:"
    running = observing.job_view({"metadata": {"name": "j"}, "status": {}})
    stuck = _pod(
        "p", "t", {**OWNER, "job-name": "j"},
        conditions=[{"type": "PodScheduled", "status": "False", "message": "0/3 nodes are available"}],
    )  # fmt: skip
    state = observing.job_state(observing.Seen(jobs={"j": running}, pods=(stuck,)), "j")
    assert state.phase is JobPhase.RUNNING and state.reason == "0/3 nodes are available"


def test_a_deployment_is_ready_only_once_rolled_out_and_reports_unschedulable_pods() -> None:
    body = {
        "metadata": {"name": "m-stable", "generation": 3, "labels": OWNER},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {names.LABEL_INSTANCE: "m", names.LABEL_ROLE: "stable"}},
            "template": {"metadata": {"labels": {names.LABEL_VERSION: "8"}}},
        },
        "status": {"observedGeneration": 2, "readyReplicas": 2, "updatedReplicas": 1, "replicas": 3},
    }
    view = observing.deployment_view(body)
    assert (view.updated, view.ready, view.version, view.marker) == (False, 1, "8", "3")
    stuck = _pod(
        "p", "t", {names.LABEL_INSTANCE: "m", names.LABEL_ROLE: "stable"},
        conditions=[{"type": "PodScheduled", "status": "False", "message": "Insufficient cpu"}],
    )  # fmt: skip
    state = observing.deployment_state(observing.Seen(deployments={view.name: view}, pods=(stuck,)), "m-stable")
    assert state is not None and state.pending_reason == "Insufficient cpu"
    body["status"] = {"observedGeneration": 3, "readyReplicas": 2, "updatedReplicas": 2, "replicas": 2}
    assert observing.deployment_view(body).updated


def test_children_are_compared_by_generation_or_resource_version() -> None:
    meta = {"name": "x", "generation": 4, "resourceVersion": "900"}
    assert observing.child_view({"kind": "Service", "metadata": meta}).marker == "900"
    assert observing.child_view({"kind": "HTTPRoute", "metadata": meta}).marker == "4"
    assert observing.owner_of({"metadata": {"namespace": "ns", "labels": OWNER}}) == ("ns", "m")
    assert observing.owner_of({"metadata": {"namespace": "ns"}}) is None


def _hpa(kind: str = "Deployment", api_version: str = "apps/v1", target: str = "m-stable") -> dict[str, Any]:
    ref = {"kind": kind, "apiVersion": api_version, "name": target}
    return {"metadata": {"name": "web", "namespace": "ns"}, "spec": {"scaleTargetRef": ref, "minReplicas": 3}}


def test_an_hpa_is_seen_by_the_deployment_it_scales() -> None:
    assert observing.autoscaler_view(_hpa()) == observing.AutoscalerView("web", "m-stable")
    # Another kind, or a Deployment of another group, is no Deployment of ours.
    assert observing.autoscaler_view(_hpa(kind="StatefulSet")).target == ""
    assert observing.autoscaler_view(_hpa(api_version="example.com/v1")).target == ""
    roles = observing.role_deployments(("ns", "m"))
    assert roles == {names.ROLE_STABLE: "m-stable", names.ROLE_CANARY: "m-canary"}


def test_whether_our_applied_configuration_still_holds_the_replicas() -> None:
    ours = {"manager": names.MANAGER, "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
    without = {"manager": names.MANAGER, "operation": "Apply", "fieldsV1": {"f:spec": {"f:template": {}}}}
    hpa = {"manager": "kube-controller-manager", "operation": "Update", "subresource": "scale",
           "fieldsV1": {"f:spec": {"f:replicas": {}}}}  # fmt: skip
    assert observing.replicas_applied([hpa, ours])
    assert not observing.replicas_applied([hpa, without])
    body = {"metadata": {"name": "m-stable", "generation": 2, "managedFields": [hpa, without]}, "spec": {"replicas": 5}}
    view = observing.deployment_view(body)
    assert view.replicas == 5 and not view.replicas_owned
