"""Check claims against runs: each claim's metrics compared (A vs B), a verdict per metric and per claim.

Pure: the caller supplies the runs of a (variant, dataset) and a dataset's facts, so tests build them directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reprozoo.stats.bootstrap import Interval
from reprozoo.stats.claims import Claim, ClaimsFile
from reprozoo.stats.compare import Comparison, compare
from reprozoo.stats.metrics import MetricDef, Undecidable
from reprozoo.stats.reports import EvalReport
from reprozoo.stats.verdict import INCONCLUSIVE, VERDICTS, claim_verdict, decide, metric_verdict

RunsOf = Callable[[str, str], Sequence[EvalReport]]  # (variant, dataset) → that variant's runs on the dataset


@dataclass(frozen=True)
class MetricOutcome:
    """One metric of a claim: the paper's numbers, ours (None when not compared), and the verdicts."""

    metric: MetricDef
    min_effect: float
    paper_a: float
    paper_b: float
    paper_verdict: str
    ours: Comparison | None
    verdict: str
    note: str = ""

    @property
    def paper_delta(self) -> float:
        """The published A − B (A / B for log scale)."""
        return self.metric.shown_delta(self.paper_a, self.paper_b)

    def to_dict(self) -> dict[str, Any]:
        ours = None
        if self.ours is not None:
            welch = self.ours.welch
            ours = {
                "a": self.ours.a,
                "b": self.ours.b,
                "delta": self.ours.delta,
                "ci": list(self.ours.delta_ci),
                "method": self.ours.difference.method,
                "p_value": self.ours.difference.p_value,
                "welch": None if welch is None else {"ci": [welch.low, welch.high], "p_value": welch.p_value, "method": welch.method},
                "effect_size": self.ours.effect_size,
                "n_samples": self.ours.n_samples,
            }
        return {
            "metric": self.metric.name,
            "column": self.metric.column,
            "better": self.metric.better,
            "scale": self.metric.scale,
            "min_effect": self.min_effect,
            "paper": {"a": self.paper_a, "b": self.paper_b, "delta": self.paper_delta, "verdict": self.paper_verdict},
            "ours": ours,
            "verdict": self.verdict,
            "note": self.note,
        }


@dataclass(frozen=True)
class ClaimOutcome:
    """A checked claim: its verdict with the reason, the paper's own numbers under the same rule, and the runs used."""

    claim: Claim
    verdict: str
    reason: str
    paper_verdict: str
    paper_reason: str
    runs_a: tuple[EvalReport, ...]
    runs_b: tuple[EvalReport, ...]
    metrics: tuple[MetricOutcome, ...]

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in (*self.runs_a, *self.runs_b)]

    def to_dict(self) -> dict[str, Any]:
        claim = self.claim
        return {
            "id": claim.id,
            "quote": claim.quote,
            "note": claim.note,
            "a": claim.a,
            "b": claim.b,
            "dataset": claim.dataset,
            "split": claim.split,
            "direction": claim.direction,
            "require": claim.require,
            "n_metrics": len(claim.metrics),
            "confidence": claim.confidence,
            "published": {"table": claim.published.table, "row_a": claim.published.row_a, "row_b": claim.published.row_b},
            "verdict": self.verdict,
            "reason": self.reason,
            "paper_verdict": self.paper_verdict,
            "paper_reason": self.paper_reason,
            "runs": {
                "a": [{"seed": r.seed, "run_id": r.run_id} for r in self.runs_a],
                "b": [{"seed": r.seed, "run_id": r.run_id} for r in self.runs_b],
            },
            "metrics": [m.to_dict() for m in self.metrics],
        }


def _paper_verdict(claim: Claim, metric: MetricDef) -> str:
    """The claim's rule applied to the published point values (no uncertainty)."""
    shown = metric.shown_delta(claim.published.a[metric.name], claim.published.b[metric.name])
    improvement = metric.sign * metric.decision_units(shown)
    point = Interval(improvement, improvement, improvement, 1.0, "published values")
    return decide(claim.direction, point, metric.decision_units(claim.min_effect[metric.name]))


def check_claim(
    claim: Claim,
    catalogue: Mapping[str, MetricDef],
    runs_a: Sequence[EvalReport],
    runs_b: Sequence[EvalReport],
    facts: Mapping[str, float],
    *,
    resamples: int,
    seed: int,
) -> ClaimOutcome:
    """Compare A and B on every metric of `claim` and decide it; missing runs make it inconclusive."""
    missing = [f"{variant} on {claim.dataset}" for variant, runs in ((claim.a, runs_a), (claim.b, runs_b)) if not runs]
    outcomes = []
    for name in claim.metrics:
        metric = catalogue[name]
        ours, verdict, note = None, INCONCLUSIVE, "missing runs" if missing else ""
        if not missing:
            try:
                ours = compare(metric, runs_a, runs_b, facts, confidence=claim.confidence, resamples=resamples, seed=seed)
                verdict, note = metric_verdict(claim.direction, ours, claim.min_effect[name])
            except Undecidable as exc:
                note = str(exc)
        outcomes.append(
            MetricOutcome(metric, claim.min_effect[name], claim.published.a[name], claim.published.b[name], _paper_verdict(claim, metric), ours, verdict, note)
        )
    paper_verdict, paper_reason = claim_verdict([m.paper_verdict for m in outcomes], claim.require)
    if missing:
        verdict, reason = INCONCLUSIVE, f"missing runs: {', '.join(missing)}"
    else:
        verdict, reason = claim_verdict([m.verdict for m in outcomes], claim.require)
    return ClaimOutcome(claim, verdict, reason, paper_verdict, paper_reason, tuple(runs_a), tuple(runs_b), tuple(outcomes))


def check_claims(claims: ClaimsFile, runs_of: RunsOf, facts_of: Callable[[str], Mapping[str, float]]) -> list[ClaimOutcome]:
    """Check every claim of a claims file; `runs_of(variant, dataset)` and `facts_of(dataset)` supply the inputs."""
    return [
        check_claim(
            claim,
            claims.metrics,
            runs_of(claim.a, claim.dataset),
            runs_of(claim.b, claim.dataset),
            facts_of(claim.dataset),
            resamples=claims.resamples,
            seed=claims.seed,
        )
        for claim in claims.claims
    ]


def verdict_counts(outcomes: Sequence[ClaimOutcome]) -> dict[str, int]:
    """Number of claims per verdict (every verdict present, zeros included)."""
    return {verdict: sum(o.verdict == verdict for o in outcomes) for verdict in VERDICTS}
