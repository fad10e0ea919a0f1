"""What a paper gives the paper-agnostic stages: its datasets, data module, model, evaluation and export."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


@dataclass
class Preprocessed:
    """A paper's preprocess output before validation: the manifest, dataset facts, the GE suite and extra arrays."""

    manifest: pd.DataFrame
    info: dict[str, Any]
    suite: list[tuple[str, dict[str, Any]]]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # saved as <name>.npy beside the manifest


@dataclass
class Evaluation:
    """A run's test results.

    metrics: aggregate name → value (the paper's table columns and extras).
    per_sample: name → list of per-test-sample values (for paired statistics across runs), all the same length.
    figures: name → matplotlib Figure (logged to MLflow as PNG).
    curves: name → DataFrame (DVC plots, e.g. error CDFs).
    """

    metrics: dict[str, float]
    per_sample: dict[str, list[float]]
    sample_ids: list[str]
    figures: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)


class Paper(ABC):
    """One reproduced paper. Subclasses live in `reprozoo/papers/<id>/` and are found through `papers.get_paper`."""

    id: str
    claims_file: Path | None = None

    @abstractmethod
    def generate(self, dataset_cfg, raw_dir: Path, *, progress: bool) -> int:
        """Write a synthetic dataset in the real dataset's on-disk format into `raw_dir`; return the sample count."""

    @abstractmethod
    def preprocess(self, raw_dir: Path, dataset_cfg) -> Preprocessed:
        """Read `raw_dir` into a manifest (one row per sample, a `split` and a `sha256` column) and its suite."""

    @abstractmethod
    def build_datamodule(self, cfg, processed_dir: Path, raw_dir: Path):
        """A LightningDataModule over the processed dataset."""

    @abstractmethod
    def build_module(self, cfg, processed_dir: Path):
        """The LightningModule of `cfg.variant`."""

    @abstractmethod
    def evaluate(self, cfg, module, datamodule) -> Evaluation:
        """Test-split metrics, per-sample values, figures and curves of a trained module."""

    @abstractmethod
    def export(self, module, datamodule) -> tuple[Any, np.ndarray]:
        """An inference `torch.nn.Module` for the registry and an input example (numpy) for its signature."""
