"""Constructed eval reports: the same test samples (shared per-sample difficulty) scored by variants of a chosen quality."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

from reprozoo.stats.reports import EvalReport, parse_report

DIAMETER = 0.2  # metres: the dataset fact ADD thresholds are relative to


def report_dict(variant: str, *, quality: float = 1.0, seed: int = 0, n: int = 300, dataset: str = "toydrone-tello",
                run_id: str | None = None, paper: str = "pose", metrics: dict[str, float] | None = None, noise: float = 0.3) -> dict:
    """An eval report as `evaluate` writes it: errors = sample difficulty × run noise × `quality` (lower is better).

    `noise` is the spread (log-normal sigma) of a run's own per-sample errors: small = two runs err on the same samples.
    """
    difficulty = np.random.default_rng(12345).lognormal(0.0, 0.5, n)
    noise = np.random.default_rng(zlib.crc32(f"{variant}/{seed}".encode())).lognormal(0.0, noise, n)
    error = difficulty * noise * quality
    per_sample = {
        "npe": 0.02 * error,
        "rot_rad": 0.04 * error,
        "trans_m": 0.03 * error,
        "add_m": 0.008 * error,
        "proj_px": 3.0 * error,
        "kpt_err_px": 2.0 * error,
        "pnp_ok": (error < 4.0).astype(float),
    }
    return {
        "paper": paper,
        "variant": variant,
        "dataset": dataset,
        "seed": seed,
        "run_id": run_id or f"run-{variant}-{seed}",
        "metrics": {"add5": float(100 * (per_sample["add_m"] < 0.05 * DIAMETER).mean()), **(metrics or {})},
        "sample_ids": [f"test/{i:05d}" for i in range(n)],
        "per_sample": {k: v.tolist() for k, v in per_sample.items()},
    }


def report(variant: str, **kwargs) -> EvalReport:
    """`report_dict` parsed into an EvalReport."""
    return parse_report(report_dict(variant, **kwargs), f"<{variant}>")


def write_report(eval_root: Path, variant: str, **kwargs) -> Path:
    """Write a constructed report where `evaluate` would: <eval_root>/<variant>/<dataset>/seed<k>.json."""
    data = report_dict(variant, **kwargs)
    path = eval_root / variant / data["dataset"] / f"seed{data['seed']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path
