"""Where each stage reads and writes, from the composed config (all relative to the project root)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DatasetPaths:
    """raw/ and processed/ folders of a dataset, and its Data Docs."""

    raw: Path
    processed: Path
    docs: Path

    @classmethod
    def of(cls, cfg, root: Path) -> "DatasetPaths":
        name = str(cfg.dataset.name)
        return cls(root / cfg.paths.raw / name, root / cfg.paths.processed / name, root / cfg.paths.reports / "validation" / name)


@dataclass(frozen=True)
class RunPaths:
    """Outputs of one (paper, variant, dataset): per-seed model folders, eval reports, DVC metrics/plots, registry record."""

    models: Path
    eval: Path
    metrics: Path
    plots: Path
    registry: Path

    @classmethod
    def of(cls, cfg, root: Path) -> "RunPaths":
        key = Path(str(cfg.paper), str(cfg.variant.name))
        dataset = str(cfg.dataset.name)
        reports = root / cfg.paths.reports
        return cls(
            models=root / cfg.paths.models / key / dataset,
            eval=reports / "eval" / key / dataset,
            metrics=reports / "metrics" / key / f"{dataset}.json",
            plots=reports / "plots" / key / dataset,
            registry=reports / "registry" / key / f"{dataset}.json",
        )

    def seed_dir(self, seed: int) -> Path:
        return self.models / f"seed{seed}"
