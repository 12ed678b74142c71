"""One reconcile pass: read what the core asks for, ask the core, carry out its actions, write status.

Nothing here decides. What to read comes from `rollout.reads.plan`, what to do from
`rollout.machine.decide`, and when to look again from `rollout.schedules.next_due`;
the children come from the watches (`kube.observing.Seen`), never from a LIST.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from modelrollout import names
from modelrollout.api import durations
from modelrollout.api.v1alpha1 import Condition, ModelDeploymentSpec, ModelDeploymentStatus, Phase, Router
from modelrollout.builders import common, deployments, feedbackkeys, httproutes, jobs, services
from modelrollout.handlers import telemetry
from modelrollout.kube import applying, credentials, observing
from modelrollout.kube.clients import Clients
from modelrollout.metrics import connection, queries
from modelrollout.metrics.prometheus import PrometheusProvider
from modelrollout.metrics.providers import Provider
from modelrollout.pools import profiles
from modelrollout.rollout import actions, machine, reads, refusals, schedules, verdicts
from modelrollout.rollout.observations import JobPhase, JobState, Observations, Placement
from modelrollout.settings import OperatorSettings

log = logging.getLogger(__name__)

Body = Mapping[str, Any]
ChildKey = tuple[str, str]  # (kind, name)


def _default_provider(connected: connection.Connection) -> Provider:
    return PrometheusProvider(connected)


@dataclass
class Shell:
    """What a pass needs from outside: clients, settings, the clock, a provider factory.

    `applied` remembers, per ModelDeployment, what was last applied to each child and
    the marker the child had right after, so a pass whose child is still exactly that
    skips the request; a child deleted or changed by someone else is applied again.
    """

    clients: Clients
    settings: OperatorSettings
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    provider_for: Callable[[connection.Connection], Provider] = _default_provider
    applied: dict[observing.Owner, dict[ChildKey, tuple[str, str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    decision: machine.Decision | None
    written: dict[str, Any] | None  # the object after our status patch; None when nothing changed
    due: datetime | None  # the next time-based work (schedules.next_due)
    plan: reads.Reads | None


def status_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch turning `old` status into `new`; keys we do not own are left alone."""
    owned = {f.alias or n for n, f in ModelDeploymentStatus.model_fields.items()}
    changes = {k: v for k, v in new.items() if old.get(k) != v}
    changes.update({k: None for k in old if k in owned and k not in new})
    return changes


def reconcile(shell: Shell, body: Body, seen: observing.Seen) -> Outcome:
    """One pass; a refusal by the API server is also put in the Reconciled condition."""
    try:
        outcome = _reconcile(shell, body, seen)
    except ApiException as error:
        refusal = refusals.of(error.status or 0, error.body)
        if refusal is not None:
            _write_reconciled(shell, body, refusal)
        raise
    written = _write_reconciled(shell, outcome.written or body, None)
    return dataclasses.replace(outcome, written=written) if written is not None else outcome


def _write_reconciled(shell: Shell, body: Body, refusal: refusals.Refusal | None) -> dict[str, Any] | None:
    meta = body["metadata"]
    try:
        current = [Condition.model_validate(c) for c in (body.get("status") or {}).get("conditions") or []]
    except ValidationError:
        current = []
    changed = refusals.reconciled(current, refusal, now=shell.clock(), generation=meta.get("generation"))
    if changed is None:
        return None
    conditions = [c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in changed]
    try:
        written = applying.write_status(shell.clients, meta["namespace"], meta["name"], {"conditions": conditions})
    except ApiException as error:  # the status itself refused: the log is all that is left
        log.warning(
            "could not record the refusal on %s/%s: %s", meta["namespace"], meta["name"], describe_api_error(error)
        )
        return None
    if refusal is not None:
        try:
            _emit(shell, body, actions.EmitEvent("Warning", "Refused", refusals.message(refusal)))
        except ApiException as error:
            log.warning("could not post the refusal Event: %s", describe_api_error(error))
    return written


def _reconcile(shell: Shell, body: Body, seen: observing.Seen) -> Outcome:
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
        return _invalid(shell, body, f"invalid spec: {err.errors()[0]['loc']}: {err.errors()[0]['msg']}")

    owner = common.Owner.from_body(body)
    plan = reads.plan(spec, status, now)
    profile, placement = _profile(shell, spec, plan, seen)
    job = JobState(JobPhase.ABSENT)
    if plan.job_revision is not None:
        job = observing.job_state(seen, common.job_name(owner, plan.job_revision, plan.job_attempt), plan.job_attempt)
    obs = Observations(
        now=now,
        generation=int(meta.get("generation") or 0),
        annotations=dict(meta.get("annotations") or {}),
        job=job,
        stable=observing.deployment_state(seen, common.deployment_name(owner, names.ROLE_STABLE)),
        canary=observing.deployment_state(seen, common.deployment_name(owner, names.ROLE_CANARY)),
        baseline=observing.deployment_state(seen, common.deployment_name(owner, names.ROLE_BASELINE)),
        placement=placement,
        verdicts=_analyse(shell, spec, status, namespace, name, now) if plan.analysis else None,
        autoscalers=seen.autoscalers,
    )
    decision = machine.decide(spec, status, obs)
    _carry_out(shell, owner, spec, profile, decision, seen)
    written = _write_status(shell, body, old_status, decision.status)
    _record(spec, status, decision, job, namespace, name, now, started)
    return Outcome(decision, written, schedules.next_due(spec, decision.status, now), plan)


def _invalid(shell: Shell, body: Body, message: str) -> Outcome:
    meta = body["metadata"]
    old = body.get("status") or {}
    written = None
    if old.get("message") != message:
        changes = {"message": message, "observedGeneration": meta.get("generation")}
        written = applying.write_status(shell.clients, meta["namespace"], meta["name"], changes)
        _emit(shell, body, actions.EmitEvent("Warning", "InvalidSpec", message))
    return Outcome(None, written, None, None)


def _profile(
    shell: Shell, spec: ModelDeploymentSpec, plan: reads.Reads, seen: observing.Seen
) -> tuple[profiles.Profile | None, Placement]:
    try:
        profile = profiles.select(shell.settings.profiles(), spec.serving)
    except profiles.UnknownPool as err:
        return None, Placement(False, str(err))
    if not plan.placement:
        return profile, Placement()
    return profile, profiles.placement(profile, seen.nodes)


def _analyse(
    shell: Shell, spec: ModelDeploymentSpec, status: ModelDeploymentStatus, namespace: str, name: str, now: datetime
) -> tuple[verdicts.Verdict, ...] | None:
    """This pass's checks, judged: the one call into the metrics provider."""
    analysis = spec.rollout.analysis
    if analysis is None or status.canary is None:
        return None
    round_ = verdicts.plan(spec.rollout, status, now)
    prometheus = analysis.prometheus
    found = credentials.read(shell.clients, namespace, connection.references(prometheus))
    connected = connection.resolve(prometheus, namespace, found)
    if isinstance(connected, connection.Unavailable):
        return tuple(verdicts.unavailable(round_.checks, connected.reason, connected.message))
    provider = shell.provider_for(connected)
    scope = queries.Scope(
        namespace=namespace,
        name=name,
        model=spec.model.name,
        window=durations.text(analysis.window),
        extra=shell.settings.analysis_selector.format(namespace=namespace, name=name),
    )
    canary = queries.Side(names.ROLE_CANARY, status.canary.version)
    against = queries.compared_side(round_.against, status.stable.version if status.stable else None)
    evidence = provider.measure(round_, scope, canary, against)
    return tuple(verdicts.judge_all(round_.checks, evidence, round_.look, round_.planned))


def _write_status(
    shell: Shell, body: Body, old: Mapping[str, Any], new: ModelDeploymentStatus
) -> dict[str, Any] | None:
    changes = status_changes(old, new.model_dump(mode="json", by_alias=True, exclude_none=True))
    if not changes:
        return None
    meta = body["metadata"]
    return applying.write_status(shell.clients, meta["namespace"], meta["name"], changes)


def _record(
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    decision: machine.Decision,
    job: JobState,
    namespace: str,
    name: str,
    now: datetime,
    started: float,
) -> None:
    analysis = spec.rollout.analysis
    slo_names = [c.name for c in verdicts.checks_for(analysis)] if analysis is not None else []
    telemetry.start(namespace, name, slo_names)
    telemetry.record_status(namespace, name, decision.status, now, spec.rollout.progress_deadline.total_seconds())
    telemetry.record_verdicts(namespace, name, decision.verdicts)
    if status.phase is Phase.OPTIMIZING and decision.status.phase is not Phase.OPTIMIZING:
        succeeded = decision.status.phase is not Phase.FAILED
        telemetry.OPTIMIZATIONS.labels(namespace, name, "succeeded" if succeeded else "failed").inc()
        report = job.report
        if report is not None and report.durationSeconds is not None:
            telemetry.OPTIMIZATION.labels(namespace, name).observe(report.durationSeconds)
    telemetry.RECONCILE.labels(namespace, name).observe(time.monotonic() - started)


def _carry_out(
    shell: Shell,
    owner: common.Owner,
    spec: ModelDeploymentSpec,
    profile: profiles.Profile | None,
    decision: machine.Decision,
    seen: observing.Seen,
) -> None:
    if profile is None:  # nowhere to run anything: only say so
        for action in decision.actions:
            if isinstance(action, actions.EmitEvent):
                _emit(shell, owner, action)
        return
    if any(isinstance(a, actions.EnsureDeployment) for a in decision.actions):
        # The Services front whatever Deployments run, so they are ensured with them.
        for svc in services.all_services(owner, shell.settings):
            _apply_child(shell, owner, svc, seen.services)
    for action in decision.actions:
        _carry_out_one(shell, owner, spec, profile, action, seen)


def _carry_out_one(
    shell: Shell,
    owner: common.Owner,
    spec: ModelDeploymentSpec,
    profile: profiles.Profile,
    action: actions.Action,
    seen: observing.Seen,
) -> None:
    match action:
        case actions.EnsureOptimizationJob():
            job = jobs.optimization_job(owner, spec, action.revision, profile, shell.settings, action.attempt)
            if job["metadata"]["name"] not in seen.jobs and applying.create_job(shell.clients, job):
                log.info("created optimization Job %s", job["metadata"]["name"])
        case actions.EnsureDeployment():
            built = deployments.server_deployment(
                owner, spec, action.role, action.ref, action.replicas, profile, shell.settings
            )
            if not _unchanged(shell, owner, built, seen.deployments):
                _ensure_feedback_key(shell, owner)
                _apply(shell, owner, built, seen.deployments)
        case actions.RemoveDeployment():
            name = common.deployment_name(owner, action.role)
            if name in seen.deployments:
                applying.delete_deployment(shell.clients, owner.namespace, name)
        case actions.SetTraffic():
            gateway = spec.rollout.traffic.gateway
            if spec.rollout.traffic.router is Router.GATEWAY_API and gateway is not None:
                route = httproutes.http_route(
                    owner, gateway, action.canary_weight, shell.settings, baseline_weight=action.baseline_weight
                )
                _apply_child(shell, owner, route, seen.routes)
        case actions.EmitEvent():
            _emit(shell, owner, action)
        case actions.CountRollback():
            telemetry.ROLLBACKS.labels(owner.namespace, owner.name, action.reason).inc()


def _apply_child(
    shell: Shell,
    owner: common.Owner,
    obj: dict[str, Any],
    present: Mapping[str, observing.DeploymentView | observing.ChildView],
) -> None:
    """Server-side apply, skipped when the child is exactly what this operator last applied."""
    if not _unchanged(shell, owner, obj, present):
        _apply(shell, owner, obj, present)


def _apply(
    shell: Shell,
    owner: common.Owner,
    obj: dict[str, Any],
    present: Mapping[str, observing.DeploymentView | observing.ChildView],
) -> None:
    """Server-side apply, handing replicas over to an HPA first where the manifest leaves them out."""
    key = (obj["kind"], obj["metadata"]["name"])
    seen = present.get(key[1])
    if isinstance(seen, observing.DeploymentView) and seen.replicas_owned and "replicas" not in obj["spec"]:
        applying.hand_over_replicas(shell.clients, owner.namespace, key[1], seen.replicas)
    remembered = shell.applied.setdefault((owner.namespace, owner.name), {})
    remembered[key] = (_digest(obj), applying.apply(shell.clients, obj))


def _digest(obj: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _unchanged(
    shell: Shell,
    owner: common.Owner,
    obj: dict[str, Any],
    present: Mapping[str, observing.DeploymentView | observing.ChildView],
) -> bool:
    """Whether the child is exactly what this operator last applied, as the watch still shows it."""
    key = (obj["kind"], obj["metadata"]["name"])
    seen = present.get(key[1])
    remembered = shell.applied.get((owner.namespace, owner.name), {})
    return seen is not None and remembered.get(key) == (_digest(obj), seen.marker)


def _ensure_feedback_key(shell: Shell, owner: common.Owner) -> None:
    """Create the feedback key Secret if absent, whenever a server Deployment is applied.

    Tied to Deployment changes rather than every pass: at rest it costs no request, and
    a deleted Secret comes back with the next change (pods meanwhile sign with keys of
    their own, see `feedbackkeys.volume`). Refused by RBAC, serving goes on without it.
    """
    try:
        if applying.create_secret(shell.clients, feedbackkeys.secret(owner, secrets.token_hex(32))):
            log.info("created feedback key Secret %s/%s", owner.namespace, feedbackkeys.secret_name(owner))
    except ApiException as err:
        if err.status != 403:
            raise
        log.warning(
            "cannot create the feedback key Secret %s/%s (%s): feedback tokens verify only on the pod "
            "that issued them; grant 'create' on secrets (docs/operations.md)",
            owner.namespace,
            feedbackkeys.secret_name(owner),
            describe_api_error(err),
        )


def _emit(shell: Shell, owner: common.Owner | Body, event: actions.EmitEvent) -> None:
    if isinstance(owner, common.Owner):
        involved = {"name": owner.name, "namespace": owner.namespace, "uid": owner.uid}
    else:
        meta = owner["metadata"]
        involved = {"name": meta["name"], "namespace": meta["namespace"], "uid": meta.get("uid", "")}
    applying.post_event(shell.clients, involved, event.type, event.reason, event.message, shell.clock())


def forget(shell: Shell, owner: observing.Owner) -> None:
    shell.applied.pop(owner, None)


def describe_api_error(err: ApiException) -> str:
    return f"{err.status} {err.reason}: {(err.body or '')[:300]}"
