"""Retina vessel masks pooled from four public sets, as their own files put them (98 masks in the paper).

    <root>/**/*_manual1.gif     DRIVE (1st_manual/, 20 used by the paper)
    <root>/**/*.ah.ppm          STARE (labels-ah/, 20)
    <root>/**/*_1stHO.png       CHASE_DB1 (28)
    <root>/**/*_GT.tif          IOSTAR (40)

The glob patterns are a config value (`patterns`). All four draw vessels white on black, so structure (vessel) is
grey > 127, the opposite of the on-disk polarity the patches get. The paper crops and resizes them to 128 × 128 and
uses dim-0 topology (vessel components) for Retina.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from reprozoo.errors import DataValidationError
from reprozoo.papers.topogan.data.patches import Source

PATTERNS = ("**/*_manual1.gif", "**/*.ah.ppm", "**/*_1stHO.png", "**/*_GT.tif")


def _load(path: Path) -> np.ndarray:
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise DataValidationError(f"{path}: cannot decode the vessel mask")
    return grey > 127


def sources(root: Path, patterns: Sequence[str] = PATTERNS) -> list[Source]:
    """One source per vessel mask, pattern by pattern, each in path order."""
    found: list[Source] = []
    seen: set[Path] = set()
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if path.is_file() and path not in seen:
                seen.add(path)
                found.append(Source(path.relative_to(root).as_posix(), 0, lambda path=path: _load(path)))
    if not found:
        raise DataValidationError(f"{root}: no vessel masks matching {list(patterns)}")
    return found
