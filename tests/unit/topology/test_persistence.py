"""Persistence diagrams, pixel coordinates and Betti numbers of masks (spec §4.1, §5)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reprozoo.topology import (
    DiagramPool,
    betti_number,
    betti_numbers,
    cubical_diagram,
    diagram,
    diagrams,
    distance_transform,
)

from .masks import grid_mask, voronoi_mask, wall_with_gap


@pytest.mark.parametrize("gap", [1, 2, 3, 4, 5])
def test_wall_gap_gives_birth_half_width_at_a_pixel_in_the_gap(gap: int) -> None:
    mask = wall_with_gap(gap, column=30, start=15)
    dgm = diagram(mask)
    almost = np.flatnonzero(dgm.births > 0)
    assert len(almost) == 1
    assert dgm.births[almost[0]] == math.ceil(gap / 2)
    row, col = dgm.birth_pixels[almost[0]]
    assert col == 30 and 15 <= row < 15 + gap  # the saddle is one of the erased wall pixels
    assert betti_number(mask) == 1  # the gap merges the two sides into one hole


def test_closed_loop_has_birth_zero() -> None:
    mask = np.zeros((20, 20), dtype=bool)
    mask[5, 5:15] = mask[14, 5:15] = mask[5:15, 5] = mask[5:15, 14] = True
    dgm = diagram(mask, frame=False)
    assert dgm.pairs.tolist() == [[0.0, 4.0]]  # inner square 8x8: centre pixels are 4 from the wall


def test_cubical_diagram_reads_gudhi_indices_in_fortran_order() -> None:
    # A ring that closes at t=2 through pixel (1, 5) around a centre (2, 5) filled at t=5; the
    # array is not square, so a C-order unravel of gudhi's indices would give other pixels.
    function = np.full((5, 8), 10.0)
    function[1:4, 4:7] = 0.0
    function[1, 5] = 2.0
    function[2, 5] = 5.0
    dgm = cubical_diagram(function, dim=1)
    assert dgm.pairs.tolist() == [[2.0, 5.0]]
    assert dgm.birth_pixels.tolist() == [[1, 5]]
    assert dgm.death_pixels.tolist() == [[2, 5]]


@pytest.mark.parametrize("shape", [(37, 70), (70, 41)])
def test_pixels_carry_their_distance_values_on_non_square_masks(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    mask = grid_mask(3, 2, rng, shape=shape)
    mask &= rng.random(shape) > 0.08  # punch gaps: births > 0
    framed = distance_transform(mask)
    dgm = diagram(mask)
    assert (dgm.births > 0).sum() >= 3
    rows, cols = dgm.birth_pixels.T
    positive = dgm.births > 0
    np.testing.assert_array_equal(framed[rows[positive] + 1, cols[positive] + 1], dgm.births[positive])
    assert not mask[rows[positive], cols[positive]].any()  # almost-holes are born in the background
    rows, cols = dgm.death_pixels.T
    np.testing.assert_array_equal(framed[rows + 1, cols + 1], dgm.deaths)
    unframed = diagram(mask, frame=False)
    raw = distance_transform(mask, frame=False)
    np.testing.assert_array_equal(raw[tuple(unframed.birth_pixels.T)], unframed.births)


@pytest.mark.parametrize("thickness", [1, 2])
@pytest.mark.parametrize("k", [4, 7, 12])
def test_voronoi_masks_have_one_hole_per_cell(k: int, thickness: int) -> None:
    mask = voronoi_mask(k, np.random.default_rng(100 * k + thickness), thickness=thickness)
    assert (diagram(mask).births == 0).sum() == k
    assert betti_number(mask) == k


@pytest.mark.parametrize(("n_rows", "n_cols"), [(1, 1), (1, 3), (3, 3), (4, 2)])
def test_grid_masks_have_product_of_cells_holes(n_rows: int, n_cols: int) -> None:
    mask = grid_mask(n_rows, n_cols, np.random.default_rng(n_rows * 10 + n_cols), width=2)
    assert betti_number(mask) == (n_rows + 1) * (n_cols + 1)
    assert (diagram(mask).births == 0).sum() == (n_rows + 1) * (n_cols + 1)


def test_regular_grid_every_16_px_has_16_holes() -> None:
    mask = np.zeros((64, 64), dtype=bool)
    mask[::16] = True
    mask[:, ::16] = True
    assert betti_number(mask) == 16


def test_frame_turns_border_reaching_branches_into_holes() -> None:
    mask = np.zeros((30, 30), dtype=bool)
    mask[:, 10] = True  # one wall from border to border
    assert betti_number(mask, frame=True) == 2
    assert betti_number(mask, frame=False) == 0
    assert betti_number(mask, dim=0, frame=False) == 1


def test_betti_numbers_match_diagrams_in_both_dimensions() -> None:
    rng = np.random.default_rng(7)
    masks = np.stack(
        [voronoi_mask(int(rng.integers(4, 9)), rng) & (rng.random((64, 64)) > 0.1) for _ in range(6)]
    )
    for frame in (True, False):
        beta1 = betti_numbers(masks, dim=1, frame=frame)
        beta0 = betti_numbers(masks, dim=0, frame=frame)
        for index, mask in enumerate(masks):
            assert beta1[index] == (diagram(mask, dim=1, frame=frame).births == 0).sum()
            # dim 0: one essential component plus the finite points born at 0
            assert beta0[index] == 1 + (diagram(mask, dim=0, frame=frame).births == 0).sum()
            assert beta1[index] == betti_number(mask, dim=1, frame=frame)


def _random_batch(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack(
        [voronoi_mask(int(rng.integers(4, 10)), rng) & (rng.random((64, 64)) > 0.05) for _ in range(count)]
    )


def _assert_same(first: list, second: list) -> None:
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.pairs, b.pairs)
        np.testing.assert_array_equal(a.birth_pixels, b.birth_pixels)
        np.testing.assert_array_equal(a.death_pixels, b.death_pixels)


def test_batched_entry_points_equal_the_per_image_one() -> None:
    masks = _random_batch(7, seed=11)
    single = [diagram(mask) for mask in masks]
    _assert_same(diagrams(masks), single)
    with DiagramPool(workers=2) as pool:
        _assert_same(diagrams(masks, pool=pool), single)
        _assert_same(diagrams(masks[:1], pool=pool), single[:1])


def test_filtered_keeps_points_strictly_above_the_threshold() -> None:
    dgm = diagram(_random_batch(1, seed=3)[0])
    kept = dgm.filtered(1.0)
    assert len(kept) == (dgm.persistence > 1.0).sum() < len(dgm)
    assert (kept.persistence > 1.0).all()
    assert len(kept.birth_pixels) == len(kept.death_pixels) == len(kept)


def test_grey_images_are_rejected() -> None:
    with pytest.raises(TypeError, match="binarise"):
        diagram(np.zeros((8, 8)))
