"""Today's judge, frozen for comparison: each interval's single value of the last window.

A copy of the rule the analysis used before the statistical judge: the canary's value
of one `window` (p99 by histogram_quantile, error share, accuracy share) against the
absolute bound and, for latency, against stable's value times `maxRatioToStable`.
Inconclusive only below `minSamples` (or `minFeedback`).
"""

from __future__ import annotations

from modelrollout.api.v1alpha1 import Result
from modelrollout.rollout import statistics
from modelrollout.rollout.statistics import Histogram
from modelrollout.rollout.verdicts import Check, Counts, Kind, Verdict


def judge(check: Check, canary: Histogram | Counts, stable: Histogram | Counts | None, ratio: float | None) -> Verdict:
    """`canary`/`stable`: one window's counts. `ratio`: latency's maxRatioToStable."""
    if isinstance(canary, Histogram):
        count = canary.total
        value = statistics.quantile(canary, check.quantile or 0.99) * 1000 if count > 0 else None
    else:
        count = canary.total
        value = canary.share
    if count < check.min_count or value is None:
        return Verdict(check.name, Result.INCONCLUSIVE, value, message=f"{check.name}: {count:g} samples")
    ok = value >= check.bound if check.kind is Kind.ACCURACY else value <= check.bound
    if not ok:
        return Verdict(check.name, Result.FAIL, value, message=f"{check.name}: {value:.4g} breaks the bound")
    if check.kind is Kind.LATENCY and ratio is not None and isinstance(stable, Histogram) and stable.total > 0:
        stable_value = statistics.quantile(stable, check.quantile or 0.99) * 1000
        if stable_value > 0 and value / stable_value > ratio:
            return Verdict(check.name, Result.FAIL, value, stable_value, message=f"{check.name}: ratio above {ratio}")
    return Verdict(check.name, Result.PASS, value, message=f"{check.name}: within")
