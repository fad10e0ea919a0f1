"""SynthMembranes: structure masks with controlled topology, written in the ISBI 2012 layout (see `isbi.py`).

It stands in for ISBI 2012 / CREMI membrane masks on the default profile: one slice per mask, already at the patch
size, so preprocess reads it exactly as the real ISBI stack (with `patches.crop: null`, no resizing). Families
(spec §5; mixed by the `families` weights):

- `voronoi` (CREMI/ISBI-like): k ~ U{cells} Poisson-disk seeds (min distance `min_distance` × size), membrane =
  pixels whose lower or right neighbour is in another cell, thickened to t ~ U{thickness}. With the frame β1 = k.
- `grid` (Maps-like): r, c ~ U{lines} jittered full-length lines of width ~ U{width}: β1 = (r + 1)(c + 1).
- `broken` (a "bad generator" reference): a Voronoi mask with g ~ U{gaps} walls cut by a square of side
  w ~ U{length} (+ thickness − 1) away from junctions: g almost-holes, β1 lowered by up to g.
- `vessel` (Retina-like, dim 0): n ~ U{trees} random binary trees of tapering polylines grown from the border (so
  with the frame β0 = 1: no island); `pipelines/dataset/synthvessels.yaml` is this family alone, with dim 0.

The EM volume beside the labels is a cheap texture (bright cells, dark blurred membranes, noise): it exists so the
layout is complete, TopoGAN never reads it. Deterministic: slice i is drawn from `default_rng([seed, i])`.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from tqdm import tqdm

from reprozoo.papers.topogan.data import isbi
from reprozoo.papers.topogan.data.patches import to_grey

FAMILIES = ("voronoi", "grid", "broken", "vessel")
DEFAULTS: dict[str, dict[str, Any]] = {
    "voronoi": {"cells": (4, 12), "min_distance": 0.15, "thickness": (1, 2)},
    "grid": {"lines": (1, 4), "width": (1, 2)},
    "broken": {"gaps": (1, 3), "length": (1, 4)},
    "vessel": {"trees": (1, 3), "depth": (3, 5), "width": (1, 3)},
}
_DART_TRIES = 2000
MIN_CELL_AREA = 6


def _draw(rng: np.random.Generator, bounds: tuple[int, int] | list[int]) -> int:
    """An integer uniform on the closed range `bounds` = (low, high)."""
    return int(rng.integers(int(bounds[0]), int(bounds[1]) + 1))


def poisson_seeds(k: int, size: int, min_distance: float, rng: np.random.Generator) -> np.ndarray:
    """Up to `k` points [k', 2] in [3, size − 3)² at least `min_distance` apart (dart throwing, bounded tries)."""
    seeds: list[np.ndarray] = []
    for _ in range(_DART_TRIES):
        if len(seeds) == k:
            break
        candidate = rng.uniform(3, size - 3, size=2)
        if all(np.hypot(*(candidate - seed)) >= min_distance for seed in seeds):
            seeds.append(candidate)
    return np.array(seeds)


def voronoi_labels(rng: np.random.Generator, size: int, cells: tuple[int, int], min_distance: float) -> np.ndarray:
    """Cell index int [size, size] of the nearest of k ~ U{cells} Poisson-disk seeds."""
    seeds = poisson_seeds(_draw(rng, cells), size, min_distance * size, rng)
    rows, cols = np.mgrid[:size, :size]
    _, labels = cKDTree(seeds).query(np.stack([rows.ravel(), cols.ravel()], axis=1))
    return labels.reshape(size, size)


def membranes(labels: np.ndarray, thickness: int) -> np.ndarray:
    """bool [H, W]: pixels whose lower or right neighbour has another label, dilated `thickness − 1` times.

    Dilation can pinch off a pocket of a few pixels (at a junction, or between a wall and the image border); such
    pockets (< `MIN_CELL_AREA` px) are filled, so that every hole is a cell.
    """
    wall = np.zeros(labels.shape, dtype=bool)
    wall[:-1] |= labels[:-1] != labels[1:]
    wall[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    if thickness > 1:
        wall = ndimage.binary_dilation(wall, iterations=thickness - 1)
    pockets, n = ndimage.label(~wall)
    areas = np.bincount(pockets.ravel(), minlength=n + 1)
    return wall | ((areas < MIN_CELL_AREA) & (np.arange(n + 1) > 0))[pockets]


def voronoi(rng: np.random.Generator, size: int, cells=(4, 12), min_distance=0.15, thickness=(1, 2)) -> np.ndarray:
    """Voronoi membrane mask bool [size, size] (True = membrane); with the frame β1 = number of cells."""
    return membranes(voronoi_labels(rng, size, cells, min_distance), _draw(rng, thickness))


def grid(rng: np.random.Generator, size: int, lines=(1, 4), width=(1, 2)) -> np.ndarray:
    """Jittered full-length road grid bool [size, size]: r horizontal and c vertical lines, β1 = (r + 1)(c + 1)."""
    mask = np.zeros((size, size), dtype=bool)
    for axis in (0, 1):
        count = _draw(rng, lines)
        spacing = size / (count + 1)
        for line in range(1, count + 1):
            position = int(np.clip(round(line * spacing) + int(rng.integers(-2, 3)), 0, size - 2))
            w = _draw(rng, width)
            if axis == 0:
                mask[position : position + w] = True
            else:
                mask[:, position : position + w] = True
    return mask


def break_walls(mask: np.ndarray, labels: np.ndarray, rng: np.random.Generator, gaps=(1, 3), length=(1, 4), thickness: int = 1) -> np.ndarray:
    """Cut g ~ U{gaps} walls of `mask` [H, W] by erasing a square of side w ~ U{length} + thickness − 1 centred on a
    wall pixel whose 5 × 5 neighbourhood meets exactly two cells of `labels` (a wall, not a junction)."""
    out = mask.copy()
    cells_near = sum(ndimage.maximum_filter(labels == cell, size=5, mode="nearest").astype(int) for cell in np.unique(labels))
    candidates = np.argwhere(mask & (cells_near == 2))
    n_gaps = min(_draw(rng, gaps), len(candidates))
    for row, col in candidates[rng.choice(len(candidates), size=n_gaps, replace=False)] if n_gaps else []:
        side = _draw(rng, length) + thickness - 1
        top, left = max(row - side // 2, 0), max(col - side // 2, 0)
        out[top : top + side, left : left + side] = False
    return out


def broken(rng: np.random.Generator, size: int, voronoi_params: Mapping[str, Any], gaps=(1, 3), length=(1, 4)) -> np.ndarray:
    """A Voronoi membrane mask [size, size] with some walls cut (almost-holes)."""
    labels = voronoi_labels(rng, size, voronoi_params["cells"], voronoi_params["min_distance"])
    thickness = _draw(rng, voronoi_params["thickness"])
    return break_walls(membranes(labels, thickness), labels, rng, gaps, length, thickness)


def vessel(rng: np.random.Generator, size: int, trees=(1, 3), depth=(3, 5), width=(1, 3)) -> np.ndarray:
    """Vessel-like trees bool [size, size]: tapering binary branchings grown inward from random border points."""
    canvas = np.zeros((size, size), dtype=np.uint8)
    for _ in range(_draw(rng, trees)):
        side = int(rng.integers(4))
        along = float(rng.uniform(0.2, 0.8) * (size - 1))
        start = [(along, 0.0), (along, size - 1.0), (0.0, along), (size - 1.0, along)][side]  # (x, y)
        heading = [np.pi / 2, -np.pi / 2, 0.0, np.pi][side] + rng.uniform(-0.4, 0.4)
        stack = [(np.array(start), heading, size * 0.35, _draw(rng, width), _draw(rng, depth))]
        while stack:
            point, angle, length, w, levels = stack.pop()
            end = point + length * np.array([np.cos(angle), np.sin(angle)])
            cv2.line(canvas, tuple(int(v) for v in np.round(point)), tuple(int(v) for v in np.round(end)), 255, max(w, 1))
            if levels > 1:
                for turn in (-1.0, 1.0):
                    stack.append((end, angle + turn * rng.uniform(0.35, 0.8), length * 0.7, max(w - 1, 1), levels - 1))
    return canvas > 0


def em_slice(structure: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A fake EM slice uint8 [H, W] for a membrane mask: bright cells, dark blurred membranes, Gaussian noise."""
    intensity = np.where(structure, 60.0, 170.0)
    intensity = cv2.GaussianBlur(intensity, (0, 0), 1.0) + rng.normal(0.0, 15.0, structure.shape)
    return np.clip(intensity, 0, 255).astype(np.uint8)


def draw_mask(family: str, rng: np.random.Generator, size: int, params: Mapping[str, Mapping[str, Any]]) -> np.ndarray:
    """One mask bool [size, size] of `family` with its `params` (missing keys take `DEFAULTS`)."""
    merged = {name: {**DEFAULTS[name], **dict(params.get(name) or {})} for name in FAMILIES}
    if family == "voronoi":
        return voronoi(rng, size, **merged["voronoi"])
    if family == "grid":
        return grid(rng, size, **merged["grid"])
    if family == "broken":
        return broken(rng, size, merged["voronoi"], **merged["broken"])
    if family == "vessel":
        return vessel(rng, size, **merged["vessel"])
    raise ValueError(f"family '{family}': unknown (known: {', '.join(FAMILIES)})")


def generate(
    root: Path,
    *,
    size: int,
    count: int,
    families: Mapping[str, float],
    params: Mapping[str, Mapping[str, Any]],
    seed: int,
    progress: bool = True,
) -> int:
    """Write `count` slices of size × size into `root` (replaced atomically) as ISBI 2012 TIFF stacks.

    `families` maps family → mixture weight (normalised). Returns the number of slices written.
    """
    names = [name for name, weight in families.items() if float(weight) > 0]
    if not names or set(names) - set(FAMILIES):
        raise ValueError(f"families: need positive weights over {FAMILIES}, got {dict(families)}")
    weights = np.array([float(families[name]) for name in names])
    labels = np.empty((count, size, size), dtype=np.uint8)
    volume = np.empty_like(labels)
    for i in tqdm(range(count), desc=f"generate {root.name}", disable=not progress):
        rng = np.random.default_rng([seed, i])
        structure = draw_mask(names[int(rng.choice(len(names), p=weights / weights.sum()))], rng, size, params)
        labels[i] = to_grey(structure)
        volume[i] = em_slice(structure, rng)
    work = root.with_name(root.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    isbi.write_stack(work / isbi.LABELS, labels)
    isbi.write_stack(work / isbi.VOLUME, volume)
    shutil.rmtree(root, ignore_errors=True)
    work.rename(root)
    return count
