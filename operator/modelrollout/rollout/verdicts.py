"""Canary analysis verdicts: what each check is and how one measured value is judged.

A provider (Prometheus, or a fake in tests) turns each `Check` into a `Sample`; this
module turns samples into results. Inconclusive and error never count as a pass.
"""

from __future__ import annotations

import math
import operator as op
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from modelrollout.api import v1alpha1


class Result(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


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
    """One thing to measure each interval and the rule that judges it."""

    name: str
    kind: Kind
    comparator: str  # the canary's value must satisfy `value <comparator> bound`
    bound: float
    min_count: int  # fewer events than this in the window: inconclusive
    max_ratio_to_stable: float | None = None
    query: str | None = None  # custom metrics only
    quantile: float | None = None  # latency only


@dataclass(frozen=True)
class Sample:
    """What the provider measured for one check."""

    check: str
    value: float | None  # None: no data
    count: float | None = None  # requests (or feedback events) behind the value
    stable_value: float | None = None
    error: str | None = None  # the provider could not answer


@dataclass(frozen=True)
class Verdict:
    check: str
    result: Result
    value: float | None
    stable_value: float | None
    message: str


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
    if slos.latency is not None:
        checks.append(
            Check(
                name="latency",
                kind=Kind.LATENCY,
                comparator="<=",
                bound=slos.latency.max_ms,
                min_count=analysis.min_samples,
                max_ratio_to_stable=slos.latency.max_ratio_to_stable,
                quantile=slos.latency.quantile,
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
            )
        )
    return checks


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def judge(check: Check, sample: Sample) -> Verdict:
    """Pass, fail, inconclusive or error for one sample of one check."""

    def verdict(result: Result, message: str) -> Verdict:
        return Verdict(check.name, result, sample.value, sample.stable_value, message)

    if sample.error is not None:
        return verdict(Result.ERROR, f"{check.name}: provider error: {sample.error}")
    if check.min_count > 0 and (sample.count is None or math.isnan(sample.count) or sample.count < check.min_count):
        seen = 0 if sample.count is None or math.isnan(sample.count) else sample.count
        return verdict(Result.INCONCLUSIVE, f"{check.name}: {_fmt(seen)} samples, fewer than {check.min_count}")
    if sample.value is None or math.isnan(sample.value) or math.isinf(sample.value):
        return verdict(Result.INCONCLUSIVE, f"{check.name}: no data")
    unit = " ms" if check.kind is Kind.LATENCY else ""
    if not _COMPARATORS[check.comparator](sample.value, check.bound):
        return verdict(
            Result.FAIL,
            f"{check.name}: {_fmt(sample.value)}{unit} breaks the bound {check.comparator} {_fmt(check.bound)}{unit}",
        )
    if check.max_ratio_to_stable is not None and sample.stable_value is not None:
        if math.isnan(sample.stable_value) or sample.stable_value <= 0:
            return verdict(Result.INCONCLUSIVE, f"{check.name}: no stable value to compare with")
        ratio = sample.value / sample.stable_value
        if ratio > check.max_ratio_to_stable:
            return verdict(
                Result.FAIL,
                f"{check.name}: {_fmt(ratio)}x stable's {_fmt(sample.stable_value)}{unit}, "
                f"above {_fmt(check.max_ratio_to_stable)}x",
            )
    return verdict(
        Result.PASS, f"{check.name}: {_fmt(sample.value)}{unit} within {check.comparator} {_fmt(check.bound)}{unit}"
    )


def judge_all(checks: Sequence[Check], samples: Sequence[Sample]) -> list[Verdict]:
    """A verdict per check; a check the provider returned nothing for is an error."""
    by_name = {s.check: s for s in samples}
    return [judge(c, by_name.get(c.name, Sample(check=c.name, value=None, error="no sample returned"))) for c in checks]


def overall(verdicts: Sequence[Verdict]) -> Result:
    """The worst result of a round. An empty round proves nothing, so it is inconclusive: the
    API refuses an analysis without checks, and this keeps an older object from promoting."""
    if not verdicts:
        return Result.INCONCLUSIVE
    return max((v.result for v in verdicts), key=_SEVERITY.__getitem__)
