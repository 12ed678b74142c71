"""PromQL for each check, built from the names in `modelrollout.names`. Pure strings.

Every query is scoped to one side of the rollout (canary, and stable or baseline) through the
server's own labels, the role first: a spec change that keeps `model.version` still
measures the two apart. The operator's configured extra matchers (by default the
namespace) narrow it further. The built-in SLOs read counts over the step so far
(`increase(...[<range>])`), for both sides over the same range, so a verdict rests on
the whole step's evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelrollout import names
from modelrollout.api.v1alpha1 import CompareWith
from modelrollout.rollout.verdicts import Check, Kind


@dataclass(frozen=True)
class Side:
    """One side of the comparison: the role its pods serve and the version they run."""

    role: str
    version: str


@dataclass(frozen=True)
class Scope:
    """Which series belong to the rollout being judged."""

    namespace: str
    name: str
    model: str
    window: str  # {{window}} of custom metrics, e.g. "1m"
    extra: str = ""  # extra matchers, already formatted (e.g. namespace="ml")

    def selector(self, side: Side, *more: str) -> str:
        parts = [f'model="{self.model}"', f'role="{side.role}"', f'version="{side.version}"']
        if self.extra:
            parts.append(self.extra)
        parts += list(more)
        return "{" + ", ".join(parts) + "}"


def compared_side(against: CompareWith | None, stable_version: str | None) -> Side | None:
    """The side the canary is judged against: the stable pods, or the baseline's (which run
    the stable version); None when nothing is compared or there is no stable version."""
    if against is None or stable_version is None:
        return None
    role = names.ROLE_BASELINE if against is CompareWith.BASELINE else names.ROLE_STABLE
    return Side(role, stable_version)


def range_of(seconds: float) -> str:
    """A PromQL range covering the step so far (whole seconds, at least one)."""
    return f"{max(1, int(seconds))}s"


def latency_buckets(scope: Scope, side: Side, seconds: float) -> str:
    sel = scope.selector(side)
    return f"sum by (le) (increase({names.METRIC_REQUEST_DURATION}_bucket{sel}[{range_of(seconds)}]))"


def requests(scope: Scope, side: Side, seconds: float) -> str:
    return f"sum(increase({names.METRIC_REQUESTS}{scope.selector(side)}[{range_of(seconds)}]))"


def errors(scope: Scope, side: Side, seconds: float) -> str:
    sel = scope.selector(side, f'{names.LABEL_CODE}=~"5.."')
    return f"sum(increase({names.METRIC_REQUESTS}{sel}[{range_of(seconds)}])) or vector(0)"


def feedback(scope: Scope, side: Side, seconds: float) -> str:
    return f"sum(increase({names.METRIC_FEEDBACK}{scope.selector(side)}[{range_of(seconds)}]))"


def correct(scope: Scope, side: Side, seconds: float) -> str:
    sel = scope.selector(side, f'{names.LABEL_CORRECT}="true"')
    return f"sum(increase({names.METRIC_FEEDBACK}{sel}[{range_of(seconds)}])) or vector(0)"


def custom(scope: Scope, side: Side, template: str) -> str:
    return (
        template.replace("{{version}}", side.version)
        .replace("{{role}}", side.role)
        .replace("{{model}}", scope.model)
        .replace("{{namespace}}", scope.namespace)
        .replace("{{name}}", scope.name)
        .replace("{{window}}", scope.window)
    )


def for_check(check: Check, scope: Scope, side: Side, seconds: float) -> dict[str, str]:
    """The queries one side of one check needs, by what they read."""
    if check.kind is Kind.LATENCY:
        return {"buckets": latency_buckets(scope, side, seconds)}
    if check.kind is Kind.ERROR_RATE:
        return {"hits": errors(scope, side, seconds), "total": requests(scope, side, seconds)}
    if check.kind is Kind.ACCURACY:
        return {"hits": correct(scope, side, seconds), "total": feedback(scope, side, seconds)}
    assert check.query is not None
    return {"value": custom(scope, side, check.query)}
