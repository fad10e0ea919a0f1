"""evaluate: trained seeds + test split → reports/eval/<paper>/<variant>/<dataset>/seed<k>.json, DVC metrics and plots,
and the same metrics and figures in each seed's MLflow run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from reprozoo.config import compose, project_root
from reprozoo.papers import get_paper
from reprozoo.stages.paths import DatasetPaths, RunPaths
from reprozoo.stages.train import load_result, seeds_of


def load_trained(cfg, root: Path, seed: int):
    """(paper, datamodule, module with the seed's best weights, train result) for a composed config."""
    import torch

    paper = get_paper(str(cfg.paper))
    data = DatasetPaths.of(cfg, root)
    seed_dir = RunPaths.of(cfg, root).seed_dir(seed)
    result = load_result(seed_dir)
    datamodule = paper.build_datamodule(cfg, data.processed, data.raw)
    module = paper.build_module(cfg, data.processed)
    module.load_state_dict(torch.load(seed_dir / "weights.pt", map_location="cpu", weights_only=True))
    return paper, datamodule, module.eval(), result


def evaluate(
    target: str,
    dataset: str,
    *,
    seeds: Sequence[int] | None = None,
    profile: str | None = None,
    overrides: Sequence[str] = (),
    root: Path | None = None,
) -> dict:
    """Evaluate every seed; returns the metrics file's content ({"mean": ..., "seeds": {seed: ...}})."""
    from mlflow import MlflowClient

    from reprozoo.tracking import store

    root = root or project_root()
    base = compose(target=target, dataset=dataset, profile=profile, overrides=overrides, root=root)
    out = RunPaths.of(base, root)
    out.eval.mkdir(parents=True, exist_ok=True)
    per_seed: dict[str, dict[str, float]] = {}
    curves: dict[str, list[pd.DataFrame]] = {}
    store.connect(base, root)
    client = MlflowClient()
    for seed in seeds_of(base, seeds):
        cfg = compose(target=target, dataset=dataset, profile=profile, overrides=[*overrides, f"seed={seed}"], root=root)
        paper, datamodule, module, trained = load_trained(cfg, root, seed)
        result = paper.evaluate(cfg, module, datamodule)
        report = {
            "paper": str(cfg.paper),
            "variant": str(cfg.variant.name),
            "dataset": str(cfg.dataset.name),
            "seed": seed,
            "run_id": trained.run_id,
            "metrics": result.metrics,
            "sample_ids": result.sample_ids,
            "per_sample": result.per_sample,
        }
        path = out.eval / f"seed{seed}.json"
        path.write_text(json.dumps(report))
        for name, value in result.metrics.items():
            client.log_metric(trained.run_id, f"test/{name}", float(value))
        client.log_artifact(trained.run_id, str(path), "eval")
        for name, figure in result.figures.items():
            client.log_figure(trained.run_id, figure, f"figures/{name}")
        for name, frame in result.curves.items():
            client.log_table(trained.run_id, frame, f"curves/{name}.json")
            curves.setdefault(name, []).append(frame)
        per_seed[str(seed)] = result.metrics

    mean = {name: sum(m[name] for m in per_seed.values()) / len(per_seed) for name in next(iter(per_seed.values()))}
    summary = {"mean": mean, "seeds": per_seed}
    out.metrics.parent.mkdir(parents=True, exist_ok=True)
    out.metrics.write_text(json.dumps(summary, indent=1))
    out.plots.mkdir(parents=True, exist_ok=True)
    for name, frames in curves.items():
        pd.concat(frames).groupby(frames[0].columns[0], as_index=False).mean().to_csv(out.plots / f"{name}.csv", index=False)
    return summary
