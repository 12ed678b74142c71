"""Reading what the pure core needs: the Job's outcome, the Deployments, the nodes."""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from modelrollout import names
from modelrollout.api.optimization import OptimizationReport
from modelrollout.kube.clients import Clients
from modelrollout.pools.profiles import NodeView
from modelrollout.rollout.observations import DeploymentState, JobPhase, JobState


def _get(fn: Any, **kwargs: Any) -> Any | None:
    try:
        return fn(**kwargs)
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def parse_report(message: str | None) -> tuple[OptimizationReport | None, str]:
    """The report in a termination message, or None and the message's last line."""
    if not message:
        return None, ""
    try:
        return OptimizationReport.model_validate(json.loads(message)), ""
    except (ValueError, ValidationError):
        lines = [line for line in message.strip().splitlines() if line.strip()]
        return None, (lines[-1] if lines else "")[:500]


def _terminated_messages(clients: Clients, namespace: str, job: str) -> list[tuple[str, str | None, int | None]]:
    """(pod name, termination message, exit code) of the Job's pods, newest first."""
    pods = clients.core.list_namespaced_pod(namespace=namespace, label_selector=f"job-name={job}").items
    pods.sort(key=lambda p: p.metadata.creation_timestamp, reverse=True)
    out = []
    for pod in pods:
        for status in (pod.status.container_statuses or []) if pod.status else []:
            terminated = status.state.terminated if status.state else None
            if terminated is not None:
                out.append((pod.metadata.name, terminated.message, terminated.exit_code))
    return out


def _pending_reason(clients: Clients, namespace: str, job: str) -> str:
    return _unschedulable(clients, namespace, f"job-name={job}")


def _unschedulable(clients: Clients, namespace: str, selector: str) -> str:
    """The scheduler's message for the first pod it could not place, if any."""
    pods = clients.core.list_namespaced_pod(namespace=namespace, label_selector=selector).items
    for pod in pods:
        for cond in (pod.status.conditions or []) if pod.status else []:
            if cond.type == "PodScheduled" and cond.status == "False" and cond.message:
                return str(cond.message)
    return ""


def job_state(clients: Clients, namespace: str, name: str, attempt: int = 1) -> JobState:
    job = _get(clients.batch.read_namespaced_job, name=name, namespace=namespace)
    if job is None:
        return JobState(JobPhase.ABSENT, name=name, attempt=attempt)
    status = job.status
    conditions = {c.type: c for c in (status.conditions or []) if c.status == "True"} if status else {}
    if "Complete" in conditions or "Failed" in conditions:
        report, fallback = None, ""
        for _, message, _code in _terminated_messages(clients, namespace, name):
            report, fallback = parse_report(message)
            if report is not None or fallback:
                break
        if "Complete" in conditions:
            return JobState(JobPhase.SUCCEEDED, name=name, report=report, reason=fallback, attempt=attempt)
        failed = conditions["Failed"]
        reason = (report.reason if report else "") or fallback or f"{failed.reason}: {failed.message or ''}".strip()
        return JobState(JobPhase.FAILED, name=name, report=report, reason=reason, attempt=attempt)
    return JobState(JobPhase.RUNNING, name=name, reason=_pending_reason(clients, namespace, name), attempt=attempt)


def deployment_state(clients: Clients, namespace: str, name: str) -> DeploymentState | None:
    dep = _get(clients.apps.read_namespaced_deployment, name=name, namespace=namespace)
    if dep is None:
        return None
    labels = dep.spec.template.metadata.labels or {}
    annotations = dep.spec.template.metadata.annotations or {}
    status = dep.status
    desired = dep.spec.replicas if dep.spec.replicas is not None else 1
    observed = (status.observed_generation or 0) >= (dep.metadata.generation or 0) if status else False
    updated_replicas = (status.updated_replicas or 0) if status else 0
    ready = (status.ready_replicas or 0) if status else 0
    total = (status.replicas or 0) if status else 0
    # Rolled out: the controller saw this template, every replica runs it, none of the old is left.
    updated = observed and updated_replicas >= desired and total <= desired
    ready = ready if updated else min(ready, updated_replicas)
    pending = ""
    if ready < desired:
        selector = ",".join(f"{k}={v}" for k, v in (dep.spec.selector.match_labels or {}).items())
        pending = _unschedulable(clients, namespace, selector)
    return DeploymentState(
        version=labels.get(names.LABEL_VERSION, ""),
        revision=annotations.get(f"{names.GROUP}/revision", ""),
        replicas=desired,
        ready=ready,
        updated=updated,
        pending_reason=pending,
    )


def nodes(clients: Clients) -> list[NodeView]:
    found = []
    for node in clients.core.list_node().items:
        conditions = {c.type: c.status for c in (node.status.conditions or [])} if node.status else {}
        found.append(
            NodeView(
                name=node.metadata.name,
                labels=node.metadata.labels or {},
                taints=[{"key": t.key, "value": t.value, "effect": t.effect} for t in (node.spec.taints or [])],
                allocatable=(node.status.allocatable or {}) if node.status else {},
                ready=conditions.get("Ready") == "True",
                unschedulable=bool(node.spec.unschedulable),
            )
        )
    return found
