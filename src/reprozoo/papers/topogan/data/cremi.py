"""The CREMI (MICCAI 2016) layout: HDF5 volumes of neuron segmentations.

    <root>/**/*.hdf (or *.h5)     e.g. sample_A_20160501.hdf, sample_B_…, sample_C_…, searched recursively
      volumes/raw                 uint8 [Z, Y, X] EM (125 × 1250 × 1250 in the real files; not read here)
      volumes/labels/neuron_ids   uint64 [Z, Y, X] one id per neuron

CREMI has no membrane label: the membrane mask of a slice is where a pixel's 4-neighbour in the slice has another
neuron id, marked on both sides of the boundary (2 px wide), then dilated `dilation` times. Use the unpadded training
samples: their every voxel is labelled (in the padded ones the unlabelled margin would draw a false boundary).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from reprozoo.errors import DataValidationError
from reprozoo.papers.topogan.data.patches import Source

LABELS_KEY = "volumes/labels/neuron_ids"
SUFFIXES = (".hdf", ".h5", ".hdf5")


def membranes(ids: np.ndarray, dilation: int = 0) -> np.ndarray:
    """Neuron-id slice [H, W] → bool membrane mask [H, W]: pixels with a 4-neighbour of another id."""
    boundary = np.zeros(ids.shape, dtype=bool)
    vertical = ids[1:] != ids[:-1]
    horizontal = ids[:, 1:] != ids[:, :-1]
    boundary[1:] |= vertical
    boundary[:-1] |= vertical
    boundary[:, 1:] |= horizontal
    boundary[:, :-1] |= horizontal
    return ndimage.binary_dilation(boundary, iterations=dilation) if dilation > 0 else boundary


def _load(path: Path, z: int, dilation: int) -> np.ndarray:
    import h5py

    with h5py.File(path, "r") as f:
        return membranes(f[LABELS_KEY][z], dilation)


def sources(root: Path, dilation: int = 0) -> list[Source]:
    """One source per slice of every volume file (files in sorted path order, slices in z order)."""
    import h5py

    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    if not files:
        raise DataValidationError(f"{root}: no CREMI volume (*.hdf, *.h5) found")
    found: list[Source] = []
    for path in files:
        try:
            with h5py.File(path, "r") as f:
                if LABELS_KEY not in f:
                    raise DataValidationError(f"{path}: no dataset '{LABELS_KEY}'")
                labels = f[LABELS_KEY]
                if labels.ndim != 3 or labels.dtype.kind not in "ui":
                    raise DataValidationError(f"{path}: '{LABELS_KEY}' must be an integer [Z, Y, X] volume, got {labels.dtype} {labels.shape}")
                depth = labels.shape[0]
        except OSError as exc:
            raise DataValidationError(f"{path}: not a readable HDF5 file ({exc})") from exc
        rel = path.relative_to(root).as_posix()
        found.extend(Source(rel, z, lambda path=path, z=z: _load(path, z, dilation)) for z in range(depth))
    return found
