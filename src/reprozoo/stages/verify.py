"""verify: a paper's eval reports + its claims.yaml → reports/claims/<paper>.json and .md (each claim reproduced /
contradicted / inconclusive, with intervals, beside the paper's numbers), reports/claims/<paper>-summary.json (verdict
counts, a DVC metrics file), and a `claim.<id>` tag with the verdict on every MLflow run involved.

Runs come from reports/eval/<paper>/<variant>/<dataset>/seed<k>.json; run-level metrics (e.g. training throughput)
from the runs' MLflow metrics; dataset facts (the ADD diameter) from data/processed/<dataset>/dataset.json.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from reprozoo.config import compose, project_root
from reprozoo.stats.check import ClaimOutcome, MetricOutcome, check_claims, verdict_counts
from reprozoo.stats.claims import ClaimsFile, claims_of
from reprozoo.stats.reports import EvalReport, dataset_facts, read_eval_dir
from reprozoo.stats.verdict import CONTRADICTED, REPRODUCED

VERDICT_SCORE = {REPRODUCED: 1, CONTRADICTED: -1}  # summary file: per claim 1 / 0 / -1, so `dvc metrics diff` shows flips


def _with_run_metrics(reports: list[EvalReport], client) -> list[EvalReport]:
    """Add each run's MLflow metrics (training throughput, ...) to its report's metrics; the report's own win."""
    from mlflow.exceptions import MlflowException

    for report in reports:
        try:
            logged = client.get_run(report.run_id).data.metrics
        except MlflowException:
            print(f"reprozoo: warning: run {report.run_id} ({report.path}) is not in the tracking store", file=sys.stderr)
            continue
        report.metrics = {**logged, **report.metrics}
    return reports


def tag_runs(outcomes: Sequence[ClaimOutcome], client) -> None:
    """Tag every run involved in a claim with `claim.<id>` = its verdict."""
    from mlflow.exceptions import MlflowException

    for outcome in outcomes:
        for run_id in outcome.run_ids:
            try:
                client.set_tag(run_id, f"claim.{outcome.claim.id}", outcome.verdict)
            except MlflowException:
                print(f"reprozoo: warning: cannot tag run {run_id} with claim.{outcome.claim.id}", file=sys.stderr)


def verify(paper: str, *, root: Path | None = None) -> dict:
    """Check every claim of `paper`; write the three reports and the run tags; returns the JSON report's content."""
    from mlflow import MlflowClient

    from reprozoo.tracking import store

    root = root or project_root()
    cfg = compose(root=root)
    claims = claims_of(paper)
    store.connect(cfg, root)
    client = MlflowClient()
    eval_root = root / str(cfg.paths.reports) / "eval" / paper

    @cache
    def runs_of(variant: str, dataset: str) -> list[EvalReport]:
        return _with_run_metrics(read_eval_dir(eval_root / variant / dataset), client)

    outcomes = check_claims(claims, runs_of, lambda dataset: dataset_facts(root / str(cfg.paths.processed) / dataset))
    counts = verdict_counts(outcomes)
    result = {
        "paper": paper,
        "claims_file": _shown_path(claims.path, root),
        "source": claims.source,
        "counts": counts,
        "claims": [o.to_dict() for o in outcomes],
    }
    out = root / str(cfg.paths.reports) / "claims"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{paper}.json").write_text(json.dumps(result, indent=1))
    (out / f"{paper}.md").write_text(render_markdown(claims, outcomes, root))
    summary = {**counts, "total": len(outcomes), "claims": {o.claim.id: VERDICT_SCORE.get(o.verdict, 0) for o in outcomes}}
    (out / f"{paper}-summary.json").write_text(json.dumps(summary, indent=1))
    tag_runs(outcomes, client)
    return result


def _shown_path(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _delta(metric_outcome: MetricOutcome, value: float) -> str:
    return f"×{value:.3g}" if metric_outcome.metric.scale == "log" else f"{value:+.4g}"


def _metric_row(m: MetricOutcome) -> str:
    paper = f"{_num(m.paper_a)} | {_num(m.paper_b)} | {_delta(m, m.paper_delta)}"
    if m.ours is None:
        ours = "– | – | –"
    else:
        low, high = m.ours.delta_ci
        ours = f"{_num(m.ours.a)} | {_num(m.ours.b)} | {_delta(m, m.ours.delta)} [{_delta(m, low)}, {_delta(m, high)}]"
    margin = f"×{m.min_effect:g}" if m.metric.scale == "log" else f"{m.min_effect:g}"
    note = f" ({m.note})" if m.note else ""
    return f"| {m.metric.column} | {m.metric.better} | {paper} | {ours} | {margin} | {m.paper_verdict} | **{m.verdict}**{note} |"


def _seeds(runs: Sequence[EvalReport]) -> str:
    return ", ".join(str(r.seed) for r in runs) or "none"


def render_markdown(claims: ClaimsFile, outcomes: Sequence[ClaimOutcome], root: Path) -> str:
    """The human-readable report: a summary table, then per claim the paper's numbers, ours, and the verdicts."""
    counts = verdict_counts(outcomes)
    lines = [
        f"# Claims of paper `{claims.paper}`",
        "",
        f"Source: {claims.source}",
        "",
        f"Claims file: `{_shown_path(claims.path, root)}`. Verdicts: " + " · ".join(f"{n} {v}" for v, n in counts.items()) + f" ({len(outcomes)} claims).",
        "Δ is A − B (A / B for ratios); intervals are paired bootstraps over test samples and seeds (Welch over seeds for",
        "run-level metrics, and as a second opinion with ≥ 2 seeds a side). 'paper' applies the same rule to the published numbers.",
        "",
        "| claim | A vs B | dataset | direction | verdict | why | paper's numbers |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        c = o.claim
        lines.append(f"| {c.id} | {c.a} vs {c.b} | {c.dataset} | {c.direction.replace('_', ' ')}, {c.require} of {len(c.metrics)} | **{o.verdict}** | {o.reason} | {o.paper_verdict} |")
    for o in outcomes:
        c = o.claim
        lines += [
            "",
            f"## {c.id}: {o.verdict}",
            "",
            f"> {c.quote}",
            "",
            *([f"{c.note}.", ""] if c.note else []),
            f"A = `{c.a}` (seeds {_seeds(o.runs_a)}), B = `{c.b}` (seeds {_seeds(o.runs_b)}) on `{c.dataset}` ({c.split} split); "
            f"paper: Table {c.published.table}, rows \"{c.published.row_a}\" vs \"{c.published.row_b}\". "
            f"Rule: {c.direction.replace('_', ' ')} on ≥ {c.require} of {len(c.metrics)} metrics at {100 * c.confidence:g} % confidence.",
            f"Ours: {o.reason}. The paper's own numbers under this rule: {o.paper_verdict} ({o.paper_reason}).",
            "",
            f"| metric | better | paper A | paper B | paper Δ | ours A | ours B | ours Δ [{100 * c.confidence:g} % CI] | min effect | paper | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            *(_metric_row(m) for m in o.metrics),
        ]
    return "\n".join(lines) + "\n"
