"""Decision rules: does an interval support the paper's claim about A vs B?

All rules read the *improvement* of A over B (oriented so that positive favours A) and `min_effect` m ≥ 0 in the
same units (for log-scale metrics, log of the factor):

    better      A beats B         reproduced: CI > 0 and estimate ≥ m      contradicted: CI < 0
    worse       B beats A         (the mirror of `better`)
    not_better  A does not beat B reproduced: CI < m (no material gain)    contradicted: CI > 0 and estimate ≥ m
    equivalent  A ≈ B             reproduced: CI inside (−m, m)            contradicted: CI entirely outside [−m, m]

Anything else is inconclusive. When a per-sample metric has both a bootstrap and a Welch interval, they must agree.
A claim over n metrics with `require` = k is reproduced when ≥ k metrics are, contradicted when fewer than k could
still be (more than n − k contradicted), inconclusive otherwise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from reprozoo.stats.bootstrap import Interval
from reprozoo.stats.compare import Comparison

REPRODUCED, CONTRADICTED, INCONCLUSIVE = "reproduced", "contradicted", "inconclusive"
VERDICTS = (REPRODUCED, CONTRADICTED, INCONCLUSIVE)
DIRECTIONS = ("better", "worse", "not_better", "equivalent")


def decide(direction: str, improvement: Interval, min_effect: float) -> str:
    """The verdict of one interval (oriented: positive favours A) under `direction` with margin `min_effect`."""
    low, high, estimate, m = improvement.low, improvement.high, improvement.estimate, min_effect
    if direction == "worse":
        return decide("better", improvement.scaled(-1.0), m)
    if direction == "better":
        if low > 0 and estimate >= m:
            return REPRODUCED
        return CONTRADICTED if high < 0 else INCONCLUSIVE
    if direction == "not_better":
        if high < m:
            return REPRODUCED
        return CONTRADICTED if low > 0 and estimate >= m else INCONCLUSIVE
    if direction == "equivalent":
        if -m < low and high < m:
            return REPRODUCED
        return CONTRADICTED if low > m or high < -m else INCONCLUSIVE
    raise ValueError(f"unknown direction '{direction}' (known: {', '.join(DIRECTIONS)})")


def metric_verdict(direction: str, comparison: Comparison, min_effect: float) -> tuple[str, str]:
    """(verdict, note) of one compared metric; `min_effect` as the claims file gives it (a factor for log scale)."""
    margin = comparison.metric.decision_units(min_effect)
    verdict = decide(direction, comparison.improvement(comparison.difference), margin)
    if comparison.welch is not None:
        second = decide(direction, comparison.improvement(comparison.welch), margin)
        if second != verdict:
            return INCONCLUSIVE, f"bootstrap says {verdict}, Welch over seeds says {second}"
    return verdict, ""


def claim_verdict(verdicts: Sequence[str], require: int) -> tuple[str, str]:
    """(verdict, reason) of a claim whose metrics got `verdicts`, needing `require` of them reproduced."""
    counts = Counter(verdicts)
    n, won, lost = len(verdicts), counts[REPRODUCED], counts[CONTRADICTED]
    reason = f"{won}/{n} metrics reproduced, {lost} contradicted; needs {require}"
    if won >= require:
        return REPRODUCED, reason
    if n - lost < require:
        return CONTRADICTED, reason
    return INCONCLUSIVE, reason
