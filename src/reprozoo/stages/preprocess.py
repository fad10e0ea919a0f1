"""preprocess: data/raw/<dataset> → data/processed/<dataset>/ (manifest.parquet, dataset.json, arrays) + Data Docs.

Validation runs before anything is written to the processed folder; a failed suite raises a one-line error naming a
file and the expectation it broke, and leaves no processed output (so nothing downstream can run on bad data).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from reprozoo.config import compose, project_root
from reprozoo.data.validation import ValidationReport, validate_manifest
from reprozoo.errors import DataValidationError
from reprozoo.papers import get_paper
from reprozoo.stages.paths import DatasetPaths


def mark_cross_split_duplicates(manifest: pd.DataFrame) -> pd.DataFrame:
    """Add `leaks_across_splits`: the row's file content (sha256) also appears in another split."""
    splits_per_hash = manifest.groupby("sha256")["split"].nunique()
    return manifest.assign(leaks_across_splits=manifest["sha256"].map(splits_per_hash).gt(1))


def preprocess(dataset: str, *, profile: str | None = None, overrides: Sequence[str] = (), root: Path | None = None) -> ValidationReport:
    """Build, validate and write the processed dataset; returns the validation report."""
    root = root or project_root()
    cfg = compose(dataset=dataset, profile=profile, overrides=overrides, root=root)
    paths = DatasetPaths.of(cfg, root)
    if not paths.raw.is_dir():
        raise DataValidationError(f"{paths.raw}: raw dataset missing (run `reprozoo fetch {dataset}` first)")
    shutil.rmtree(paths.processed, ignore_errors=True)
    prepared = get_paper(str(cfg.dataset.paper)).preprocess(paths.raw, cfg.dataset)
    manifest = mark_cross_split_duplicates(prepared.manifest)
    report = validate_manifest(manifest, prepared.suite, suite_name=f"{dataset}-manifest", docs_dir=paths.docs, file_root=paths.raw)
    if not report.success:
        first = report.failures[0].describe()
        more = f" (+{len(report.failures) - 1} more failed expectations)" if len(report.failures) > 1 else ""
        raise DataValidationError(f"{first}{more}; see {paths.docs / 'index.html'}")

    work = paths.processed.with_name(paths.processed.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    manifest.to_parquet(work / "manifest.parquet", index=False)
    for name, array in prepared.arrays.items():
        np.save(work / f"{name}.npy", array)
    counts = manifest["split"].value_counts().to_dict()
    info = {
        **prepared.info,
        "splits": {split: int(counts.get(split, 0)) for split in ("train", "val", "test")},
        "manifest_sha256": hashlib.sha256((work / "manifest.parquet").read_bytes()).hexdigest(),
        "validation": report.to_dict(),
    }
    (work / "dataset.json").write_text(json.dumps(info, indent=1))
    work.rename(paths.processed)
    return report
