"""What the pure core needs, read from the watched children: small views and the states made of them.

The operator watches its own children (and the nodes) once for all ModelDeployments;
each watched body is boiled down here to a small frozen view, which is what the
indexes keep, what a change is detected on, and what a pass turns into the core's
`JobState` and `DeploymentState`. Nothing in this module calls the API.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from modelrollout import names
from modelrollout.api.optimization import OptimizationReport
from modelrollout.builders import common
from modelrollout.pools.profiles import NodeView
from modelrollout.rollout.observations import DeploymentState, JobPhase, JobState

Body = Mapping[str, Any]
Owner = tuple[str, str]  # (namespace, ModelDeployment name)
# Kinds whose spec changes move metadata.generation; the others are compared by resourceVersion.
BY_GENERATION = frozenset({"Deployment", "HTTPRoute"})


@dataclass(frozen=True)
class DeploymentView:
    name: str
    version: str
    revision: str
    replicas: int
    ready: int
    updated: bool
    selector: tuple[tuple[str, str], ...]
    marker: str  # metadata.generation: moves when someone else changes the spec
    # Whether our applied configuration still holds spec.replicas (see `replicas_applied`).
    replicas_owned: bool = True


@dataclass(frozen=True)
class JobView:
    name: str
    complete: bool
    failed: str | None  # "reason: message" of a Failed condition, else None


@dataclass(frozen=True)
class PodView:
    name: str
    labels: tuple[tuple[str, str], ...]
    created: str
    terminated: tuple[tuple[str | None, int | None], ...] = ()  # (message, exit code) per container
    unschedulable: str = ""  # the scheduler's message while the pod cannot be placed

    def matches(self, selector: Mapping[str, str]) -> bool:
        own = dict(self.labels)
        return all(own.get(k) == v for k, v in selector.items())


@dataclass(frozen=True)
class ChildView:
    """A child the operator only writes (Service, HTTPRoute): is it there, and unchanged?"""

    name: str
    marker: str


@dataclass(frozen=True)
class AutoscalerView:
    """A HorizontalPodAutoscaler, reduced to the Deployment it scales ("" for any other kind)."""

    name: str
    target: str


@dataclass(frozen=True)
class Seen:
    """Everything watched about one ModelDeployment's children, for one pass."""

    deployments: Mapping[str, DeploymentView] = field(default_factory=dict)
    jobs: Mapping[str, JobView] = field(default_factory=dict)
    pods: tuple[PodView, ...] = ()
    services: Mapping[str, ChildView] = field(default_factory=dict)
    routes: Mapping[str, ChildView] = field(default_factory=dict)
    nodes: tuple[NodeView, ...] = ()
    autoscalers: Mapping[str, str] = field(default_factory=dict)  # role -> HPA targeting its Deployment


def owner_of(body: Body) -> Owner | None:
    meta = body.get("metadata") or {}
    instance = (meta.get("labels") or {}).get(names.LABEL_INSTANCE)
    namespace = meta.get("namespace")
    return (namespace, instance) if namespace and instance else None


def role_deployments(owner: Owner) -> dict[str, str]:
    """role -> the name of the owner's Deployment in that role."""
    namespace, name = owner
    who = common.Owner(name=name, namespace=namespace, uid="", model="")
    return {role: common.deployment_name(who, role) for role in (names.ROLE_STABLE, names.ROLE_CANARY)}


def parse_report(message: str | None) -> tuple[OptimizationReport | None, str]:
    """The report in a termination message, or None and the message's last line."""
    if not message:
        return None, ""
    try:
        return OptimizationReport.model_validate(json.loads(message)), ""
    except (ValueError, ValidationError):
        lines = [line for line in message.strip().splitlines() if line.strip()]
        return None, (lines[-1] if lines else "")[:500]


# --- views of watched bodies -------------------------------------------------------------


def deployment_view(body: Body) -> DeploymentView:
    meta, spec, status = body.get("metadata") or {}, body.get("spec") or {}, body.get("status") or {}
    template = (spec.get("template") or {}).get("metadata") or {}
    labels, annotations = template.get("labels") or {}, template.get("annotations") or {}
    desired = spec.get("replicas")
    desired = 1 if desired is None else int(desired)
    generation = int(meta.get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0) >= generation
    updated_replicas = int(status.get("updatedReplicas") or 0)
    ready = int(status.get("readyReplicas") or 0)
    total = int(status.get("replicas") or 0)
    # Rolled out: the controller saw this template, every replica runs it, none of the old is left.
    updated = observed and updated_replicas >= desired and total <= desired
    return DeploymentView(
        name=str(meta.get("name", "")),
        version=labels.get(names.LABEL_VERSION, ""),
        revision=annotations.get(f"{names.GROUP}/revision", ""),
        replicas=desired,
        ready=ready if updated else min(ready, updated_replicas),
        updated=updated,
        selector=tuple(sorted(((spec.get("selector") or {}).get("matchLabels") or {}).items())),
        marker=str(generation),
        replicas_owned=replicas_applied(meta.get("managedFields") or []),
    )


def replicas_applied(managed: Iterable[Mapping[str, Any]]) -> bool:
    """Whether the operator's applied configuration holds spec.replicas.

    Left out of the next apply while it is, the field would be removed and fall back
    to its default of 1; see `applying.hand_over_replicas`.
    """
    for entry in managed:
        if entry.get("manager") == names.MANAGER and entry.get("operation") == "Apply":
            return "f:replicas" in ((entry.get("fieldsV1") or {}).get("f:spec") or {})
    return False


def autoscaler_view(body: Body) -> AutoscalerView:
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    group = str(ref.get("apiVersion") or "").partition("/")[0]
    scales_deployment = ref.get("kind") == "Deployment" and group == "apps"
    return AutoscalerView(name=str(meta.get("name", "")), target=str(ref.get("name", "")) if scales_deployment else "")


def job_view(body: Body) -> JobView:
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    true = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
    failed = true.get("Failed")
    return JobView(
        name=str(meta.get("name", "")),
        complete="Complete" in true,
        failed=f"{failed.get('reason', '')}: {failed.get('message') or ''}".strip() if failed else None,
    )


def pod_view(body: Body) -> PodView:
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    terminated = []
    for container in status.get("containerStatuses") or []:
        ended = (container.get("state") or {}).get("terminated")
        if ended is not None:
            terminated.append((ended.get("message"), ended.get("exitCode")))
    unschedulable = ""
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False" and cond.get("message"):
            unschedulable = str(cond["message"])
            break
    return PodView(
        name=str(meta.get("name", "")),
        labels=tuple(sorted((meta.get("labels") or {}).items())),
        created=str(meta.get("creationTimestamp") or ""),
        terminated=tuple(terminated),
        unschedulable=unschedulable,
    )


def child_view(body: Body) -> ChildView:
    meta = body.get("metadata") or {}
    marker = meta.get("generation") if body.get("kind") in BY_GENERATION else meta.get("resourceVersion")
    return ChildView(name=str(meta.get("name", "")), marker=str(marker or ""))


def node_view(body: Body) -> NodeView:
    meta, spec, status = body.get("metadata") or {}, body.get("spec") or {}, body.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    return NodeView(
        name=str(meta.get("name", "")),
        labels=dict(meta.get("labels") or {}),
        taints=[
            {"key": t.get("key"), "value": t.get("value"), "effect": t.get("effect")} for t in spec.get("taints") or []
        ],
        allocatable=dict(status.get("allocatable") or {}),
        ready=conditions.get("Ready") == "True",
        unschedulable=bool(spec.get("unschedulable")),
    )


# --- the core's states, made of the views ------------------------------------------------


def _pods_of_job(pods: Iterable[PodView], job: str) -> list[PodView]:
    mine = [p for p in pods if p.matches({"job-name": job})]
    return sorted(mine, key=lambda p: p.created, reverse=True)  # newest first


def job_state(seen: Seen, name: str, attempt: int = 1) -> JobState:
    job = seen.jobs.get(name)
    if job is None:
        return JobState(JobPhase.ABSENT, name=name, attempt=attempt)
    pods = _pods_of_job(seen.pods, name)
    if job.complete or job.failed is not None:
        report, fallback = None, ""
        for message, _code in (t for pod in pods for t in pod.terminated):
            report, fallback = parse_report(message)
            if report is not None or fallback:
                break
        if job.complete:
            return JobState(JobPhase.SUCCEEDED, name=name, report=report, reason=fallback, attempt=attempt)
        reason = (report.reason if report else "") or fallback or (job.failed or "")
        return JobState(JobPhase.FAILED, name=name, report=report, reason=reason, attempt=attempt)
    pending = next((p.unschedulable for p in pods if p.unschedulable), "")
    return JobState(JobPhase.RUNNING, name=name, reason=pending, attempt=attempt)


def deployment_state(seen: Seen, name: str) -> DeploymentState | None:
    dep = seen.deployments.get(name)
    if dep is None:
        return None
    pending = ""
    if dep.ready < dep.replicas:
        selector = dict(dep.selector)
        pending = next((p.unschedulable for p in seen.pods if p.unschedulable and p.matches(selector)), "")
    return DeploymentState(
        version=dep.version,
        revision=dep.revision,
        replicas=dep.replicas,
        ready=dep.ready,
        updated=dep.updated,
        pending_reason=pending,
    )
