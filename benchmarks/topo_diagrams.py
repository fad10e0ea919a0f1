"""Benchmark of the topology primitives on one TopoGAN generator step (CPU).

Times, on a batch of 64x64 membrane masks with broken walls:
  * diagrams of the batch: per-image loop, one gudhi call on a mosaic of the batch, DiagramPool;
  * the W1 matrix to the real subset, the set-level OT (ot.emd) and the point matchings;
  * the painting surrogate (plan + forward + backward) and the whole topo_loss.

Usage: PYTHONPATH=src python benchmarks/topo_diagrams.py [--batch 32] [--n-real 750] [--repeats 7]
Prints a markdown table (median wall time over the repeats).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import gudhi
import numpy as np
import torch
from scipy.spatial import cKDTree

from reprozoo.topology import (
    DiagramPool,
    diagram,
    diagrams,
    distance_transform,
    match_diagram_sets,
    match_points,
    pairwise_birth_w1,
    plan_bridges,
    surrogate_loss,
    topo_loss,
)


def membrane(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """Voronoi membrane mask (True = structure) of 4..12 cells."""
    seeds = rng.uniform(3, size - 3, size=(int(rng.integers(4, 13)), 2))
    rows, cols = np.mgrid[:size, :size]
    _, labels = cKDTree(seeds).query(np.stack([rows.ravel(), cols.ravel()], axis=1))
    labels = labels.reshape(size, size)
    mask = np.zeros((size, size), dtype=bool)
    mask[:-1] |= labels[:-1] != labels[1:]
    mask[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    return mask


def broken(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Erase 1..3 square patches of 2..4 px on the membrane: almost-holes."""
    mask = mask.copy()
    on_wall = np.argwhere(mask)
    for row, col in on_wall[rng.choice(len(on_wall), size=int(rng.integers(1, 4)))]:
        width = int(rng.integers(2, 5))
        mask[
            max(row - width // 2, 0) : row + width - width // 2,
            max(col - width // 2, 0) : col + width - width // 2,
        ] = False
    return mask


def mosaic_diagrams(masks: np.ndarray) -> list[np.ndarray]:
    """Alternative batched path: one cubical complex of the framed masks side by side (sorted pairs only)."""
    fields = [distance_transform(mask) for mask in masks]
    width = fields[0].shape[1]
    mosaic = np.concatenate(fields, axis=1)
    complex_ = gudhi.CubicalComplex(top_dimensional_cells=mosaic)
    complex_.compute_persistence(homology_coeff_field=2)
    cells = np.asarray(complex_.cofaces_of_persistence_pairs()[0][1]).reshape(-1, 2)
    values = mosaic.ravel(order="F")
    tile = np.unravel_index(cells[:, 0], mosaic.shape, order="F")[1] // width
    pairs = [
        np.stack([values[cells[tile == i, 0]], values[cells[tile == i, 1]]], axis=1)
        for i in range(len(masks))
    ]
    return [p[np.lexsort((p[:, 1], p[:, 0]))] for p in pairs]


def timed(function: Callable[[], object], repeats: int) -> float:
    """Median wall time in milliseconds (after one warm-up call)."""
    function()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return 1e3 * statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--n-real", type=int, default=750)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)

    real_masks = np.stack([membrane(rng) for _ in range(args.n_real)])
    fake_masks = np.stack([broken(membrane(rng), rng) for _ in range(args.batch)])
    images = torch.where(torch.from_numpy(fake_masks), -0.9, 0.9)[:, None].float()

    start = time.perf_counter()
    pool = DiagramPool(workers=2)
    pool.diagrams(fake_masks[:2])
    pool_startup = 1e3 * (time.perf_counter() - start)
    real = diagrams(real_masks, pool=pool)
    fake = diagrams(fake_masks)
    assert all(np.array_equal(a.pairs, b) for a, b in zip(fake, mosaic_diagrams(fake_masks), strict=True))
    matching = match_diagram_sets(fake, real)
    targets = [match_points(d, real[j]) for d, j in zip(fake, matching.assignment, strict=True)]
    plan = plan_bridges(fake_masks, fake, targets)

    def surrogate_step() -> None:
        painted = plan_bridges(fake_masks, fake, targets)
        pixels = images.clone().requires_grad_()
        surrogate_loss(pixels, painted, variant="bce").backward()

    def full_step(with_pool: bool) -> Callable[[], None]:
        def run() -> None:
            pixels = images.clone().requires_grad_()
            topo_loss(pixels, real, pool=pool if with_pool else None).loss.backward()

        return run

    b, r, n = args.batch, args.n_real, args.repeats
    rows = [
        (
            f"diagrams, per-image loop (`diagram` x {b})",
            f"{b} masks 64x64",
            timed(lambda: [diagram(m) for m in fake_masks], n),
        ),
        (
            "diagrams, one gudhi call on a mosaic of the batch",
            f"{b} masks 64x64",
            timed(lambda: mosaic_diagrams(fake_masks), n),
        ),
        (
            "diagrams, `DiagramPool(workers=2)`",
            f"{b} masks 64x64",
            timed(lambda: diagrams(fake_masks, pool=pool), n),
        ),
        ("`DiagramPool(workers=2)` start-up (once per run)", "-", pool_startup),
        (
            "W1 matrix, `uniform1d` (`pairwise_birth_w1`)",
            f"{b} x {r}",
            timed(lambda: pairwise_birth_w1(fake, real), n),
        ),
        (
            "W1 matrix, `diag_slice`",
            f"{b} x {r}",
            timed(lambda: pairwise_birth_w1(fake, real, mode="diag_slice"), n),
        ),
        (
            "set matching: W1 matrix + `ot.emd` (`match_diagram_sets`)",
            f"{b} x {r}",
            timed(lambda: match_diagram_sets(fake, real), n),
        ),
        (
            "point matchings (`match_points` x batch)",
            f"{b} pairs",
            timed(
                lambda: [match_points(d, real[j]) for d, j in zip(fake, matching.assignment, strict=True)], n
            ),
        ),
        (
            f"surrogate: paint ({plan.n_points} bridges) + BCE forward + backward",
            f"{b}x1x64x64",
            timed(surrogate_step, n),
        ),
        ("whole `topo_loss` + backward, serial diagrams", f"{b} vs {r}", timed(full_step(False), n)),
        ("whole `topo_loss` + backward, `DiagramPool(2)`", f"{b} vs {r}", timed(full_step(True), n)),
    ]
    pool.close()
    points = sum(len(d) for d in fake) / b
    print(f"batch {b}, n_real {r}, median of {n} runs; {points:.1f} points per fake diagram\n")
    print("| operation | size | time (ms) |")
    print("|---|---|---|")
    for name, size, millis in rows:
        print(f"| {name} | {size} | {millis:.1f} |")


if __name__ == "__main__":
    main()
