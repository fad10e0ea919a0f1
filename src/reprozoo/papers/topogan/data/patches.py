"""From full-size real masks to the paper's fixed-size mask patches, and from sources to splits.

Every real format module (`cremi`, `isbi`, `maps`, `facade`, `retina`) lists its full-size masks as `Source`s; this
module cuts them into patches the same way for all of them (spec §5):

- `crop` an int: random square crops of that side, resized to `size` (ISBI: 50 crops of 128 per slice → 64);
  crops whose structure fraction lies outside `fraction` are redrawn (blank or all-structure crops carry no topology);
- `crop` "center": the central square of the image, resized (Retina: "cropped and resized to 128×128");
- `crop` None: the whole image resized to size × size, aspect not kept (Facade: "resize all 606 labels to 128×128").

Resizing a binary mask goes through grey (structure 0, background 255) with area interpolation and a threshold at
127.5, the same binarisation the generator's outputs get at τ = 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import cv2
import numpy as np

STRUCTURE, BACKGROUND = 0, 255
SPLITS = ("train", "val", "test")
ATTEMPTS_PER_PATCH = 20


@dataclass(frozen=True)
class Source:
    """One full-size mask of a dataset, decoded on demand (a CREMI slice is 1250² and there are 375 of them).

    path: the file, relative to the dataset root (posix). index: the slice in a stack (0 for a 2-D file).
    load: () → bool [H, W], True = structure.
    """

    path: str
    index: int
    load: Callable[[], np.ndarray]


@dataclass(frozen=True)
class Patch:
    """A patch cut from a source: bool [size, size] structure mask and where it came from (source pixels)."""

    structure: np.ndarray
    row: int
    col: int
    side: int


def to_grey(structure: np.ndarray) -> np.ndarray:
    """bool structure mask [...] → uint8 grey [...] with structure 0 and background 255 (the on-disk polarity)."""
    return np.where(structure, STRUCTURE, BACKGROUND).astype(np.uint8)


def from_grey(grey: np.ndarray) -> np.ndarray:
    """uint8 grey [...] in the on-disk polarity → bool structure mask (≤ 127 is structure)."""
    return np.asarray(grey) <= 127


def resize_structure(structure: np.ndarray, size: int) -> np.ndarray:
    """bool [H, W] → bool [size, size] by area interpolation of the grey mask and a threshold at 127.5."""
    if structure.shape == (size, size):
        return structure
    interpolation = cv2.INTER_AREA if min(structure.shape) >= size else cv2.INTER_LINEAR
    return from_grey(cv2.resize(to_grey(structure), (size, size), interpolation=interpolation))


def _in_range(structure: np.ndarray, fraction: tuple[float, float]) -> bool:
    return fraction[0] <= float(structure.mean()) <= fraction[1]


def cut_patches(
    structure: np.ndarray,
    *,
    count: int,
    crop: int | str | None,
    size: int,
    fraction: tuple[float, float],
    rng: np.random.Generator,
) -> list[Patch]:
    """Patches of one full-size structure mask [H, W] (see the module docstring for `crop`).

    Random crops are redrawn until their structure fraction lies in `fraction` (at most 20 draws per patch, so a
    source with too little structure gives fewer patches); whole-image modes give one patch whatever its fraction,
    and the validation suite judges it.
    """
    height, width = structure.shape
    if crop is None:
        return [Patch(resize_structure(structure, size), 0, 0, max(height, width))]
    if crop == "center":
        side = min(height, width)
        row, col = (height - side) // 2, (width - side) // 2
        return [Patch(resize_structure(structure[row : row + side, col : col + side], size), row, col, side)]
    side = int(crop)
    if side > min(height, width):
        raise ValueError(f"crop {side} is larger than the source ({height}×{width})")
    patches: list[Patch] = []
    for _ in range(count * ATTEMPTS_PER_PATCH):
        if len(patches) == count:
            break
        row, col = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
        window = structure[row : row + side, col : col + side]
        if _in_range(window, fraction):
            patches.append(Patch(resize_structure(window, size), row, col, side))
    return patches


def patches_per_source(total: int | None, n_sources: int) -> list[int]:
    """Spread `total` patches evenly over `n_sources` (earlier sources take the remainder); None = one each."""
    if total is None:
        return [1] * n_sources
    base, extra = divmod(int(total), n_sources)
    return [base + (i < extra) for i in range(n_sources)]


def assign_splits(n_sources: int, weights: Mapping[str, float]) -> list[str]:
    """Split of each source, in source order: contiguous blocks sized by `weights` (split → weight, normalised).

    Contiguous blocks keep neighbouring slices of a stack (near-duplicates) in one split. With weights equal to
    counts that sum to `n_sources` the blocks have exactly those sizes.
    """
    unknown = set(weights) - set(SPLITS)
    if unknown:
        raise ValueError(f"splits: unknown split(s) {sorted(unknown)} (known: {', '.join(SPLITS)})")
    values = np.array([float(weights.get(split, 0.0)) for split in SPLITS])
    if (values < 0).any() or values.sum() <= 0:
        raise ValueError(f"splits: weights must be ≥ 0 with a positive sum, got {dict(weights)}")
    bounds = np.round(np.cumsum(values) / values.sum() * n_sources).astype(int)
    return [SPLITS[int(np.searchsorted(bounds, i, side="right"))] for i in range(n_sources)]
