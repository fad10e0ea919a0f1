"""Small synthetic structure masks with known topology (True = structure), for the topology tests."""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree


def poisson_seeds(k: int, size: int, min_distance: float, rng: np.random.Generator) -> np.ndarray:
    """``k`` points ``[k, 2]`` in ``[3, size - 3)^2`` at least ``min_distance`` apart (dart throwing)."""
    seeds: list[np.ndarray] = []
    while len(seeds) < k:
        candidate = rng.uniform(3, size - 3, size=2)
        if all(np.hypot(*(candidate - seed)) >= min_distance for seed in seeds):
            seeds.append(candidate)
    return np.array(seeds)


def voronoi_mask(k: int, rng: np.random.Generator, size: int = 64, thickness: int = 1) -> np.ndarray:
    """Membranes between the ``k`` Voronoi cells of Poisson-disk seeds: with the frame, beta_1 = k."""
    seeds = poisson_seeds(k, size, 10.0, rng)
    rows, cols = np.mgrid[:size, :size]
    _, labels = cKDTree(seeds).query(np.stack([rows.ravel(), cols.ravel()], axis=1))
    labels = labels.reshape(size, size)
    membrane = np.zeros((size, size), dtype=bool)
    membrane[:-1] |= labels[:-1] != labels[1:]
    membrane[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    if thickness > 1:
        membrane = ndimage.binary_dilation(membrane, iterations=thickness - 1)
    return membrane


def grid_mask(
    n_rows: int, n_cols: int, rng: np.random.Generator, shape: tuple[int, int] = (64, 64), width: int = 1
) -> np.ndarray:
    """``n_rows`` horizontal and ``n_cols`` vertical jittered full-length lines: beta_1 = (r+1)(c+1)."""
    mask = np.zeros(shape, dtype=bool)
    for count, axis in ((n_rows, 0), (n_cols, 1)):
        spacing = shape[axis] / (count + 1)
        for line in range(1, count + 1):
            position = round(line * spacing) + int(rng.integers(-2, 3))
            if axis == 0:
                mask[position : position + width] = True
            else:
                mask[:, position : position + width] = True
    return mask


def wall_with_gap(
    gap: int, shape: tuple[int, int] = (40, 64), column: int = 30, start: int = 15
) -> np.ndarray:
    """A full-height vertical wall at ``column`` with rows ``[start, start + gap)`` erased."""
    mask = np.zeros(shape, dtype=bool)
    mask[:, column] = True
    mask[start : start + gap, column] = False
    return mask


def bars(k: int, shape: tuple[int, int] = (48, 48), width: int = 2, spacing: int = 5) -> np.ndarray:
    """``k`` disjoint horizontal bars of different lengths, none touching the border (``k`` islands)."""
    mask = np.zeros(shape, dtype=bool)
    for i in range(k):
        top = 3 + spacing * i
        mask[top : top + width, 3 : 3 + 8 + 3 * i] = True
    return mask


def random_segments(k: int, rng: np.random.Generator, size: int = 48, width: int = 2, margin: int = 0) -> np.ndarray:
    """``k`` random straight vessel pieces of length 4-14 px with end points at least ``margin`` px inside the
    image; they may cross each other, and reach the border when ``margin`` is small."""
    canvas = np.zeros((size, size), dtype=np.uint8)
    for _ in range(k):
        start = rng.uniform(margin, size - 1 - margin, size=2)
        angle = rng.uniform(0, 2 * np.pi)
        end = start + rng.uniform(4, 14) * np.array([np.cos(angle), np.sin(angle)])
        end = np.clip(end, margin, size - 1 - margin)
        cv2.line(canvas, tuple(int(v) for v in np.round(start)), tuple(int(v) for v in np.round(end)), 255, width)
    return canvas > 0
