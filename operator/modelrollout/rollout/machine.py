"""The rollout state machine: (spec, status, observations) -> (next status, actions).

Phases and what moves them on:

    Pending ──new revision──> Optimizing ──Job succeeded──> Deploying
    Optimizing ──Job failed──> Failed                 (stable keeps serving)
    Deploying ──first version ready──> Succeeded      (nothing to compare with)
    Deploying ──canary ready──> Canary(step 0)
    Canary ──step's pause over and analysis passed──> Canary(step+1) ... ──last step──> Promoting
    Canary ──failureLimit failed checks / abort──> RolledBack   (revision remembered)
    Canary ──inconclusiveLimit inconclusive or errored checks / pause annotation──> Paused
    Paused ──a passing check / annotation removed──> Canary
    Canary, Paused ──promote annotation──> Promoting
    Promoting ──stable Deployment runs the new version──> Succeeded
    any ──spec back to the stable revision──> Succeeded (canary cancelled)
    RolledBack, Failed ──retry annotation──> a fresh rollout of the same revision

A pass may only read its arguments; the shell runs it on every tick, so running it
twice on the same inputs returns the same status and actions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Unpack

from modelrollout import names
from modelrollout.api.optimization import Runtime
from modelrollout.api.v1alpha1 import (
    MAX_HISTORY,
    MAX_MEASUREMENTS,
    AnalysisStatus,
    CompareWith,
    ConditionType,
    HistoryEntry,
    Measurement,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    OptimizationStatus,
    Outcome,
    PauseReason,
    Phase,
    StatusChanges,
    VersionRef,
)
from modelrollout.rollout import conditions, steps
from modelrollout.rollout.actions import (
    Action,
    CountRollback,
    EmitEvent,
    EnsureDeployment,
    EnsureOptimizationJob,
    RemoveDeployment,
    SetTraffic,
)
from modelrollout.rollout.observations import DeploymentState, JobPhase, JobState, Observations
from modelrollout.rollout.revisions import revision_of
from modelrollout.rollout.verdicts import Result, Verdict, compared_with, floors_met, overall

IN_PROGRESS: Final = frozenset({Phase.OPTIMIZING, Phase.DEPLOYING, Phase.CANARY, Phase.PAUSED, Phase.PROMOTING})
MAX_REMEMBERED: Final = 20
MAX_MESSAGE: Final = 4096  # status.message's bound in the schema
_TRUTHY: Final = frozenset({"true", "yes", "1", "on"})
_FALSY: Final = frozenset({"", "false", "no", "0", "off"})


@dataclass(frozen=True)
class Decision:
    status: ModelDeploymentStatus
    actions: tuple[Action, ...]
    verdicts: tuple[Verdict, ...] = ()  # judged in this pass, for the operator's metrics


def analysis_due(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> bool:
    """Whether the shell should query the provider before this pass.

    The first check of a step waits one interval after the step began, so that the
    canary has had traffic to measure.
    """
    analysis = spec.rollout.analysis
    if analysis is None or status.phase not in {Phase.CANARY, Phase.PAUSED} or status.canary is None:
        return False
    marks = [t for t in (status.analysis.last_check, status.step_started_at) if t is not None]
    if not marks:
        return True
    return now - max(marks) >= analysis.interval


def optimization_attempt(status: ModelDeploymentStatus, revision: str) -> int:
    """Which attempt at optimizing `revision` the status is on; the shell reads that attempt's Job."""
    opt = status.optimization
    return opt.attempt if opt is not None and opt.revision == revision else 1


def decide(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, obs: Observations) -> Decision:
    """The next status and the actions that make the cluster match it."""
    p = _Pass(spec, status, obs)
    p.handle_controls()
    p.follow_spec()
    p.advance()
    p.autoscaling()
    p.finish()
    return Decision(status=p.s, actions=tuple(p.actions), verdicts=p.verdicts)


def _rolled_out(observed: DeploymentState | None, ref: VersionRef, replicas: int) -> bool:
    """The Deployment runs `ref`'s revision on every replica asked for, all of them ready.

    The revision, not the version string: a spec change that keeps `model.version` (a new
    uri, another optimization) is a new revision that must roll out too.
    """
    return (
        observed is not None and observed.revision == ref.revision and observed.updated and observed.ready >= replicas
    )


def pause_requested(value: str | None) -> bool | None:
    """The pause annotation read as a switch; None for a value that is neither true nor false."""
    text = (value or "").strip().lower()
    if text in _TRUTHY:
        return True
    if text in _FALSY:
        return False
    return None


def _fully_ready(observed: DeploymentState | None, replicas: int) -> bool:
    return observed is not None and observed.updated and observed.ready >= replicas


def _why(observed: DeploymentState | None) -> str:
    """The scheduler's reason when pods are stuck, so they never pend silently."""
    return f" ({observed.pending_reason})" if observed is not None and observed.pending_reason else ""


class _Pass:
    """One reconcile pass. Mutable only inside `decide`, which is what keeps it pure."""

    def __init__(self, spec: ModelDeploymentSpec, status: ModelDeploymentStatus, obs: Observations) -> None:
        self.spec = spec
        self.s = status
        self.obs = obs
        self.now = obs.now
        self.revision = revision_of(spec)
        self.actions: list[Action] = []
        self.verdicts: tuple[Verdict, ...] = ()

    # -- small helpers -----------------------------------------------------------------

    def update(self, **changes: Unpack[StatusChanges]) -> None:
        """A typed change of the status (mypy checks names and types; `finish` validates)."""
        if "phase" in changes and changes["phase"] != self.s.phase:
            changes.setdefault("phase_started_at", self.now)
        if "message" in changes:
            changes["message"] = changes["message"][:MAX_MESSAGE]
        self.s = self.s.model_copy(update=changes)

    def end_rollout(self, phase: Phase, /, **changes: Unpack[StatusChanges]) -> None:
        """The rollout is over, in `phase`: no canary, no step, no pause."""
        ended: StatusChanges = {
            "phase": phase,
            "canary": None,
            "canary_version": "",
            "canary_weight": 0,
            "canary_unready_since": None,
            "current_step": None,
            "pause_reason": PauseReason.NONE,
        }
        ended.update(changes)
        self.update(**ended)

    def event(self, reason: str, message: str, *, warning: bool = False) -> None:
        self.actions.append(EmitEvent("Warning" if warning else "Normal", reason, message))

    def condition(self, type_: ConditionType, status: str, reason: str, message: str = "") -> None:
        self.update(
            conditions=conditions.set_condition(
                self.s.conditions, type_, status, reason, message, now=self.now, generation=self.obs.generation
            )
        )

    def history(self, outcome: Outcome, reason: str, of: VersionRef | tuple[str, str] | None = None) -> None:
        """One entry for the version under way (or `of`), bounded to the latest MAX_HISTORY."""
        if isinstance(of, VersionRef):
            of = (of.version, of.revision)
        version, revision = of or self.under_way()
        entry = HistoryEntry(version=version, revision=revision, outcome=outcome, at=self.now, reason=reason[:1024])
        self.update(history=[*self.s.history, entry][-MAX_HISTORY:])

    def under_way(self) -> tuple[str, str]:
        """(version, revision) of the rollout in the status, even before it has an artifact."""
        if self.s.canary is not None:
            return self.s.canary.version, self.s.canary.revision
        return self.s.canary_version or self.spec.model.version, self.s.target_revision or self.revision

    def control(self, annotation: str) -> str | None:
        """An annotation's value when it was set to a value not acted upon yet."""
        value = self.obs.annotations.get(annotation)
        if not value or self.s.handled_controls.get(annotation) == value:
            return None
        return value

    def handled(self, annotation: str) -> None:
        value = self.obs.annotations[annotation]
        self.update(handled_controls={**self.s.handled_controls, annotation: value})

    def source_ref(self) -> VersionRef:
        model = self.spec.model
        runtime = Runtime.OPENVINO if model.format.value == "openvino" else Runtime.ONNXRUNTIME
        return VersionRef(
            version=model.version, revision=self.revision, runtime=runtime, uri=model.uri, sha256=model.sha256
        )

    def autoscaler(self) -> str:
        """The HPA that owns the stable's replicas, or "" when they are spec.serving.replicas."""
        return self.obs.autoscalers.get(names.ROLE_STABLE, "")

    def stable_replicas(self) -> int | None:
        """What the stable Deployment is applied with: None leaves the count to its HPA."""
        return None if self.autoscaler() else self.spec.serving.replicas

    def stable_count(self) -> int:
        """The replicas the stable should run: the declared ones, or its HPA's as last observed."""
        if self.autoscaler() and self.obs.stable is not None:
            return self.obs.stable.replicas
        return self.spec.serving.replicas

    def split(self, weight: int) -> tuple[int | None, int]:
        router = self.spec.rollout.traffic.router
        if self.autoscaler():
            return None, steps.canary_beside(self.stable_count(), weight, router)
        return steps.replica_split(self.spec.serving.replicas, weight, router)

    def sizes(self, weight: int) -> tuple[int | None, int, int]:
        """(stable, baseline, canary) replicas at a weight; baseline 0 when none is compared with."""
        analysis = self.spec.rollout.analysis
        router = self.spec.rollout.traffic.router
        if analysis is not None and analysis.compare_with is CompareWith.BASELINE:
            return steps.baseline_split(self.spec.serving.replicas, weight, router)
        stable, canary = self.split(weight)
        return stable, 0, canary

    def ensure_baseline(self, replicas: int) -> None:
        """The stable version beside the canary at `replicas`, or no baseline at all."""
        if replicas > 0 and self.s.stable is not None:
            self.actions.append(EnsureDeployment(names.ROLE_BASELINE, self.s.stable, replicas))
        else:
            self.drop_baseline()

    def drop_baseline(self) -> None:
        if self.obs.baseline is not None:
            self.actions.append(RemoveDeployment(names.ROLE_BASELINE))

    def traffic(self, weight: int, baseline_replicas: int) -> SetTraffic:
        return SetTraffic(weight, weight if baseline_replicas > 0 else 0)

    # -- day-2 controls ----------------------------------------------------------------

    def handle_controls(self) -> None:
        if self.control(names.ANNOTATION_RETRY) is not None:
            self.handled(names.ANNOTATION_RETRY)
            if self.revision in self.s.rolled_back_revisions or self.s.phase in {Phase.FAILED, Phase.ROLLED_BACK}:
                self.update(
                    rolled_back_revisions=[r for r in self.s.rolled_back_revisions if r != self.revision],
                    target_revision="",  # forget it, so follow_spec starts it afresh
                )
                self.event("RetryRequested", f"retrying version {self.spec.model.version}")
        if self.control(names.ANNOTATION_ABORT) is not None:
            self.handled(names.ANNOTATION_ABORT)
            if self.s.phase in IN_PROGRESS:
                self.roll_back("Aborted", "aborted by a person (annotation)", outcome=Outcome.ABORTED)
            else:
                self.ignored(names.ANNOTATION_ABORT, f"no rollout is under way (phase {self.s.phase.value})")
        if self.control(names.ANNOTATION_RESUME) is not None:
            self.handled(names.ANNOTATION_RESUME)
            if self.s.phase is Phase.PAUSED and self.s.pause_reason == PauseReason.ANALYSIS_INCONCLUSIVE:
                # A person gives the step more time: its evidence, looks and extension start afresh.
                fresh = {"step_looks": 0, "last_result": None, "last_sufficient": False, "inconclusive_checks": 0}
                self.update(
                    phase=Phase.CANARY,
                    pause_reason=PauseReason.NONE,
                    step_started_at=self.now,
                    analysis=self.s.analysis.model_copy(update=fresh),
                )
                self.event("Resumed", f"resumed by a person at step {(self.s.current_step or 0) + 1}")
        if self.control(names.ANNOTATION_PROMOTE) is not None:
            # A control acts on the phase it was given in: a promote set while a version
            # optimizes or deploys must not skip the analysis of the canary that follows.
            self.handled(names.ANNOTATION_PROMOTE)
            if self.s.phase in {Phase.CANARY, Phase.PAUSED}:
                self.update(phase=Phase.PROMOTING, pause_reason=PauseReason.NONE)
                self.event("PromoteRequested", f"promoting version {self.spec.model.version} to all traffic")
            else:
                self.ignored(names.ANNOTATION_PROMOTE, f"no canary to promote (phase {self.s.phase.value})")

    def ignored(self, annotation: str, why: str) -> None:
        self.event("ControlIgnored", f"{annotation} ignored: {why}", warning=True)

    # -- a new revision in the spec ------------------------------------------------------

    def follow_spec(self) -> None:
        if self.s.target_revision == self.revision:
            return
        version = self.spec.model.version
        stable = self.s.stable
        if stable is not None and stable.revision == self.revision:
            if self.s.phase in IN_PROGRESS:
                self.event("CanaryCancelled", f"spec is back at stable version {stable.version}")
                self.history(Outcome.CANCELLED, "spec back at the stable version")
            self.end_rollout(Phase.SUCCEEDED, target_revision=self.revision)
            return
        if self.revision in self.s.rolled_back_revisions:
            self.update(target_revision=self.revision, phase=Phase.ROLLED_BACK, canary=None, canary_version="")
            return
        if self.s.phase in IN_PROGRESS:
            replaced, _ = self.under_way()
            self.event("CanarySuperseded", f"version {replaced} replaced by {version} before promotion")
            self.history(Outcome.SUPERSEDED, f"replaced by version {version}")
        enabled = self.spec.optimization.enabled
        prior = self.s.optimization
        # Only a retry starts the same revision again after its optimization failed: that
        # is a new attempt with its own Job, since the failed one is kept for its logs.
        attempt = prior.attempt + 1 if prior and prior.revision == self.revision and prior.succeeded is False else 1
        self.update(
            target_revision=self.revision,
            phase=Phase.OPTIMIZING if enabled else Phase.DEPLOYING,
            canary=None if enabled else self.source_ref(),
            canary_version=version,
            canary_weight=0,
            canary_unready_since=None,
            current_step=None,
            step_started_at=None,
            pause_reason=PauseReason.NONE,
            rollout_started_at=self.now,
            analysis=AnalysisStatus(),
            optimization=OptimizationStatus(revision=self.revision, attempt=attempt) if enabled else None,
        )
        if enabled:
            self.condition(ConditionType.OPTIMIZED, conditions.UNKNOWN, "Optimizing", f"optimizing version {version}")
        self.event("RolloutStarted", f"rolling out version {version} (revision {self.revision})")

    # -- one step of the phase machine ---------------------------------------------------

    def advance(self) -> None:
        handlers = {
            Phase.PENDING: self.rest,
            Phase.SUCCEEDED: self.rest,
            Phase.ROLLED_BACK: self.rest,
            Phase.FAILED: self.rest,
            Phase.OPTIMIZING: self.optimizing,
            Phase.DEPLOYING: self.deploying,
            Phase.CANARY: self.canary,
            Phase.PAUSED: self.canary,
            Phase.PROMOTING: self.promoting,
        }
        handlers[self.s.phase]()

    def rest(self) -> None:
        """No rollout under way: stable alone takes all traffic."""
        if self.s.stable is not None:
            self.actions.append(EnsureDeployment(names.ROLE_STABLE, self.s.stable, self.stable_replicas()))
            self.actions.append(SetTraffic(0))
        if self.obs.canary is not None:
            self.actions.append(RemoveDeployment(names.ROLE_CANARY))
        self.drop_baseline()

    def optimizing(self) -> None:
        # Stable alone serves while a version optimizes: a canary of a superseded version
        # is removed and its traffic returned, so no unapproved version answers users.
        self.rest()
        job = self.obs.job
        version = self.spec.model.version
        attempt = optimization_attempt(self.s, self.revision)
        if job.phase is not JobPhase.ABSENT and job.attempt != attempt:
            job = JobState(JobPhase.ABSENT)  # the Job of an earlier, failed attempt
        if job.phase is JobPhase.ABSENT:
            self.actions.append(EnsureOptimizationJob(self.revision, version, attempt))
            self.update(message=f"optimizing version {version}")
            return
        if self.s.optimization is not None and job.name and self.s.optimization.job != job.name:
            self.update(optimization=self.s.optimization.model_copy(update={"job": job.name}))
        if job.phase is JobPhase.RUNNING:
            self.update(message=f"optimizing version {version} in Job {job.name}")
            return
        report = job.report
        if job.phase is JobPhase.FAILED or report is None or not report.succeeded or report.selected is None:
            reason = job.reason or (report.reason if report else "") or "the optimization Job failed without a report"
            self.update(
                phase=Phase.FAILED,
                message=f"optimization of version {version} failed: {reason}",
                optimization=OptimizationStatus(
                    revision=self.revision,
                    attempt=attempt,
                    job=job.name,
                    succeeded=False,
                    reason=reason,
                    candidates=list(report.candidates) if report else [],
                ),
            )
            self.condition(ConditionType.OPTIMIZED, conditions.FALSE, "OptimizationFailed", reason)
            self.event("OptimizationFailed", f"version {version}: {reason}", warning=True)
            self.history(Outcome.FAILED, reason)
            return
        selected = report.selected
        ref = VersionRef(
            version=version,
            revision=self.revision,
            runtime=selected.runtime.value,
            uri=selected.uri,
            sha256=selected.sha256 or None,
        )
        ratio = f", {selected.throughputRatio:.2f}x FP32 throughput" if selected.throughputRatio else ""
        summary = f"{selected.runtime.value} {selected.precision.value} {selected.method.value}{ratio}"
        self.update(
            phase=Phase.DEPLOYING,
            canary=ref,
            optimization=OptimizationStatus(
                revision=self.revision,
                attempt=attempt,
                job=job.name,
                succeeded=True,
                selected=selected,
                candidates=list(report.candidates),
            ),
        )
        self.condition(ConditionType.OPTIMIZED, conditions.TRUE, "Optimized", f"selected {summary}")
        self.event("Optimized", f"version {version}: selected {summary}")

    def deploying(self) -> None:
        ref = self.s.canary
        if ref is None:  # status lost its artifact (edited by hand): optimize again
            self.update(
                phase=Phase.OPTIMIZING if self.spec.optimization.enabled else Phase.DEPLOYING,
                canary=None if self.spec.optimization.enabled else self.source_ref(),
            )
            return
        replicas = self.stable_count()
        if self.s.stable is None:
            # The first version has nothing to compare with: it becomes stable directly.
            self.actions.append(EnsureDeployment(names.ROLE_STABLE, ref, self.stable_replicas()))
            self.actions.append(SetTraffic(0))
            observed = self.obs.stable
            if _rolled_out(observed, ref, replicas):
                self.update(
                    phase=Phase.SUCCEEDED,
                    stable=ref,
                    stable_version=ref.version,
                    canary=None,
                    canary_version="",
                    message=f"version {ref.version} serving",
                )
                self.history(Outcome.DEPLOYED, "first version", ref)
                self.event("Deployed", f"version {ref.version} is stable ({replicas} replicas ready)")
            else:
                ready = observed.ready if observed is not None else 0
                self.update(message=f"deploying version {ref.version}: {ready}/{replicas} ready{_why(observed)}")
            return
        _, baseline_replicas, canary_replicas = self.sizes(steps.weight_of(self.spec.rollout, 0))
        self.actions.append(EnsureDeployment(names.ROLE_STABLE, self.s.stable, self.stable_replicas()))
        # The baseline starts with the canary, so the two are equally fresh when judged.
        self.ensure_baseline(baseline_replicas)
        self.actions.append(EnsureDeployment(names.ROLE_CANARY, ref, canary_replicas))
        self.actions.append(SetTraffic(0))
        observed = self.obs.canary
        baseline_ready = baseline_replicas == 0 or _rolled_out(self.obs.baseline, self.s.stable, baseline_replicas)
        if _rolled_out(observed, ref, canary_replicas) and baseline_ready:
            self.update(canary_unready_since=None)
            self.start_step(0)
            return
        ready = observed.ready if observed is not None else 0
        waiting = f"{ready}/{canary_replicas} ready{_why(observed)}"
        if not baseline_ready:
            seen = self.obs.baseline.ready if self.obs.baseline is not None else 0
            waiting += f", baseline {seen}/{baseline_replicas} ready{_why(self.obs.baseline)}"
        if self.canary_unready_too_long(ready=False):
            self.roll_back(
                "ProgressDeadlineExceeded", f"canary not ready within {self.spec.rollout.progress_deadline}: {waiting}"
            )
            return
        self.update(message=f"deploying canary {ref.version}: {waiting}")

    def canary_unready_too_long(self, *, ready: bool) -> bool:
        """Whether the canary has lacked ready pods for longer than the progress deadline.

        Measured from when it stopped being ready, so a step that scales the canary up
        (briefly not ready) or a long, healthy rollout never trips it.
        """
        if ready:
            self.update(canary_unready_since=None)
            return False
        since = self.s.canary_unready_since or self.now
        self.update(canary_unready_since=since)
        return self.now - since > self.spec.rollout.progress_deadline

    def start_step(self, index: int) -> None:
        weight = steps.weight_of(self.spec.rollout, index)
        total = len(self.spec.rollout.steps)
        assert self.s.canary is not None
        self.update(
            phase=Phase.CANARY,
            current_step=index,
            canary_weight=weight,
            step_started_at=self.now,
            analysis=self.s.analysis.model_copy(
                update={"passed_checks": 0, "step_looks": 0, "last_result": None, "last_sufficient": False}
            ),
            message=f"step {index + 1}/{total}: {weight}% to version {self.s.canary.version}",
        )
        stable_replicas, baseline_replicas, canary_replicas = self.sizes(weight)
        self.actions.append(EnsureDeployment(names.ROLE_STABLE, self.s.stable, stable_replicas))  # type: ignore[arg-type]
        self.ensure_baseline(baseline_replicas)
        self.actions.append(EnsureDeployment(names.ROLE_CANARY, self.s.canary, canary_replicas))
        self.actions.append(self.traffic(weight, baseline_replicas))
        self.event("StepStarted", self.s.message)

    def canary(self) -> None:
        canary, stable, step = self.s.canary, self.s.stable, self.s.current_step
        if canary is None or stable is None or step is None:
            self.update(phase=Phase.DEPLOYING)  # inconsistent status: redeploy the canary
            return
        stable_replicas, baseline_replicas, canary_replicas = self.sizes(self.s.canary_weight)
        self.actions.append(EnsureDeployment(names.ROLE_STABLE, stable, stable_replicas))
        self.ensure_baseline(baseline_replicas)
        self.actions.append(EnsureDeployment(names.ROLE_CANARY, canary, canary_replicas))
        self.actions.append(self.traffic(self.s.canary_weight, baseline_replicas))
        if self.obs.verdicts is not None:
            self.record(self.obs.verdicts)
            if self.s.phase is Phase.ROLLED_BACK:
                return
        if self.canary_unready_too_long(ready=_fully_ready(self.obs.canary, canary_replicas)):
            # A canary that crash-loops or never turns ready ends the rollout, instead of
            # being left running (and paused) forever.
            ready = self.obs.canary.ready if self.obs.canary is not None else 0
            self.roll_back(
                "ProgressDeadlineExceeded",
                f"canary {ready}/{canary_replicas} ready for longer than the progress deadline "
                f"{self.spec.rollout.progress_deadline}{_why(self.obs.canary)}",
            )
            return
        raw = self.obs.annotations.get(names.ANNOTATION_PAUSE)
        paused_by_hand = pause_requested(raw)
        if paused_by_hand is not False:
            # A value that is neither true nor false pauses too: the safe reading of a
            # person's intent, and the message says how it was read.
            if self.s.pause_reason != PauseReason.MANUAL:
                how = "" if paused_by_hand else f" (pause annotation {raw!r} read as true; use true or false)"
                self.update(
                    phase=Phase.PAUSED,
                    pause_reason=PauseReason.MANUAL,
                    message=f"paused by a person at step {step + 1}{how}",
                )
                self.event("Paused", self.s.message, warning=paused_by_hand is None)
            return
        if self.s.pause_reason == PauseReason.MANUAL:
            # Resumed: the step's pause starts over, so a canary is never judged on a pause.
            self.update(phase=Phase.CANARY, pause_reason=PauseReason.NONE, step_started_at=self.now)
            self.event("Resumed", f"resumed at step {step + 1}")
        if self.s.phase is Phase.PAUSED:
            return
        if self.step_complete(step):
            if steps.is_last(self.spec.rollout, step):
                self.update(phase=Phase.PROMOTING, message=f"promoting version {canary.version}")
                self.event("Promoting", self.s.message)
            else:
                self.start_step(step + 1)

    def step_complete(self, step: int) -> bool:
        if not steps.pause_elapsed(self.spec.rollout, step, self.s.step_started_at, self.now):
            return False
        analysis = self.spec.rollout.analysis
        if analysis is None:
            return True
        a = self.s.analysis
        if a.passed_checks >= 1 and a.last_result is Result.PASS:
            return True
        if (
            a.last_result is Result.INCONCLUSIVE
            and a.last_sufficient
            and not steps.is_promotion_gate(self.spec.rollout, step)
        ):
            return True
        # Not conclusive yet: the step runs on for more evidence, up to maxStepExtension.
        if steps.extension_over(self.spec.rollout, step, self.s.step_started_at, self.now, analysis.max_step_extension):
            detail = "; ".join(m.message for m in a.measurements[-8:] if m.step == step and m.at == a.last_check)
            self.update(
                phase=Phase.PAUSED,
                pause_reason=PauseReason.ANALYSIS_INCONCLUSIVE,
                message=f"paused: step {step + 1} still inconclusive after its pause and "
                f"{analysis.max_step_extension} more: {detail or 'no verdict'}",
            )
            self.event("AnalysisInconclusive", self.s.message, warning=True)
        return False

    def record(self, verdicts: tuple[Verdict, ...]) -> None:
        """Fold one look at the step's evidence into the analysis status and act on it."""
        assert self.spec.rollout.analysis is not None and self.s.current_step is not None
        limits = self.spec.rollout.analysis
        self.verdicts = verdicts
        result = overall(verdicts)
        new = [
            Measurement(
                at=self.now,
                step=self.s.current_step,
                check=v.check,
                result=v.result,
                value=v.value,
                stable_value=v.stable_value,
                effect=v.effect,
                low=v.interval.low if v.interval is not None else None,
                high=v.interval.high if v.interval is not None and math.isfinite(v.interval.high) else None,
                interval_of=v.interval_of if v.interval is not None else None,
                samples=v.samples,
                stable_samples=v.stable_samples,
                confidence=v.confidence,
                message=v.message[:1024],
            )
            for v in verdicts
        ]
        a = self.s.analysis
        failed = a.failed_checks + (result is Result.FAIL)
        # Inconclusive is an answer (too little evidence yet: the step waits); only a
        # streak of rounds without an answer pauses here.
        errored = a.inconclusive_checks + 1 if result is Result.ERROR else 0
        passed = a.passed_checks + (result is Result.PASS)
        self.update(
            analysis=AnalysisStatus(
                last_check=self.now,
                last_result=result,
                last_sufficient=floors_met(verdicts),
                failed_checks=failed,
                inconclusive_checks=errored,
                passed_checks=passed,
                step_looks=a.step_looks + (result is not Result.ERROR),
                compared_with=compared_with(self.spec.rollout, self.s),
                measurements=[*a.measurements, *new][-MAX_MEASUREMENTS:],
            )
        )
        detail = "; ".join(dict.fromkeys(v.message for v in verdicts if v.result is result)) or result.value
        healthy = {Result.PASS: conditions.TRUE, Result.FAIL: conditions.FALSE}.get(result, conditions.UNKNOWN)
        reason = f"Check{result.value.capitalize()}"
        causes = {v.reason for v in verdicts if v.result is result}
        if result is Result.ERROR and len(causes) == 1 and "" not in causes:
            # A cause a person must fix (a missing Secret), not a passing outage: say it is unhealthy.
            healthy, reason = conditions.FALSE, causes.pop()
        self.condition(ConditionType.ANALYSIS_HEALTHY, healthy, reason, detail)
        if result is Result.FAIL:
            self.event("CheckFailed", f"{detail} ({failed}/{limits.failure_limit} failures)", warning=True)
            if failed >= limits.failure_limit:
                self.roll_back("AnalysisFailed", detail)
            return
        if result is Result.PASS:
            if self.s.pause_reason == PauseReason.ANALYSIS_INCONCLUSIVE:
                self.update(phase=Phase.CANARY, pause_reason=PauseReason.NONE)
                self.event("Resumed", "analysis is conclusive again")
            return
        if (
            result is Result.ERROR
            and errored >= limits.inconclusive_limit
            and self.s.pause_reason != PauseReason.ANALYSIS_INCONCLUSIVE
        ):
            self.update(
                phase=Phase.PAUSED,
                pause_reason=PauseReason.ANALYSIS_INCONCLUSIVE,
                message=f"paused: {errored} checks in a row without a verdict (Prometheus errors): {detail}",
            )
            self.event("AnalysisInconclusive", self.s.message, warning=True)

    def roll_back(self, reason: str, detail: str, *, outcome: Outcome = Outcome.ROLLED_BACK) -> None:
        version, revision = self.under_way()
        stable = self.s.stable
        self.actions.append(SetTraffic(0))
        if stable is not None:
            self.actions.append(EnsureDeployment(names.ROLE_STABLE, stable, self.stable_replicas()))
        elif self.obs.stable is not None:
            # A first version has no stable to return to: it stops serving altogether.
            self.actions.append(RemoveDeployment(names.ROLE_STABLE))
        self.actions.append(RemoveDeployment(names.ROLE_CANARY))
        self.drop_baseline()
        self.actions.append(CountRollback(reason))
        remembered = [r for r in self.s.rolled_back_revisions if r != self.revision] + [self.revision]
        self.end_rollout(
            Phase.ROLLED_BACK,
            rolled_back_revisions=remembered[-MAX_REMEMBERED:],
            message=f"version {version} rolled back: {detail}"
            + ("" if stable is not None else " (no stable version: nothing serves)"),
        )
        self.history(outcome, detail, (version, revision))
        self.event("RolledBack", f"version {version} rolled back ({reason}): {detail}", warning=True)

    def promoting(self) -> None:
        canary = self.s.canary
        if canary is None:
            self.update(phase=Phase.SUCCEEDED)
            return
        replicas = self.stable_count()
        _, canary_replicas = self.split(self.s.canary_weight)
        # Stable takes the new version while the canary still serves; traffic moves
        # only once the stable Deployment has rolled out.
        self.actions.append(EnsureDeployment(names.ROLE_STABLE, canary, self.stable_replicas()))
        self.actions.append(EnsureDeployment(names.ROLE_CANARY, canary, max(canary_replicas, 1)))
        observed = self.obs.stable
        done = _rolled_out(observed, canary, replicas)
        # Promoted by hand mid-step, the baseline's pods are part of the old version's
        # capacity (replicas router): they go with the canary, once stable has rolled out.
        _, baseline_replicas, _ = self.sizes(self.s.canary_weight)
        self.ensure_baseline(0 if done else baseline_replicas)
        self.actions.append(SetTraffic(100))
        if not done:
            # By revision: pods of the old revision under the same version string are not it.
            ready = observed.ready if observed is not None and observed.revision == canary.revision else 0
            self.update(message=f"promoting version {canary.version}: stable {ready}/{replicas} ready{_why(observed)}")
            return
        self.actions.append(SetTraffic(0))
        self.actions.append(RemoveDeployment(names.ROLE_CANARY))
        self.end_rollout(
            Phase.SUCCEEDED, stable=canary, stable_version=canary.version, message=f"version {canary.version} promoted"
        )
        self.history(Outcome.PROMOTED, "all steps passed", canary)
        self.event("Promoted", f"version {canary.version} is stable")

    # -- conditions and the rest of the status -------------------------------------------

    def finish(self) -> None:
        phase = self.s.phase
        self.update(observed_generation=self.obs.generation)
        self.schedulable(phase)
        stable_ready = self.obs.stable is not None and self.obs.stable.ready >= 1
        if phase is Phase.SUCCEEDED and stable_ready:
            self.condition(ConditionType.READY, conditions.TRUE, "Serving", f"version {self.s.stable_version} serving")
        else:
            self.condition(ConditionType.READY, conditions.FALSE, phase.value, self.s.message)
        self.progressing(phase)
        if phase in {Phase.ROLLED_BACK, Phase.FAILED}:
            self.condition(ConditionType.DEGRADED, conditions.TRUE, phase.value, self.s.message)
        else:
            self.condition(ConditionType.DEGRADED, conditions.FALSE, "AsExpected", "")
        if phase is Phase.PENDING and not self.s.message:
            self.update(message="waiting for the first reconcile")
        # model_copy does not validate: one check of the whole result keeps every bound
        # of the schema (lengths, ranges) true of what the shell will write.
        self.s = ModelDeploymentStatus.model_validate(self.s.model_dump())

    def autoscaling(self) -> None:
        """Say whose the replicas are, once per change: the Autoscaled condition and an Event.

        Never set while no HPA was ever seen, so a rollout without one shows no such condition.
        """
        before = conditions.find(self.s.conditions, ConditionType.AUTOSCALED)
        hpa, canary_hpa = self.autoscaler(), self.obs.autoscalers.get(names.ROLE_CANARY, "")
        if not hpa and not canary_hpa:
            if before is not None and before.status == conditions.TRUE:
                message = "no HorizontalPodAutoscaler: the stable runs spec.serving.replicas again"
                self.condition(ConditionType.AUTOSCALED, conditions.FALSE, "NoAutoscaler", message)
                self.event("AutoscalerGone", message)
            return
        parts = [f"HorizontalPodAutoscaler {hpa} owns the stable's replicas"] if hpa else []
        if canary_hpa:
            # The canary's count is the rollout's: the traffic split (replicas router) or
            # the capacity for its share (gateway-api), so an HPA on it is overruled.
            parts.append(f"HorizontalPodAutoscaler {canary_hpa} targets the canary, whose replicas stay the rollout's")
        message = "; ".join(parts)
        status = conditions.TRUE if hpa else conditions.FALSE
        reason = "HorizontalPodAutoscaler" if hpa else "CanaryNotAutoscaled"
        if before is None or (before.status, before.message) != (status, message):
            self.event("AutoscalerFound" if hpa else "AutoscalerOverruled", message, warning=bool(canary_hpa))
        self.condition(ConditionType.AUTOSCALED, status, reason, message)

    def schedulable(self, phase: Phase) -> None:
        if phase in {Phase.OPTIMIZING, Phase.DEPLOYING} and not self.obs.placement.possible:
            reason = self.obs.placement.reason
            if conditions.find(self.s.conditions, ConditionType.SCHEDULABLE) is None or conditions.is_true(
                self.s.conditions, ConditionType.SCHEDULABLE
            ):
                self.event("NoNodeForPool", reason, warning=True)
            self.condition(ConditionType.SCHEDULABLE, conditions.FALSE, "NoNodeForPool", reason)
            self.update(message=f"waiting: {reason}")
        else:
            self.condition(ConditionType.SCHEDULABLE, conditions.TRUE, "NodesAvailable", "")

    def progressing(self, phase: Phase) -> None:
        if phase not in IN_PROGRESS:
            self.condition(ConditionType.PROGRESSING, conditions.FALSE, phase.value, self.s.message)
            return
        started = self.s.rollout_started_at
        deadline = self.spec.rollout.progress_deadline
        if phase is Phase.PAUSED:
            self.condition(ConditionType.PROGRESSING, conditions.UNKNOWN, "Paused", self.s.message)
        elif started is not None and self.now - started > deadline:
            self.condition(
                ConditionType.PROGRESSING,
                conditions.FALSE,
                "ProgressDeadlineExceeded",
                f"not done after {self.spec.rollout.progress_deadline}: {self.s.message}",
            )
        else:
            self.condition(ConditionType.PROGRESSING, conditions.TRUE, phase.value, self.s.message)
