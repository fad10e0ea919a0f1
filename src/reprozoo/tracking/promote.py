"""promote: move a registered model's `champion` alias to its `candidate` version, gated by a paired bootstrap.

The two versions' per-sample test values are found through their run ids (the run's `eval/*.json` artifact, else the
local reports/eval file of that run). The candidate is promoted when the lower end of the interval of its improvement
on the policy's metric is above `min_delta` (pipelines/promote.yaml); with no champion yet, the first candidate whose
data passed validation is promoted without a comparison. `force` (with a reason) overrides a refusal and is recorded.
Every decision, its statistics and who made it are `promotion.*` tags on the candidate version.
"""

from __future__ import annotations

import getpass
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from reprozoo.config import compose, project_root
from reprozoo.errors import ReprozooError
from reprozoo.stats.compare import compare
from reprozoo.stats.metrics import MetricDef, Undecidable
from reprozoo.stats.reports import EvalReport, dataset_facts, read_report

POLICY_FILE = Path("pipelines") / "promote.yaml"
TAG_PREFIX = "promotion."
PROMOTED, REFUSED, FORCED = "promoted", "refused", "forced"


@dataclass(frozen=True)
class Policy:
    """What a promotion requires: alias `source` → alias `target` when `metric` improves by more than `min_delta`."""

    source: str
    target: str
    metric: str
    min_delta: float
    confidence: float
    resamples: int
    seed: int


@dataclass(frozen=True)
class Decision:
    """The outcome: `promoted`, `refused`, `forced`, or `unchanged` (already the target), with a one-line reason."""

    name: str
    version: str
    target: str
    decision: str
    reason: str


def load_policy(root: Path, paper: str, *, to: str | None = None, metric: str | None = None, min_delta: float | None = None) -> Policy:
    """The paper's promotion policy from pipelines/promote.yaml, with the command line's overrides."""
    path = root / POLICY_FILE
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ReprozooError(f"{path}: cannot read the promotion policy: {' '.join(str(exc).split())}") from exc
    merged = {**data.get("defaults", {}), **(data.get("papers") or {}).get(paper, {})}
    merged.update({k: v for k, v in (("to", to), ("metric", metric), ("min_delta", min_delta)) if v is not None})
    missing = [key for key in ("from", "to", "metric", "min_delta", "confidence", "resamples", "seed") if key not in merged]
    if missing:
        raise ReprozooError(f"{path}: papers.{paper}: missing {', '.join(missing)} (here or under defaults)")
    try:
        return Policy(str(merged["from"]), str(merged["to"]), str(merged["metric"]), float(merged["min_delta"]),
                      float(merged["confidence"]), int(merged["resamples"]), int(merged["seed"]))
    except (TypeError, ValueError) as exc:
        raise ReprozooError(f"{path}: papers.{paper}: {exc}") from exc


def _version_by_alias(client, name: str, alias: str):
    """The version behind `name@alias`, or None when the alias is not set."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if client.search_registered_models(filter_string=f"name = '{name}'"):
            return None
        raise ReprozooError(f"registered model '{name}': not found (register a variant first)") from exc


def eval_report_of(client, version, root: Path, reports_dir: str) -> EvalReport:
    """The eval report of a model version's run: its `eval/*.json` artifact, else the local reports/eval file."""
    from mlflow.exceptions import MlflowException

    run_id, tags = version.run_id or version.tags.get("run_id"), version.tags
    try:
        artifacts = [f.path for f in client.list_artifacts(run_id, "eval") if f.path.endswith(".json")]
    except MlflowException:
        artifacts = []
    if artifacts:
        wanted = f"eval/seed{tags.get('seed')}.json"
        with tempfile.TemporaryDirectory() as tmp:
            return read_report(Path(client.download_artifacts(run_id, wanted if wanted in artifacts else artifacts[0], tmp)))
    local = root / reports_dir / "eval" / str(tags.get("paper")) / str(tags.get("variant")) / str(tags.get("dataset")) / f"seed{tags.get('seed')}.json"
    report = read_report(local) if local.is_file() else None
    if report is not None and report.run_id == run_id:
        return report
    raise ReprozooError(f"{version.name} version {version.version} (run {run_id}): no eval report (no eval/*.json artifact, no {local} of that run)")


def _gate(client, candidate, champion, metric: MetricDef, policy: Policy, root: Path, cfg) -> tuple[str, str, dict[str, str]]:
    """(promoted/refused, why, statistics tags) of the candidate against the champion."""
    validation = candidate.tags.get("validation.result", "missing")
    if validation != "passed":
        return REFUSED, f"the candidate's data validation result is '{validation}'", {"promotion.compared_to": "none"}
    if champion is None:
        return PROMOTED, f"no @{policy.target} yet: first candidate promoted without comparison", {"promotion.compared_to": "none (first champion)"}
    reports = [eval_report_of(client, v, root, str(cfg.paths.reports)) for v in (candidate, champion)]
    facts = dataset_facts(root / str(cfg.paths.processed) / str(candidate.tags.get("dataset")))
    stats = {"promotion.compared_to": str(champion.version)}
    try:
        comparison = compare(metric, reports[:1], reports[1:], facts, confidence=policy.confidence, resamples=policy.resamples, seed=policy.seed)
    except Undecidable as exc:
        return REFUSED, f"cannot compare with version {champion.version}: {exc}", stats
    gain = comparison.improvement(comparison.difference)
    low, high = comparison.delta_ci
    stats.update({
        "promotion.candidate_value": f"{comparison.a:.6g}",
        "promotion.champion_value": f"{comparison.b:.6g}",
        "promotion.delta": f"{comparison.delta:.6g}",
        "promotion.ci_low": f"{low:.6g}",
        "promotion.ci_high": f"{high:.6g}",
        "promotion.improvement_low": f"{gain.low:.6g}",
        "promotion.n_samples": str(comparison.n_samples),
        "promotion.method": comparison.difference.method,
    })
    shown = f"{metric.name} {comparison.delta:+.4g} [{low:+.4g}, {high:+.4g}] vs version {champion.version} ({metric.better} is better)"
    if gain.low > policy.min_delta:
        return PROMOTED, f"{shown}: improvement's lower bound {gain.low:.4g} > min_delta {policy.min_delta:g}", stats
    return REFUSED, f"{shown}: improvement's lower bound {gain.low:.4g} ≤ min_delta {policy.min_delta:g}", stats


def promote(
    name: str,
    *,
    to: str | None = None,
    metric: str | None = None,
    min_delta: float | None = None,
    force: bool = False,
    reason: str | None = None,
    root: Path | None = None,
) -> Decision:
    """Promote `name`'s candidate to `to` (default: the policy's target) when the gate passes, or when forced.

    Raises:
        ReprozooError: the gate refused (after recording the refusal as tags), or a bad request.
    """
    from mlflow import MlflowClient

    from reprozoo.stats.claims import claims_of
    from reprozoo.tracking import store

    if force != bool(reason and reason.strip()):
        raise ReprozooError('--force needs --reason "why", and --reason only goes with --force')
    root = root or project_root()
    cfg = compose(root=root)
    store.connect(cfg, root)
    client = MlflowClient()
    paper = name.split(".", 1)[0]
    policy = load_policy(root, paper, to=to, metric=metric, min_delta=min_delta)
    candidate = _version_by_alias(client, name, policy.source)
    if candidate is None:
        raise ReprozooError(f"{name}: no @{policy.source} version (run `reprozoo register` first)")
    champion = _version_by_alias(client, name, policy.target)
    if champion is not None and champion.version == candidate.version:
        return Decision(name, candidate.version, policy.target, "unchanged", f"version {candidate.version} is already @{policy.target}")
    catalogue = claims_of(paper).metrics
    if policy.metric not in catalogue or not catalogue[policy.metric].per_sample:
        usable = ", ".join(m for m, d in catalogue.items() if d.per_sample)
        raise ReprozooError(f"metric '{policy.metric}': not a per-sample metric of paper '{paper}' (choose one of {usable})")

    gate, why, stats = _gate(client, candidate, champion, catalogue[policy.metric], policy, root, cfg)
    decision = FORCED if force else gate
    tags = {
        "promotion.decision": decision,
        "promotion.gate": gate,
        "promotion.reason": why,
        "promotion.to": policy.target,
        "promotion.metric": policy.metric,
        "promotion.min_delta": f"{policy.min_delta:g}",
        "promotion.confidence": f"{policy.confidence:g}",
        "promotion.by": getpass.getuser(),
        "promotion.time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **stats,
    }
    if force:
        tags["promotion.forced_reason"] = " ".join(reason.split())
    for stale in [k for k in candidate.tags if k.startswith(TAG_PREFIX) and k not in tags]:
        client.delete_model_version_tag(name, candidate.version, stale)
    for key, value in tags.items():
        client.set_model_version_tag(name, candidate.version, key, value)
    if decision == REFUSED:
        raise ReprozooError(f"{name} version {candidate.version} not promoted to @{policy.target}: {why}")
    client.set_registered_model_alias(name, policy.target, candidate.version)
    return Decision(name, candidate.version, policy.target, decision, why)
