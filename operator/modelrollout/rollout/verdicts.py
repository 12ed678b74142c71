"""Canary analysis verdicts: what each check is and how a step's evidence is judged.

A provider (Prometheus, or a simulation) turns each `Check` into `Evidence`: for the
built-in SLOs, counts over the whole step so far, for canary and stable over the same
time range; this module turns evidence into verdicts. A verdict rests on an interval at
the analysis' confidence, spent over the step's looks (see `statistics`):

- fail when the interval lies wholly on the wrong side of a bound or tolerance,
- pass when it lies wholly on the right side of every one,
- inconclusive otherwise (the step waits for more evidence), and below the sample floor.

Inconclusive and error never count as a pass.
"""

from __future__ import annotations

import math
import operator as op
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from modelrollout.api import v1alpha1
from modelrollout.api.v1alpha1 import IntervalOf, Result
from modelrollout.rollout import statistics
from modelrollout.rollout.statistics import Histogram, Interval

__all__ = ["Result"]

# Worst first: the result of a whole check round is its worst single result.
_SEVERITY = {Result.FAIL: 3, Result.ERROR: 2, Result.INCONCLUSIVE: 1, Result.PASS: 0}


class Kind(StrEnum):
    LATENCY = "latency"
    ERROR_RATE = "errorRate"
    ACCURACY = "accuracy"
    CUSTOM = "custom"


_COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    "<": op.lt,
    "<=": op.le,
    ">": op.gt,
    ">=": op.ge,
    "==": op.eq,
    "!=": op.ne,
}


@dataclass(frozen=True)
class Check:
    """One thing to judge at every look and the rule that judges it."""

    name: str
    kind: Kind
    comparator: str  # the canary's value must satisfy `value <comparator> bound`
    bound: float
    min_count: int  # fewer events than this in the step: inconclusive
    tolerance: float | None = None  # against stable: ratio (latency) or difference (shares)
    query: str | None = None  # custom metrics only
    quantile: float | None = None  # latency only
    confidence: float = 0.99
    against: str = "stable"  # what the tolerance compares with, in words: stable or baseline

    @property
    def alpha(self) -> float:
        return 1.0 - self.confidence


@dataclass(frozen=True)
class Counts:
    """Events of one kind among all events: errors among requests, correct among feedback."""

    hits: float
    total: float

    @property
    def share(self) -> float | None:
        return self.hits / self.total if self.total > 0 else None


@dataclass(frozen=True)
class Evidence:
    """What the provider read for one check over the step so far; `stable_*` is None when not compared."""

    check: str
    latency: Histogram | None = None
    stable_latency: Histogram | None = None
    counts: Counts | None = None
    stable_counts: Counts | None = None
    value: float | None = None  # custom metrics: the query's value now
    error: str | None = None  # the provider could not answer
    reason: str = ""  # why, when a person must act (e.g. PrometheusUnauthorized); "" for a passing outage


@dataclass(frozen=True)
class Verdict:
    check: str
    result: Result
    value: float | None  # canary's estimate
    stable_value: float | None = None
    effect: float | None = None  # ratio or difference to stable
    interval: Interval | None = None  # the one the verdict rests on: see interval_of
    interval_of: IntervalOf | None = None  # the effect's when its verdict decided, else the canary's value's
    samples: float | None = None
    stable_samples: float | None = None
    confidence: float | None = None
    message: str = ""
    floor_met: bool = True  # False: fewer events than the check's floor, or no data
    reason: str = ""  # an error's cause the rollout's condition names (e.g. PrometheusCredentialsMissing)


def parse_condition(condition: str) -> tuple[str, float]:
    """('<=', 0.05) from 'result <= 0.05'."""
    match = re.fullmatch(r"result\s*(<=|>=|==|!=|<|>)\s*(\S+)", condition.strip())
    if not match:
        raise ValueError(f"invalid successCondition {condition!r}: expected 'result <op> <number>'")
    return match.group(1), float(match.group(2))


def checks_for(analysis: v1alpha1.Analysis) -> list[Check]:
    """The checks an analysis spec asks for, in a stable order."""
    checks: list[Check] = []
    slos = analysis.slos
    confidence = analysis.confidence
    against = analysis.compare_with.value
    if slos.latency is not None:
        checks.append(
            Check(
                name="latency",
                kind=Kind.LATENCY,
                comparator="<=",
                bound=slos.latency.max_ms,
                min_count=analysis.min_samples,
                tolerance=slos.latency.max_ratio_to_stable,
                quantile=slos.latency.quantile,
                confidence=confidence,
                against=against,
            )
        )
    if slos.error_rate is not None:
        checks.append(
            Check(
                name="errorRate",
                kind=Kind.ERROR_RATE,
                comparator="<=",
                bound=slos.error_rate.max,
                min_count=analysis.min_samples,
                tolerance=slos.error_rate.max_increase_to_stable,
                confidence=confidence,
                against=against,
            )
        )
    if slos.accuracy is not None:
        checks.append(
            Check(
                name="accuracy",
                kind=Kind.ACCURACY,
                comparator=">=",
                bound=slos.accuracy.min,
                min_count=slos.accuracy.min_feedback,
                tolerance=slos.accuracy.max_drop_to_stable,
                confidence=confidence,
                against=against,
            )
        )
    for metric in analysis.metrics:
        comparator, bound = parse_condition(metric.success_condition)
        checks.append(
            Check(
                name=metric.name,
                kind=Kind.CUSTOM,
                comparator=comparator,
                bound=bound,
                min_count=0,
                query=metric.query,
                confidence=confidence,
            )
        )
    return checks


def without_stable(checks: Sequence[Check]) -> list[Check]:
    """The checks with nothing to compare with (the canary has all traffic): absolute bounds only."""
    return [replace(c, tolerance=None) for c in checks]


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf"
    return f"{value:.3g}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{round(100 * value, 2) + 0.0:.2f}%"


def _span(interval: Interval, fmt: Callable[[float | None], str]) -> str:
    return f"[{fmt(interval.low)}, {fmt(interval.high)}]"


# What each side of an interval means against a limit: `above` the limit is bad for
# upper limits (latency, errors), `below` it for lower limits (accuracy).
def _against(interval: Interval, limit: float, *, bad_above: bool) -> Result:
    if bad_above:
        if interval.low > limit:
            return Result.FAIL
        return Result.PASS if interval.high <= limit else Result.INCONCLUSIVE
    if interval.high < limit:
        return Result.FAIL
    return Result.PASS if interval.low >= limit else Result.INCONCLUSIVE


def _combine(results: Sequence[Result]) -> Result:
    return max(results, key=_SEVERITY.__getitem__)


def _confidence_text(check: Check) -> str:
    return f"{100 * check.confidence:g}% confidence"


def _judge_latency(check: Check, ev: Evidence, look: int, planned: int) -> Verdict:
    assert check.quantile is not None
    q = check.quantile
    label = f"latency p{100 * q:g}"
    canary = ev.latency
    n = canary.total if canary is not None else 0.0
    compared = check.tolerance is not None
    stable = ev.stable_latency if compared else None
    n_stable = stable.total if stable is not None else None
    base = Verdict(check.name, Result.INCONCLUSIVE, None, samples=n, stable_samples=n_stable)
    floor = f"{_fmt(n)} canary requests"
    if compared:
        floor += f", {_fmt(n_stable or 0.0)} {check.against}"
    if canary is None or n < check.min_count or (compared and (stable is None or stable.total < check.min_count)):
        return replace(base, floor_met=False, message=f"{label}: {floor}, fewer than {check.min_count}: inconclusive")
    alpha = statistics.spent(check.alpha, look, planned)
    # The absolute bound uses the canary's interval alone; the ratio splits its budget
    # between the two quantiles, so the ratio's bounds hold at the same level.
    own = statistics.quantile_interval(canary, q, statistics.z_of(alpha))
    point = statistics.quantile(canary, q) * 1000
    results = [_against(own, check.bound / 1000, bad_above=True)]
    ms = Interval(own.low * 1000, own.high * 1000)
    message = (
        f"{label} canary {_fmt(point)} ms {_span(ms, _fmt)} vs max {_fmt(check.bound)} ms: "
        f"{{result}}, {_confidence_text(check)}"
    )
    if stable is None or check.tolerance is None:
        result = results[0]
        verdict = replace(
            base, result=result, value=point, interval=ms, interval_of=IntervalOf.VALUE, confidence=check.confidence
        )
        return replace(verdict, message=message.format(result=result.value))
    z = statistics.z_of(alpha / 2)
    ratio = statistics.ratio_interval(
        statistics.quantile_interval(canary, q, z), statistics.quantile_interval(stable, q, z)
    )
    stable_point = statistics.quantile(stable, q) * 1000
    relative = _against(ratio, check.tolerance, bad_above=True)
    result = _combine([*results, relative])
    effect = point / stable_point if stable_point > 0 else math.inf
    if relative is result:
        side = ">" if relative is Result.FAIL else "<=" if relative is Result.PASS else "vs"
        message = (
            f"{label} canary {_fmt(point)} ms vs {check.against} {_fmt(stable_point)} ms, ratio {_fmt(effect)} "
            f"{_span(ratio, _fmt)} {side} {_fmt(check.tolerance)} tolerated: {{result}}, {_confidence_text(check)}"
        )
    return replace(
        base,
        result=result,
        value=point,
        stable_value=stable_point,
        effect=effect,
        interval=ratio if relative is result else ms,
        interval_of=IntervalOf.EFFECT if relative is result else IntervalOf.VALUE,
        confidence=check.confidence,
        message=message.format(result=result.value),
    )


def _judge_share(check: Check, ev: Evidence, look: int, planned: int) -> Verdict:
    """Error rate (bad above) or accuracy (bad below): Wilson for the bound, Newcombe against stable."""
    bad_above = check.kind is Kind.ERROR_RATE
    label = "error rate" if bad_above else "accuracy"
    unit = "requests" if bad_above else "feedback events"
    canary = ev.counts
    compared = check.tolerance is not None
    stable = ev.stable_counts if compared else None
    n = canary.total if canary is not None else 0.0
    n_stable = stable.total if stable is not None else None
    base = Verdict(check.name, Result.INCONCLUSIVE, None, samples=n, stable_samples=n_stable)
    floor = f"{_fmt(n)} canary {unit}"
    if compared:
        floor += f", {_fmt(n_stable or 0.0)} {check.against}"
    if canary is None or n < check.min_count or (compared and (stable is None or stable.total < check.min_count)):
        return replace(base, floor_met=False, message=f"{label}: {floor}, fewer than {check.min_count}: inconclusive")
    alpha = statistics.spent(check.alpha, look, planned)
    own = statistics.wilson(canary.hits, canary.total, statistics.z_of(alpha))
    absolute = _against(own, check.bound, bad_above=bad_above)
    limit = "max" if bad_above else "min"
    message = (
        f"{label} canary {_pct(canary.share)} {_span(own, _pct)} vs {limit} {_pct(check.bound)}: "
        f"{{result}}, {_confidence_text(check)}"
    )
    if stable is None or check.tolerance is None:
        verdict = replace(
            base,
            result=absolute,
            value=canary.share,
            interval=own,
            interval_of=IntervalOf.VALUE,
            confidence=check.confidence,
        )
        return replace(verdict, message=message.format(result=absolute.value))
    # Both differences are "how much worse the canary is": errors up, accuracy down.
    z = statistics.z_of(alpha)
    if bad_above:
        diff = statistics.difference(canary.hits, canary.total, stable.hits, stable.total, z)
    else:
        diff = statistics.difference(stable.hits, stable.total, canary.hits, canary.total, z)
    relative = _against(diff, check.tolerance, bad_above=True)
    result = _combine([absolute, relative])
    effect = ((canary.share or 0.0) - (stable.share or 0.0)) * (1 if bad_above else -1)
    if relative is result:
        side = ">" if relative is Result.FAIL else "<=" if relative is Result.PASS else "vs"
        what = "increase" if bad_above else "drop"
        message = (
            f"{label} canary {_pct(canary.share)} vs {check.against} {_pct(stable.share)}, {what} {_pct(effect)} "
            f"{_span(diff, _pct)} {side} {_pct(check.tolerance)} tolerated: {{result}}, {_confidence_text(check)}"
        )
    return replace(
        base,
        result=result,
        value=canary.share,
        stable_value=stable.share,
        effect=effect,
        interval=diff if relative is result else own,
        interval_of=IntervalOf.EFFECT if relative is result else IntervalOf.VALUE,
        confidence=check.confidence,
        message=message.format(result=result.value),
    )


def _judge_custom(check: Check, ev: Evidence) -> Verdict:
    value = ev.value
    if value is None or math.isnan(value) or math.isinf(value):
        return Verdict(check.name, Result.INCONCLUSIVE, None, message=f"{check.name}: no data", floor_met=False)
    ok = _COMPARATORS[check.comparator](value, check.bound)
    result = Result.PASS if ok else Result.FAIL
    return Verdict(
        check.name,
        result,
        value,
        message=f"{check.name}: {_fmt(value)} {'within' if ok else 'breaks'} {check.comparator} {_fmt(check.bound)}",
    )


def judge(check: Check, evidence: Evidence, look: int = 1, planned: int = 1) -> Verdict:
    """Pass, fail, inconclusive or error for one check at look `look` (1, 2, ...) of `planned`."""
    if evidence.error is not None:
        return Verdict(
            check.name, Result.ERROR, None, message=f"{check.name}: {evidence.error}", reason=evidence.reason
        )
    if check.kind is Kind.LATENCY:
        return _judge_latency(check, evidence, look, planned)
    if check.kind in {Kind.ERROR_RATE, Kind.ACCURACY}:
        return _judge_share(check, evidence, look, planned)
    return _judge_custom(check, evidence)


def judge_all(checks: Sequence[Check], evidence: Sequence[Evidence], look: int = 1, planned: int = 1) -> list[Verdict]:
    """A verdict per check; a check the provider returned nothing for is an error."""
    by_name = {e.check: e for e in evidence}
    missing = "no evidence returned"
    return [judge(c, by_name.get(c.name, Evidence(check=c.name, error=missing)), look, planned) for c in checks]


def unavailable(checks: Sequence[Check], reason: str, message: str) -> list[Verdict]:
    """Every check an error for one cause that stops them all before a query (e.g. credentials missing)."""
    return [Verdict(c.name, Result.ERROR, None, message=message, floor_met=False, reason=reason) for c in checks]


def overall(verdicts: Sequence[Verdict]) -> Result:
    """The worst result of a round. An empty round proves nothing, so it is inconclusive: the
    API refuses an analysis without checks, and this keeps an older object from promoting."""
    if not verdicts:
        return Result.INCONCLUSIVE
    return _combine([v.result for v in verdicts])


@dataclass(frozen=True)
class Round:
    """What one look asks the provider for: the checks, over which range, at which look of how many."""

    checks: tuple[Check, ...]
    range_seconds: float  # the step so far: canary and stable over this same range
    look: int
    planned: int  # looks the step plans: its pause and longest extension, over the interval
    against: v1alpha1.CompareWith | None = None  # whose series to read beside the canary's; None: nobody's


def compared_with(rollout: v1alpha1.Rollout, status: v1alpha1.ModelDeploymentStatus) -> v1alpha1.CompareWith | None:
    """Whose series the canary is judged against now: none once it has all traffic."""
    if rollout.analysis is None or status.canary_weight >= 100:
        return None
    return rollout.analysis.compare_with


def plan(rollout: v1alpha1.Rollout, status: v1alpha1.ModelDeploymentStatus, now: datetime) -> Round:
    """The round due now. With all traffic on the canary there is no stable to compare with."""
    analysis = rollout.analysis
    if analysis is None:
        raise ValueError("no analysis to plan")
    step = min(status.current_step or 0, len(rollout.steps) - 1)
    pause = rollout.steps[step].pause
    checks = checks_for(analysis)
    against = compared_with(rollout, status)
    if against is None:
        checks = without_stable(checks)
    started = status.step_started_at or now
    horizon = (pause or timedelta(0)) + analysis.max_step_extension
    planned = max(1, math.ceil(horizon / analysis.interval))
    seconds = max(0.0, (now - started).total_seconds())
    return Round(tuple(checks), seconds, status.analysis.step_looks + 1, planned, against)


def floors_met(verdicts: Sequence[Verdict]) -> bool:
    """Every check had enough events to be judged (an inconclusive one then only lacks precision)."""
    return all(v.floor_met for v in verdicts)
