"""Betti score, unbiased MMD² of diagram sets and the proxy FID on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reprozoo.papers.topogan.data import synthmembranes
from reprozoo.papers.topogan.metrics import RandomFeatures, betti_score, fid_proxy, nearest_real, unbiased_mmd2
from reprozoo.topology import diagrams


def test_betti_score_is_the_chi2_distance_between_histograms() -> None:
    assert betti_score(np.array([1, 2, 2, 3]), np.array([3, 2, 1, 2])) == 0.0
    assert betti_score(np.array([0, 0]), np.array([5, 5, 5])) == pytest.approx(2.0)  # disjoint supports: the maximum
    # p = (1/2, 1/2, 0), q = (0, 1/2, 1/2): (1/4)/(1/2) + 0 + (1/4)/(1/2)
    assert betti_score(np.array([0, 1]), np.array([1, 2])) == pytest.approx(1.0)


def _membranes(n: int, seed: int, cells: tuple[int, int], broken: bool = False) -> list:
    masks = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        labels = synthmembranes.voronoi_labels(rng, 32, cells, 0.15)
        mask = synthmembranes.membranes(labels, 1)
        masks.append(synthmembranes.break_walls(mask, labels, rng, (2, 3), (3, 4)) if broken else mask)
    return diagrams(np.stack(masks))


@pytest.fixture(scope="module")
def diagram_sets() -> dict[str, list]:
    return {
        "real": _membranes(40, 1, (4, 8)),
        "same": _membranes(40, 2, (4, 8)),
        "more_cells": _membranes(40, 3, (10, 14)),
        "broken": _membranes(40, 4, (4, 8), broken=True),
    }


def test_unbiased_mmd_is_near_zero_for_one_distribution_and_grows_with_a_different_one(diagram_sets) -> None:
    rng = lambda: np.random.default_rng(0)  # noqa: E731
    same, _ = unbiased_mmd2(diagram_sets["same"], diagram_sets["real"], rng=rng(), subset=1.0, mode="diag_slice")
    cells, sigma = unbiased_mmd2(diagram_sets["more_cells"], diagram_sets["real"], rng=rng(), subset=1.0, mode="diag_slice")
    broken, _ = unbiased_mmd2(diagram_sets["broken"], diagram_sets["real"], rng=rng(), subset=1.0, min_persistence=0.0, mode="diag_slice")
    assert abs(same) < 0.05 and cells > 0.2 and broken > 0.05 and sigma > 0
    # the code's uniform1d W1 normalises counts: clean masks with more holes are invisible to it
    blind, _ = unbiased_mmd2(diagram_sets["more_cells"], diagram_sets["real"], rng=rng(), subset=1.0, mode="uniform1d")
    assert abs(blind) < 0.05


def test_nearest_real_finds_an_identical_diagram_at_distance_zero(diagram_sets) -> None:
    real = diagram_sets["real"]
    distances, index = nearest_real(real[:5], real, mode="diag_slice")
    np.testing.assert_allclose(distances, 0.0, atol=1e-12)
    assert [len(real[i]) for i in index] == [len(d) for d in real[:5]]


def _vessels(n: int, seed: int, cuts: int = 0) -> list:
    """dim-0 diagrams of 32 × 32 vessel trees, each with `cuts` 3 × 3 holes punched on vessel pixels (islands)."""
    masks = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        mask = synthmembranes.vessel(rng, 32)
        for row, col in np.argwhere(mask)[rng.choice(int(mask.sum()), size=cuts, replace=False)]:
            mask[max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2] = False
        masks.append(mask)
    return diagrams(np.stack(masks), dim=0)


def test_dim0_metrics_compare_deaths_and_see_islands() -> None:
    real, same, cut = _vessels(30, 1), _vessels(30, 2), _vessels(30, 3, cuts=4)
    assert sum(len(d) for d in real + same) == 0 and sum(len(d) > 0 for d in cut) >= 20  # trees touch the border
    rng = lambda: np.random.default_rng(0)  # noqa: E731
    kwargs = {"subset": 1.0, "min_persistence": 0.0, "mode": "diag_slice"}
    clean, _ = unbiased_mmd2(same, real, rng=rng(), project="death", **kwargs)
    islands, _ = unbiased_mmd2(cut, real, rng=rng(), project="death", **kwargs)
    assert abs(clean) < 1e-9 and islands > 0.2
    has_islands = np.array([len(d) > 0 for d in cut])
    for mode in ("diag_slice", "uniform1d"):
        distances, _ = nearest_real(cut, real, mode=mode, project="death")
        assert (distances[has_islands] > 0).all() and (distances[~has_islands] == 0).all()
    # every dim-0 point is born at 0: the code's births-only W1 cannot see the islands
    blind, _ = nearest_real(cut, real, mode="uniform1d", project="birth")
    np.testing.assert_allclose(blind, 0.0)


def test_random_features_are_deterministic_and_fid_proxy_separates_distributions() -> None:
    images = torch.rand(8, 1, 32, 32)
    torch.testing.assert_close(RandomFeatures(32, seed=0)(images), RandomFeatures(32, seed=0)(images))
    assert not torch.allclose(RandomFeatures(32, seed=0)(images), RandomFeatures(32, seed=1)(images))
    rng = np.random.default_rng(0)
    grid = lambda n: torch.from_numpy(~np.stack([synthmembranes.grid(rng, 32) for _ in range(n)])).float()[:, None]  # noqa: E731
    noise = (torch.rand(200, 1, 32, 32) > 0.5).float()
    close, far = fid_proxy(grid(200), grid(200), features=32), fid_proxy(grid(200), noise, features=32)
    assert 0 <= close < far / 10
