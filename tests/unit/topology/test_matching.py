"""Set-level OT matching (spec §4.3) and point matching (§4.4)."""

from __future__ import annotations

import numpy as np
import pytest

from reprozoo.topology import (
    Diagram,
    betti_number,
    diagram,
    match_diagram_sets,
    match_points,
    pairwise_birth_w1,
)

from .masks import grid_mask

CONFIGS = [(1, 1), (1, 2), (2, 2), (2, 3), (3, 3), (3, 4)]


def _dgm(pairs: list[list[float]]) -> Diagram:
    array = np.asarray(pairs, dtype=np.float64).reshape(-1, 2)
    pixels = np.zeros((len(array), 2), dtype=np.int64)
    return Diagram(array, pixels, pixels)


def _break_vertical_lines(
    mask: np.ndarray, n_gaps: int, rng: np.random.Generator, width: int = 2
) -> np.ndarray:
    """Erase ``n_gaps`` segments of ``width`` px from vertical lines, away from the crossings."""
    mask = mask.copy()
    columns = np.flatnonzero(mask.all(axis=0))
    rows = np.flatnonzero(mask.all(axis=1))
    erased = 0
    while erased < n_gaps:
        column, row = rng.choice(columns), int(rng.integers(4, mask.shape[0] - 4 - width))
        if (
            np.abs(rows[:, None] - np.arange(row - 3, row + width + 3)).min() == 0
            or not mask[row : row + width, column].all()
        ):
            continue
        mask[row : row + width, column] = False
        erased += 1
    return mask


@pytest.fixture(scope="module")
def grids() -> dict[str, list[np.ndarray]]:
    """Intact grids of 6 hole counts (``source``), broken copies of them and 2 real grids per count."""
    rng = np.random.default_rng(3)
    source = [grid_mask(r, c, rng) for r, c in CONFIGS]
    return {
        "source": source,
        "broken": [_break_vertical_lines(mask, int(rng.integers(1, 3)), rng) for mask in source],
        "real": [grid_mask(r, c, rng) for r, c in CONFIGS for _ in range(2)],
    }


def test_ot_maps_each_broken_mask_to_a_real_mask_with_its_intact_hole_count(grids) -> None:
    broken, real = grids["broken"], grids["real"]
    intact_counts = [(r + 1) * (c + 1) for r, c in CONFIGS]
    assert [betti_number(m) for m in broken] != intact_counts  # the gaps did merge holes
    matching = match_diagram_sets([diagram(m) for m in broken], [diagram(m) for m in real], mode="diag_slice")
    assert [betti_number(real[j]) for j in matching.assignment] == intact_counts
    np.testing.assert_allclose(matching.plan.sum(axis=1), 1 / len(broken))
    np.testing.assert_allclose(matching.plan.sum(axis=0), 1 / len(real))
    np.testing.assert_allclose(
        matching.matched_cost, matching.cost[np.arange(len(broken)), matching.assignment]
    )


def test_code_distance_is_blind_to_hole_counts(grids) -> None:
    # uniform1d compares normalised birth distributions: intact grids (all births 0) are at
    # distance 0 whatever their hole counts, so the set matching cannot prefer a compatible count.
    real = [diagram(m) for m in grids["real"]]
    counts = np.array([len(d) for d in real])
    assert len(set(counts)) == len(CONFIGS)
    np.testing.assert_allclose(pairwise_birth_w1(real, mode="uniform1d"), 0.0)
    paper = pairwise_birth_w1(real, mode="diag_slice")
    assert (paper[counts[:, None] != counts[None, :]] > 0).all()  # the paper's form counts points


def test_code_point_matching_closes_every_almost_hole_against_its_intact_mask(grids) -> None:
    for broken, source in zip(grids["broken"], grids["source"], strict=True):
        dgm = diagram(broken)
        targets = match_points(dgm, diagram(source))
        assert (dgm.births > 0).any()
        np.testing.assert_array_equal(targets[dgm.births > 0], 0.0)


def test_point_matching_with_fewer_synthetic_points_gives_every_point_a_target() -> None:
    synthetic = _dgm([[2, 5], [0, 4]])
    real = _dgm([[0, 3], [0, 6], [1, 2], [3, 7]])
    # sorted coupling: 0 -> {0, 0}, 2 -> {1, 3}; ties go to the first real index
    np.testing.assert_array_equal(match_points(synthetic, real), [1.0, 0.0])


def test_point_matching_with_more_synthetic_points_leaves_some_without_target() -> None:
    synthetic = _dgm([[0, 4], [3, 5], [1, 6]])
    real = _dgm([[0, 3], [2, 6]])
    # plan on sorted births (0, 1, 3) vs (0, 2): real 0 <- syn 0 (1/3); real 2 <- syn 3 (1/3)
    np.testing.assert_array_equal(match_points(synthetic, real), [0.0, 2.0, np.nan])


def test_paper_point_matching_sends_far_points_to_the_diagonal() -> None:
    synthetic = _dgm([[0, 10], [4, 5]])  # the second point is close to the diagonal
    real = _dgm([[0, 9]])
    np.testing.assert_array_equal(match_points(synthetic, real, mode="diag_slice"), [0.0, np.nan])
    assert np.isnan(match_points(synthetic, _dgm([]))).all()
