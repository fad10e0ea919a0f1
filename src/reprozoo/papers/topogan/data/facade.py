"""The CMP Facade Database layout (Tyleček & Šára): 12-class label maps as palette PNGs.

    <root>/**/base/cmp_b*.png, **/extended/cmp_x*.png     (378 + 228 = 606 facades; the .jpg photos and .xml
                                                           annotations beside them are not read)

Pixel values are palette indices: 1 background, 2 facade, 3 window, 4 door, 5 cornice, 6 sill, 7 balcony, 8 blind,
9 deco, 10 molding, 11 pillar, 12 shop. [inf] The paper converts labels to grey masks without saying how; here the
wall classes (`structure_classes`, default facade, cornice, sill, deco, molding, pillar) are structure, so windows,
doors, balconies, blinds and shops are the holes TopoGAN counts. The indices are read with Pillow (OpenCV would
expand the palette into colours).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reprozoo.errors import DataValidationError
from reprozoo.papers.topogan.data.patches import Source

WALL_CLASSES = (2, 5, 6, 9, 10, 11)
FOLDERS = ("base", "extended")


def read_labels(path: Path) -> np.ndarray:
    """Class indices uint8 [H, W] of a palette (or 8-bit grey) label PNG."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L"):
                raise DataValidationError(f"{path}: expected a palette or 8-bit label PNG, got mode {image.mode}")
            return np.asarray(image)
    except OSError as exc:
        raise DataValidationError(f"{path}: cannot decode the label PNG ({exc})") from exc


def sources(root: Path, structure_classes: Sequence[int] = WALL_CLASSES) -> list[Source]:
    """One source per label PNG: base/ then extended/, each in name order."""
    classes = np.asarray(list(structure_classes))
    found: list[Source] = []
    for folder in FOLDERS:
        files = sorted(p for p in root.rglob("*.png") if p.parent.name == folder)
        found.extend(Source(p.relative_to(root).as_posix(), 0, lambda p=p: np.isin(read_labels(p), classes)) for p in files)
    if not found:
        raise DataValidationError(f"{root}: no CMP facade label PNGs (base/*.png, extended/*.png) found")
    return found
