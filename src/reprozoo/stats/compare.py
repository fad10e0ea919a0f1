"""One metric, variant A vs variant B, over their runs (seeds): our values, the difference and its intervals.

Per-sample metrics: the paired bootstrap over samples and seeds, plus Welch over seed means when both sides have ≥ 2
seeds. Run-level metrics (one value per seed): Welch only, so they need ≥ 2 seeds a side. Log-scale metrics are
compared as log ratios and shown as ratios.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from reprozoo.stats.bootstrap import Interval, paired_bootstrap, welch
from reprozoo.stats.metrics import MetricDef, Undecidable
from reprozoo.stats.reports import EvalReport, alignment


@dataclass(frozen=True)
class Comparison:
    """Our numbers for one metric.

    a, b: the metric of each variant (mean over seeds; geometric mean for log scale).
    difference: the interval of a − b in the statistic's units (log ratio for log scale): the paired bootstrap for
        per-sample metrics, Welch for run-level ones;
    welch: for per-sample metrics with ≥ 2 seeds a side, Welch's interval over seed means (a second opinion).
    improvement(...) orients an interval so that positive means "A better".
    """

    metric: MetricDef
    a: float
    b: float
    difference: Interval
    welch: Interval | None
    n_samples: int | None
    effect_size: float | None

    def improvement(self, interval: Interval) -> Interval:
        """`interval` oriented so that positive favours A."""
        return interval.scaled(self.metric.sign)

    def _shown(self, value: float) -> float:
        return float(np.exp(value)) if self.metric.scale == "log" else value

    @property
    def delta(self) -> float:
        """A − B as shown (A / B for log scale)."""
        return self._shown(self.difference.estimate)

    @property
    def delta_ci(self) -> tuple[float, float]:
        """The primary interval of `delta`, as shown."""
        return self._shown(self.difference.low), self._shown(self.difference.high)


def compare(
    metric: MetricDef,
    runs_a: Sequence[EvalReport],
    runs_b: Sequence[EvalReport],
    facts: Mapping[str, float],
    *,
    confidence: float,
    resamples: int,
    seed: int,
) -> Comparison:
    """Compare `metric` between the runs of A and of B.

    Args:
        facts: dataset facts for relative thresholds (a report's own facts take precedence).
    Raises:
        Undecidable: misaligned samples, missing values, or too few seeds for a run-level metric.
    """
    if not runs_a or not runs_b:
        raise Undecidable("no runs on one side")
    if metric.per_sample:
        return _compare_samples(metric, runs_a, runs_b, facts, confidence, resamples, seed)
    return _compare_runs(metric, runs_a, runs_b, confidence)


def _compare_samples(metric, runs_a, runs_b, facts, confidence, resamples, seed) -> Comparison:
    runs = [*runs_a, *runs_b]
    rows = [metric.contributions(r.per_sample, {**facts, **r.facts})[index] for r, index in zip(runs, alignment(runs))]
    a, b = np.stack(rows[: len(runs_a)]), np.stack(rows[len(runs_a) :])
    difference = paired_bootstrap(a, b, confidence=confidence, resamples=resamples, seed=seed)
    per_sample_diff = a.mean(axis=0) - b.mean(axis=0)
    spread = per_sample_diff.std(ddof=1) if len(per_sample_diff) > 1 else 0.0
    return Comparison(
        metric=metric,
        a=float(a.mean()),
        b=float(b.mean()),
        difference=difference,
        welch=welch(a.mean(axis=1), b.mean(axis=1), confidence=confidence),
        n_samples=a.shape[1],
        effect_size=float(per_sample_diff.mean() / spread) if spread > 0 else None,  # Cohen's d_z of the paired differences
    )


def _compare_runs(metric, runs_a, runs_b, confidence) -> Comparison:
    a = np.array([metric.run_value(r.metrics) for r in runs_a])
    b = np.array([metric.run_value(r.metrics) for r in runs_b])
    interval = welch(a, b, confidence=confidence)
    if interval is None:
        raise Undecidable(f"{metric.name}: a run-level metric needs ≥ 2 seeds per variant with some variation (have {len(a)} and {len(b)})")
    pooled = np.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
    show = np.exp if metric.scale == "log" else (lambda x: x)
    return Comparison(
        metric=metric,
        a=float(show(a.mean())),
        b=float(show(b.mean())),
        difference=interval,
        welch=None,
        n_samples=None,
        effect_size=float((a.mean() - b.mean()) / pooled) if pooled > 0 else None,  # Cohen's d over seeds
    )
