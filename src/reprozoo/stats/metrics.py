"""A paper's table column, derived from what an eval report holds.

Three kinds, declared in the paper's claims.yaml (`metrics:`):

    mean: <field>                          the mean of a per-sample value                      (NPE = mean npe)
    percent_below: {<field>: <threshold>}  100 × share of samples below every threshold         (ACC5, ADD5, Proj5)
        relative_to: <fact>                thresholds multiplied by a dataset fact              (ADD: × diameter)
    run_metric: <MLflow metric key>        one value per run (seed), e.g. training throughput   (scale: log → ratios)

The first two are means of per-sample *contributions*, so a resampled set of samples gives a resampled metric; that
is what the paired bootstrap needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

BETTER = ("higher", "lower")
SCALES = ("linear", "log")


class Undecidable(Exception):
    """The inputs cannot support a comparison (missing value, misaligned samples, too few seeds); the message says why."""


@dataclass(frozen=True)
class MetricDef:
    """How one column is computed and which way is better.

    name: the key claims refer to (`add5`); column: the paper's header (`ADD5`); better: `higher` or `lower`.
    Exactly one of `mean`, `percent_below`, `run_metric` is set. `scale: log` (run metrics only) compares ratios.
    """

    name: str
    column: str
    better: str
    mean: str | None = None
    percent_below: Mapping[str, float] = field(default_factory=dict)
    relative_to: str | None = None
    run_metric: str | None = None
    scale: str = "linear"

    @property
    def per_sample(self) -> bool:
        """True when the metric is a mean over test samples (bootstrap-able), False for a run-level value."""
        return self.run_metric is None

    @property
    def sign(self) -> int:
        """+1 when higher is better, -1 when lower is better: multiplies a difference into an improvement."""
        return 1 if self.better == "higher" else -1

    def shown_delta(self, a: float, b: float) -> float:
        """The difference of two values as reports show it: A − B, or A / B for log scale."""
        return a / b if self.scale == "log" else a - b

    def decision_units(self, shown: float) -> float:
        """A shown difference or margin in the units decisions use: itself, or its log for log scale."""
        return float(np.log(shown)) if self.scale == "log" else shown

    def contributions(self, per_sample: Mapping[str, np.ndarray], facts: Mapping[str, float]) -> np.ndarray:
        """Per-sample values whose mean is the metric [N].

        Args:
            per_sample: field → values [N] (an eval report's `per_sample`).
            facts: dataset facts (e.g. `diameter`) for `relative_to`.
        Raises:
            Undecidable: a field or fact is missing, or a mean's values are not finite.
        """
        if self.mean is not None:
            values = _field(per_sample, self.mean)
            if not np.isfinite(values).all():
                raise Undecidable(f"{self.name}: non-finite '{self.mean}' values")
            return values
        scale = 1.0
        if self.relative_to is not None:
            if self.relative_to not in facts:
                raise Undecidable(f"{self.name}: dataset fact '{self.relative_to}' unknown (not in the eval report nor the processed dataset.json)")
            scale = float(facts[self.relative_to])
        inside = np.ones(len(_field(per_sample, next(iter(self.percent_below)))), dtype=bool)
        for name, threshold in self.percent_below.items():
            inside &= _field(per_sample, name) < float(threshold) * scale
        return 100.0 * inside

    def run_value(self, metrics: Mapping[str, float]) -> float:
        """The run-level value from a run's metrics (log-transformed for `scale: log`)."""
        if self.run_metric not in metrics:
            raise Undecidable(f"{self.name}: run metric '{self.run_metric}' not logged")
        value = float(metrics[self.run_metric])
        if self.scale == "log":
            if not value > 0:
                raise Undecidable(f"{self.name}: '{self.run_metric}' = {value} cannot be compared as a ratio")
            return float(np.log(value))
        return value


def _field(per_sample: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    if name not in per_sample:
        raise Undecidable(f"per-sample field '{name}' missing from the eval report")
    return np.asarray(per_sample[name], dtype=float)
