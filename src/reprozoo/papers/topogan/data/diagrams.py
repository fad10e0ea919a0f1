"""Persistence diagrams of many masks as one array (`diagrams.npy` beside the manifest) and back.

Packed layout: float64 [P, 7], one row per diagram point, grouped by mask in row order:
(mask index, birth, death, birth row, birth col, death row, death col).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reprozoo.topology import Diagram

COLUMNS = ("index", "birth", "death", "birth_row", "birth_col", "death_row", "death_col")


def pack(diagrams: Sequence[Diagram]) -> np.ndarray:
    """`diagrams` of masks 0 … n − 1 → float64 [P, 7]."""
    blocks = [
        np.column_stack([np.full(len(dgm), i, dtype=np.float64), dgm.pairs, dgm.birth_pixels, dgm.death_pixels])
        for i, dgm in enumerate(diagrams)
    ]
    return np.concatenate(blocks) if blocks else np.zeros((0, len(COLUMNS)))


def unpack(packed: np.ndarray, indices: Sequence[int] | np.ndarray, dim: int = 1) -> list[Diagram]:
    """The diagrams of the masks `indices` (in that order) from a packed array [P, 7]."""
    owner = packed[:, 0].astype(np.int64)
    order = np.argsort(owner, kind="stable")
    starts = np.searchsorted(owner[order], np.asarray(indices), side="left")
    stops = np.searchsorted(owner[order], np.asarray(indices), side="right")
    out = []
    for start, stop in zip(starts, stops, strict=True):
        rows = packed[order[start:stop]]
        out.append(Diagram(rows[:, 1:3].copy(), rows[:, 3:5].astype(np.int64), rows[:, 5:7].astype(np.int64), dim))
    return out
