"""One reconcile pass: read the world, ask the pure core, carry out its actions, write status.

Nothing here decides. Every branch is a read, a call or a write; the decisions are in
`modelrollout.rollout.machine.decide`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from modelrollout import names
from modelrollout.api import durations
from modelrollout.api.v1alpha1 import ModelDeploymentSpec, ModelDeploymentStatus, Phase, Router
from modelrollout.builders import common, deployments, httproutes, jobs, services
from modelrollout.handlers import telemetry
from modelrollout.kube import applying, observing
from modelrollout.kube.clients import Clients
from modelrollout.metrics import queries
from modelrollout.metrics.prometheus import PrometheusProvider
from modelrollout.metrics.providers import Provider
from modelrollout.pools import profiles
from modelrollout.rollout import actions, machine, verdicts
from modelrollout.rollout.observations import JobPhase, JobState, Observations, Placement
from modelrollout.rollout.revisions import revision_of
from modelrollout.settings import OperatorSettings

log = logging.getLogger(__name__)

EventSink = Callable[[str, str, str], None]  # (type, reason, message)


class StatusSink(Protocol):
    def __call__(self, changes: Mapping[str, Any]) -> None: ...


def _default_provider(url: str, timeout: float) -> Provider:
    return PrometheusProvider(url, timeout)


@dataclass
class Shell:
    """What a pass needs from outside: clients, settings, the clock, a provider factory."""

    clients: Clients
    settings: OperatorSettings
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    provider_for: Callable[[str, float], Provider] = _default_provider
    _services_ensured: set[str] = field(default_factory=set)


def _status_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch turning `old` status into `new`; keys we do not own are left alone."""
    owned = {f.alias or n for n, f in ModelDeploymentStatus.model_fields.items()}
    changes = {k: v for k, v in new.items() if old.get(k) != v}
    changes.update({k: None for k in old if k in owned and k not in new})
    return changes


def reconcile(
    shell: Shell, body: Mapping[str, Any], write_status: StatusSink, emit: EventSink
) -> machine.Decision | None:
    started = time.monotonic()
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    old_status: Mapping[str, Any] = body.get("status") or {}
    now = shell.clock()
    try:
        spec = ModelDeploymentSpec.model_validate(body["spec"])
        status = ModelDeploymentStatus.model_validate(dict(old_status))
    except ValidationError as err:
        # The CRD schema should have refused this; an older CRD may not have.
        message = f"invalid spec: {err.errors()[0]['loc']}: {err.errors()[0]['msg']}"
        write_status({"message": message, "observedGeneration": meta.get("generation")})
        emit("Warning", "InvalidSpec", message)
        return None

    owner = common.Owner.from_body(body)
    placement = Placement()
    try:
        profile = profiles.select(shell.settings.profiles(), spec.serving)
    except profiles.UnknownPool as err:
        profile = None
        placement = Placement(False, str(err))

    revision = revision_of(spec)
    rolling = status.target_revision != revision or status.phase in {Phase.PENDING, Phase.OPTIMIZING, Phase.DEPLOYING}
    if profile is not None and rolling:
        placement = profiles.placement(profile, observing.nodes(shell.clients))

    attempt = machine.optimization_attempt(status, revision)
    job = JobState(JobPhase.ABSENT, name=common.job_name(owner, revision, attempt), attempt=attempt)
    if spec.optimization.enabled and (rolling or status.phase is Phase.OPTIMIZING):
        job = observing.job_state(shell.clients, namespace, job.name, attempt)

    found: tuple[verdicts.Verdict, ...] | None = None
    analysis = spec.rollout.analysis
    if analysis is not None and machine.analysis_due(spec, status, now) and status.canary is not None:
        provider = shell.provider_for(analysis.prometheus.url, durations.parse(analysis.prometheus.timeout))
        scope = queries.Scope(
            namespace=namespace,
            name=name,
            model=spec.model.name,
            window=analysis.window,
            extra=shell.settings.analysis_selector.format(namespace=namespace, name=name),
        )
        round_ = verdicts.plan(spec.rollout, status, now)
        canary = queries.Side(names.ROLE_CANARY, status.canary.version)
        stable = queries.Side(names.ROLE_STABLE, status.stable.version) if status.stable else None
        evidence = provider.measure(round_, scope, canary, stable)
        found = tuple(verdicts.judge_all(round_.checks, evidence, round_.look, round_.planned))

    obs = Observations(
        now=now,
        generation=int(meta.get("generation") or 0),
        annotations=dict(meta.get("annotations") or {}),
        job=job,
        stable=observing.deployment_state(shell.clients, namespace, common.deployment_name(owner, names.ROLE_STABLE)),
        canary=observing.deployment_state(shell.clients, namespace, common.deployment_name(owner, names.ROLE_CANARY)),
        placement=placement,
        verdicts=found,
    )
    decision = machine.decide(spec, status, obs)
    if profile is not None:
        _carry_out(shell, owner, spec, profile, decision, emit)
    else:
        for action in decision.actions:
            if isinstance(action, actions.EmitEvent):
                emit(action.type, action.reason, action.message)

    new_status = decision.status.model_dump(mode="json", by_alias=True, exclude_none=True)
    changes = _status_changes(old_status, new_status)
    if changes:
        write_status(changes)
    slo_names = [c.name for c in verdicts.checks_for(analysis)] if analysis is not None else []
    telemetry.start(namespace, name, slo_names)
    telemetry.record_status(namespace, name, decision.status, now, durations.parse(spec.rollout.progress_deadline))
    telemetry.record_verdicts(namespace, name, decision.verdicts)
    if status.phase is Phase.OPTIMIZING and decision.status.phase is not Phase.OPTIMIZING:
        succeeded = decision.status.phase is not Phase.FAILED
        telemetry.OPTIMIZATIONS.labels(namespace, name, "succeeded" if succeeded else "failed").inc()
        report = job.report
        if report is not None and report.durationSeconds is not None:
            telemetry.OPTIMIZATION.labels(namespace, name).observe(report.durationSeconds)
    telemetry.RECONCILE.labels(namespace, name).observe(time.monotonic() - started)
    return decision


def _carry_out(
    shell: Shell,
    owner: common.Owner,
    spec: ModelDeploymentSpec,
    profile: profiles.Profile,
    decision: machine.Decision,
    emit: EventSink,
) -> None:
    if owner.uid not in shell._services_ensured and any(
        isinstance(a, actions.EnsureDeployment) for a in decision.actions
    ):
        for svc in services.all_services(owner, shell.settings):
            applying.apply(shell.clients, svc)
        shell._services_ensured.add(owner.uid)
    for action in decision.actions:
        match action:
            case actions.EnsureOptimizationJob():
                job = jobs.optimization_job(owner, spec, action.revision, profile, shell.settings, action.attempt)
                if applying.create_job(shell.clients, job):
                    log.info("created optimization Job %s", job["metadata"]["name"])
            case actions.EnsureDeployment():
                applying.apply(
                    shell.clients,
                    deployments.server_deployment(
                        owner, spec, action.role, action.ref, action.replicas, profile, shell.settings
                    ),
                )
            case actions.RemoveDeployment():
                applying.delete_deployment(shell.clients, owner.namespace, common.deployment_name(owner, action.role))
            case actions.SetTraffic():
                gateway = spec.rollout.traffic.gateway
                if spec.rollout.traffic.router is Router.GATEWAY_API and gateway is not None:
                    applying.apply(
                        shell.clients, httproutes.http_route(owner, gateway, action.canary_weight, shell.settings)
                    )
            case actions.EmitEvent():
                emit(action.type, action.reason, action.message)
            case actions.CountRollback():
                telemetry.ROLLBACKS.labels(owner.namespace, owner.name, action.reason).inc()


def describe_api_error(err: ApiException) -> str:
    return f"{err.status} {err.reason}: {(err.body or '')[:300]}"
