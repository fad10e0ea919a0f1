"""The ISBI 2012 EM segmentation challenge layout (also what the SynthMembranes generator writes).

    <root>/
      train-volume.tif     multi-page 8-bit TIFF, N × H × W EM slices (the real one: 30 × 512 × 512)
      train-labels.tif     multi-page 8-bit TIFF, same shape: 0 = membrane, 255 = cell interior
      test-volume.tif      optional (no labels; not used)

The labels' polarity is the project's (structure = 0), so a slice's structure mask is `label ≤ 127`. Only the labels
feed TopoGAN (it generates masks); the volume is read to check that it matches the labels slice for slice.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from reprozoo.errors import DataValidationError
from reprozoo.papers.topogan.data.patches import Source, from_grey

VOLUME = "train-volume.tif"
LABELS = "train-labels.tif"


def write_stack(path: Path, slices: np.ndarray) -> None:
    """Write uint8 slices [N, H, W] as one multi-page TIFF."""
    if slices.dtype != np.uint8 or slices.ndim != 3:
        raise ValueError(f"expected uint8 [N, H, W] slices, got {slices.dtype} {slices.shape}")
    if not cv2.imwritemulti(str(path), list(slices)):
        raise OSError(f"{path}: could not write the TIFF stack")


def read_stack(path: Path) -> np.ndarray:
    """Read a multi-page 8-bit grey TIFF into uint8 [N, H, W]; a missing, unreadable or non-grey file is a data error."""
    if not path.is_file():
        raise DataValidationError(f"{path}: missing")
    ok, pages = cv2.imreadmulti(str(path), flags=cv2.IMREAD_UNCHANGED)
    if not ok or not pages:
        raise DataValidationError(f"{path}: not a readable TIFF stack")
    shapes = {page.shape for page in pages}
    if len(shapes) != 1 or pages[0].ndim != 2 or pages[0].dtype != np.uint8:
        raise DataValidationError(f"{path}: expected 8-bit grey pages of one size, got {sorted(shapes)} {pages[0].dtype}")
    return np.stack(pages)


def sources(root: Path) -> list[Source]:
    """One source per labelled slice, in stack order; checks the volume has the labels' shape."""
    labels = read_stack(root / LABELS)
    volume_shape = read_stack(root / VOLUME).shape
    if volume_shape != labels.shape:
        raise DataValidationError(f"{root / VOLUME}: shape {volume_shape} differs from {LABELS}'s {labels.shape}")
    return [Source(LABELS, z, lambda z=z: from_grey(labels[z])) for z in range(len(labels))]
