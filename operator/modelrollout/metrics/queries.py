"""PromQL for each check, built from the names in `modelrollout.names`. Pure strings.

Every query is scoped to one model version through the server's own labels, plus the
operator's configured extra matchers (by default the namespace).
"""

from __future__ import annotations

from dataclasses import dataclass

from modelrollout import names
from modelrollout.rollout.verdicts import Check, Kind


@dataclass(frozen=True)
class Scope:
    """Which series belong to the version being judged."""

    namespace: str
    name: str
    model: str
    window: str  # PromQL range, e.g. "1m"
    extra: str = ""  # extra matchers, already formatted (e.g. namespace="ml")

    def selector(self, version: str, *more: str) -> str:
        parts = [f'model="{self.model}"', f'version="{version}"']
        if self.extra:
            parts.append(self.extra)
        parts += list(more)
        return "{" + ", ".join(parts) + "}"


@dataclass(frozen=True)
class QueryPair:
    """The value query and the query counting the events behind it."""

    value: str
    count: str | None


def latency(scope: Scope, version: str, quantile: float) -> QueryPair:
    sel = scope.selector(version)
    return QueryPair(
        value=(
            f"1000 * histogram_quantile({quantile}, "
            f"sum by (le) (rate({names.METRIC_REQUEST_DURATION}_bucket{sel}[{scope.window}])))"
        ),
        count=requests(scope, version),
    )


def requests(scope: Scope, version: str) -> str:
    return f"sum(increase({names.METRIC_REQUESTS}{scope.selector(version)}[{scope.window}]))"


def error_rate(scope: Scope, version: str) -> QueryPair:
    errors = scope.selector(version, f'{names.LABEL_CODE}=~"5.."')
    return QueryPair(
        value=(
            f"(sum(rate({names.METRIC_REQUESTS}{errors}[{scope.window}])) or vector(0)) / "
            f"sum(rate({names.METRIC_REQUESTS}{scope.selector(version)}[{scope.window}]))"
        ),
        count=requests(scope, version),
    )


def accuracy(scope: Scope, version: str) -> QueryPair:
    correct = scope.selector(version, f'{names.LABEL_CORRECT}="true"')
    total = f"sum(increase({names.METRIC_FEEDBACK}{scope.selector(version)}[{scope.window}]))"
    return QueryPair(
        value=f"(sum(increase({names.METRIC_FEEDBACK}{correct}[{scope.window}])) or vector(0)) / {total}",
        count=total,
    )


def custom(scope: Scope, version: str, template: str) -> QueryPair:
    filled = (
        template.replace("{{version}}", version)
        .replace("{{model}}", scope.model)
        .replace("{{namespace}}", scope.namespace)
        .replace("{{name}}", scope.name)
        .replace("{{window}}", scope.window)
    )
    return QueryPair(value=filled, count=None)


def for_check(check: Check, scope: Scope, version: str) -> QueryPair:
    if check.kind is Kind.LATENCY:
        assert check.quantile is not None
        return latency(scope, version, check.quantile)
    if check.kind is Kind.ERROR_RATE:
        return error_rate(scope, version)
    if check.kind is Kind.ACCURACY:
        return accuracy(scope, version)
    assert check.query is not None
    return custom(scope, version, check.query)
