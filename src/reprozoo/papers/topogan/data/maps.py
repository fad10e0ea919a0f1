"""The pix2pix "maps" layout (Google Maps, Isola et al.): aerial photo and map side by side in one JPEG.

    <root>/**/train/<n>.jpg, **/val/<n>.jpg     W = 2·H (600 | 600 px in the real set: 1096 train, 1098 val)

The map is the right half (`side: right`). Roads are white on Google's map tiles, so a pixel is structure (road) when
every colour channel is at least `road_min` (JPEG noise keeps roads at ≈ 250–255, land is ≈ 233–242 on its lowest
channel, water, parks and highways lower still). [inf] the paper only says "converted into grayscale"; this rule is
ours and is a config value.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from reprozoo.errors import DataValidationError
from reprozoo.papers.topogan.data.patches import Source

SPLIT_FOLDERS = ("train", "val")


def roads(pair_bgr: np.ndarray, side: str = "right", road_min: int = 248) -> np.ndarray:
    """One pix2pix pair [H, 2H, 3] (BGR) → bool road mask [H, H] of its map half."""
    width = pair_bgr.shape[1] // 2
    half = pair_bgr[:, width:] if side == "right" else pair_bgr[:, :width]
    return half.min(axis=2) >= road_min


def _number(path: Path) -> tuple[int, str]:
    match = re.match(r"\d+", path.stem)
    return (int(match.group()) if match else -1, path.stem)


def _load(path: Path, side: str, road_min: int) -> np.ndarray:
    pair = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if pair is None or pair.shape[1] < 2:
        raise DataValidationError(f"{path}: cannot decode the image")
    return roads(pair, side, road_min)


def sources(root: Path, side: str = "right", road_min: int = 248) -> list[Source]:
    """One source per JPEG pair: train/ then val/ files, each in numeric order."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    found: list[Source] = []
    for folder in SPLIT_FOLDERS:
        files = sorted((p for p in root.rglob("*.jpg") if p.parent.name == folder), key=_number)
        found.extend(Source(p.relative_to(root).as_posix(), 0, lambda p=p: _load(p, side, road_min)) for p in files)
    if not found:
        raise DataValidationError(f"{root}: no pix2pix maps pairs (train/*.jpg, val/*.jpg) found")
    return found
