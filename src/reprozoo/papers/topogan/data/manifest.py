"""Preprocess for TopoGAN: a raw dataset → mask patches, their persistence diagrams, one manifest row per patch.

Outputs (beside the manifest, see `stages/preprocess.py`): `masks.npy` uint8 [N, S, S] (structure 0, background
255; row i is manifest row i) and `diagrams.npy` (the framed distance-transform diagrams of dimension
`topology.dim`, packed as in `diagrams.py`), computed once here so training and evaluation never recompute real ones.

Rows carry what validation checks: the patch's size and structure fraction (a flipped polarity shows as a fraction
outside the dataset's range), its Betti numbers by connected-component labelling (framed), and whether the diagram
agrees with them (`betti_agrees`: points born at 0 = β_dim, plus the essential class for dim 0; catches index-order
or polarity bugs between the two computations).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reprozoo.papers.topogan.data import diagrams as packed_diagrams
from reprozoo.papers.topogan.data import formats
from reprozoo.papers.topogan.data.patches import SPLITS, assign_splits, cut_patches, patches_per_source, to_grey
from reprozoo.topology import DiagramPool, betti_numbers, diagrams


def _crop(value: Any) -> int | str | None:
    return None if value is None else value if value == "center" else int(value)


def build_manifest(raw_root: Path, dataset_cfg) -> tuple[pd.DataFrame, dict[str, Any], dict[str, np.ndarray]]:
    """Read a raw TopoGAN dataset.

    Returns:
        manifest: one row per patch, in source order.
        info: {name, format, size, dim, structure_fraction, n_sources, polarity}.
        arrays: {"masks": uint8 [N, S, S], "diagrams": float64 [P, 7]}.
    """
    size = int(dataset_cfg.image.size)
    dim = int(dataset_cfg.topology.dim)
    fraction = tuple(float(v) for v in dataset_cfg.structure_fraction)
    sources = formats.sources(raw_root, dataset_cfg)
    splits = assign_splits(len(sources), dict(dataset_cfg.splits))
    counts = patches_per_source(dataset_cfg.patches.get("count"), len(sources))
    rows: list[dict[str, Any]] = []
    structures: list[np.ndarray] = []
    for i, (source, split, count) in enumerate(zip(sources, splits, counts, strict=True)):
        rng = np.random.default_rng([int(dataset_cfg.seed), i])
        patches = cut_patches(source.load(), count=count, crop=_crop(dataset_cfg.patches.get("crop")), size=size, fraction=fraction, rng=rng)
        for k, patch in enumerate(patches):
            structures.append(patch.structure)
            rows.append({
                "sample_id": f"s{i:05d}-p{k:03d}",
                "path": source.path,
                "slice": source.index,
                "split": split,
                "crop_row": patch.row,
                "crop_col": patch.col,
                "crop_side": patch.side,
                "height": patch.structure.shape[0],
                "width": patch.structure.shape[1],
                "structure_fraction": float(patch.structure.mean()),
            })
    masks = np.stack(structures) if structures else np.zeros((0, size, size), dtype=bool)
    workers = int(dataset_cfg.get("workers", 1))
    if workers > 1 and len(masks):
        with DiagramPool(workers) as pool:
            dgms = diagrams(masks, dim=dim, pool=pool)
    else:
        dgms = diagrams(masks, dim=dim)
    grey = to_grey(masks)
    betti0, betti1 = betti_numbers(masks, dim=0), betti_numbers(masks, dim=1)
    from_diagram = np.array([int((d.births == 0).sum()) + (dim == 0) for d in dgms], dtype=np.int64)
    manifest = pd.DataFrame(rows, columns=["sample_id", "path", "slice", "split", "crop_row", "crop_col", "crop_side", "height", "width", "structure_fraction"])
    manifest = manifest.assign(
        index=np.arange(len(manifest)),
        sha256=[hashlib.sha256(patch.tobytes()).hexdigest() for patch in grey],
        betti0=betti0,
        betti1=betti1,
        n_points=[len(d) for d in dgms],
        betti_agrees=from_diagram == (betti0 if dim == 0 else betti1),
    )
    info = {
        "name": str(dataset_cfg.name),
        "format": str(dataset_cfg.format),
        "size": size,
        "dim": dim,
        "structure_fraction": list(fraction),
        "n_sources": len(sources),
        "polarity": "structure=0,background=255",
    }
    return manifest, info, {"masks": grey, "diagrams": packed_diagrams.pack(dgms)}


def expectations(info: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The great-expectations suite over a TopoGAN manifest, as (Expectation class name, kwargs) pairs."""
    size = info["size"]
    low, high = info["structure_fraction"]
    return [
        ("ExpectTableRowCountToBeBetween", {"min_value": 1}),
        ("ExpectColumnValuesToBeUnique", {"column": "sample_id"}),
        ("ExpectColumnValuesToBeInSet", {"column": "split", "value_set": list(SPLITS)}),
        ("ExpectColumnDistinctValuesToContainSet", {"column": "split", "value_set": list(SPLITS)}),  # val drives the checkpoint
        ("ExpectColumnValuesToBeBetween", {"column": "height", "min_value": size, "max_value": size}),
        ("ExpectColumnValuesToBeBetween", {"column": "width", "min_value": size, "max_value": size}),
        ("ExpectColumnValuesToBeBetween", {"column": "structure_fraction", "min_value": low, "max_value": high}),
        ("ExpectColumnValuesToBeBetween", {"column": "betti1", "min_value": 0, "max_value": size * size // 4}),
        ("ExpectColumnValuesToBeInSet", {"column": "betti_agrees", "value_set": [True]}),
        ("ExpectColumnValuesToBeInSet", {"column": "leaks_across_splits", "value_set": [False]}),
    ]
