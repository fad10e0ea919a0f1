"""Eval reports (`reports/eval/<paper>/<variant>/<dataset>/seed<k>.json`, written by `evaluate`) as statistics input.

A report: {paper, variant, dataset, seed, run_id, metrics{...}, sample_ids[...], per_sample{name: [N floats]}}; any
other top-level number (e.g. `diameter`) is a dataset fact for metrics defined relative to it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reprozoo.errors import ReprozooError
from reprozoo.stats.metrics import Undecidable

_REQUIRED = ("paper", "variant", "dataset", "seed", "run_id", "metrics", "sample_ids", "per_sample")


@dataclass
class EvalReport:
    """One run's test results: aggregate metrics and per-sample values aligned with `sample_ids`."""

    paper: str
    variant: str
    dataset: str
    seed: int
    run_id: str
    metrics: dict[str, float]
    sample_ids: list[str]
    per_sample: dict[str, np.ndarray]
    facts: dict[str, float] = field(default_factory=dict)
    path: str = ""


def parse_report(data: dict, source: str) -> EvalReport:
    """An EvalReport from a parsed JSON report; `source` names it in errors."""
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise ReprozooError(f"{source}: not an eval report (missing {', '.join(missing)})")
    n = len(data["sample_ids"])
    per_sample = {name: np.asarray(values, dtype=float) for name, values in data["per_sample"].items()}
    wrong = [name for name, values in per_sample.items() if values.shape != (n,)]
    if wrong:
        raise ReprozooError(f"{source}: per_sample '{wrong[0]}' does not have one value per sample id ({n})")
    facts = _numbers(data, skip=_REQUIRED)
    return EvalReport(
        paper=str(data["paper"]),
        variant=str(data["variant"]),
        dataset=str(data["dataset"]),
        seed=int(data["seed"]),
        run_id=str(data["run_id"]),
        metrics={k: float(v) for k, v in data["metrics"].items()},
        sample_ids=[str(s) for s in data["sample_ids"]],
        per_sample=per_sample,
        facts=facts,
        path=source,
    )


def read_report(path: Path) -> EvalReport:
    """Read one eval report file."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ReprozooError(f"{path}: unreadable eval report: {exc}") from exc
    return parse_report(data, str(path))


def read_eval_dir(folder: Path) -> list[EvalReport]:
    """All `seed<k>.json` reports of one (paper, variant, dataset), by seed; [] when the folder is absent."""
    reports = [read_report(p) for p in folder.glob("seed*.json")] if folder.is_dir() else []
    return sorted(reports, key=lambda r: r.seed)


def dataset_facts(processed_dir: Path) -> dict[str, float]:
    """The numbers at the top level of a processed dataset's dataset.json (e.g. `diameter`); {} when it is absent."""
    path = processed_dir / "dataset.json"
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ReprozooError(f"{path}: invalid JSON: {exc}") from exc
    return _numbers(info)


def _numbers(data: dict, skip: tuple[str, ...] = ()) -> dict[str, float]:
    return {k: float(v) for k, v in data.items() if k not in skip and isinstance(v, (int, float)) and not isinstance(v, bool)}


def alignment(reports: Sequence[EvalReport]) -> list[np.ndarray]:
    """For each report, the index array that puts its samples in the first report's order.

    Raises:
        Undecidable: the reports were not scored on the same set of test samples.
    """
    order = reports[0].sample_ids
    if len(set(order)) != len(order):
        raise Undecidable(f"{reports[0].path}: duplicate sample ids")
    position = {sample: i for i, sample in enumerate(order)}
    indices = []
    for report in reports:
        if len(report.sample_ids) != len(order) or set(report.sample_ids) != position.keys():
            common = len(position.keys() & set(report.sample_ids))
            raise Undecidable(f"runs scored different test samples ({report.variant} seed {report.seed}: {common} of {len(order)} ids in common)")
        index = np.empty(len(order), dtype=int)
        index[[position[s] for s in report.sample_ids]] = np.arange(len(order))
        indices.append(index)
    return indices
