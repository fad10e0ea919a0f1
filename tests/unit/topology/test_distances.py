"""Birth-only W1 in its two forms (spec §4.2) and the diagram kernel."""

from __future__ import annotations

import numpy as np
import ot
import pytest
from scipy.stats import wasserstein_distance

from reprozoo.topology import Diagram, birth_w1, diagram, pairwise_birth_w1, w1_gaussian_kernel

from .masks import voronoi_mask


def _dgm(pairs: list[list[float]]) -> Diagram:
    array = np.asarray(pairs, dtype=np.float64).reshape(-1, 2)
    pixels = np.zeros((len(array), 2), dtype=np.int64)
    return Diagram(array, pixels, pixels)


def _random_dgm(rng: np.random.Generator, size: int) -> Diagram:
    births = rng.choice([0.0, 1.0, np.sqrt(2), 2.0, 3.0], size=size)
    return _dgm(np.stack([births, births + rng.uniform(0.5, 8.0, size=size)], axis=1).tolist())


def test_uniform1d_hand_computed() -> None:
    # quantiles: {0, 1} vs {0, 0, 3}; |F1^-1 - F2^-1| = 1 on [1/2, 2/3), 2 on [2/3, 1) -> 1/6 + 2/3
    first = _dgm([[0, 2], [1, 4]])
    second = _dgm([[0, 1], [0, 5], [3, 4]])
    assert birth_w1(first, second) == pytest.approx(5 / 6, abs=1e-12)


def test_diag_slice_hand_computed() -> None:
    # U = {1} + mids{1, 4} = {1, 1, 4}; V = {0, 2} + mid{2} = {0, 2, 2}: |1-0| + |1-2| + |4-2| = 4
    first = _dgm([[1, 3]])
    second = _dgm([[0, 2], [2, 6]])
    assert birth_w1(first, second, mode="diag_slice") == pytest.approx(4.0, abs=1e-12)
    # a lone point only pays its distance to the diagonal on the birth axis: (d - b) / 2
    assert birth_w1(_dgm([[1, 5]]), _dgm([]), mode="diag_slice") == pytest.approx(2.0, abs=1e-12)


def test_forms_agree_with_pot_and_scipy_on_shared_inputs() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        first, second = _random_dgm(rng, int(rng.integers(1, 12))), _random_dgm(rng, int(rng.integers(1, 12)))
        expected = ot.wasserstein_1d(first.births, second.births, p=1)
        assert birth_w1(first, second) == pytest.approx(expected, abs=1e-9)
        assert birth_w1(first, second) == pytest.approx(
            wasserstein_distance(first.births, second.births), abs=1e-9
        )
        u = np.concatenate([first.births, second.pairs.mean(axis=1)])
        v = np.concatenate([second.births, first.pairs.mean(axis=1)])
        expected_slice = np.abs(np.sort(u) - np.sort(v)).sum()
        assert birth_w1(first, second, mode="diag_slice") == pytest.approx(expected_slice, abs=1e-9)
        assert expected_slice == pytest.approx(len(u) * wasserstein_distance(u, v), abs=1e-9)


def test_death_projection_uses_deaths() -> None:
    first, second = _dgm([[0, 2]]), _dgm([[0, 5]])
    assert birth_w1(first, second) == 0.0
    assert birth_w1(first, second, project="death") == pytest.approx(3.0)


def test_pairwise_matrix_matches_pairs_on_real_diagrams() -> None:
    rng = np.random.default_rng(1)
    dgms = [
        diagram(voronoi_mask(int(rng.integers(4, 9)), rng) & (rng.random((64, 64)) > 0.05)) for _ in range(5)
    ]
    dgms.append(_dgm([]))  # empty diagrams are allowed ({0.0} for uniform1d)
    for mode in ("uniform1d", "diag_slice"):
        matrix = pairwise_birth_w1(dgms, dgms[:3], mode=mode)
        assert matrix.shape == (6, 3)
        for i, first in enumerate(dgms):
            for j, second in enumerate(dgms[:3]):
                assert matrix[i, j] == pytest.approx(birth_w1(first, second, mode=mode), abs=1e-9)
        square = pairwise_birth_w1(dgms, mode=mode)
        np.testing.assert_allclose(square, square.T, atol=1e-12)
        np.testing.assert_allclose(np.diag(square), 0.0, atol=1e-12)
    assert pairwise_birth_w1([_dgm([])], [_dgm([[2, 3]])])[0, 0] == pytest.approx(2.0)


def test_gaussian_kernel() -> None:
    kernel = w1_gaussian_kernel(np.array([[0.0, 2.0]]), sigma=2.0)
    np.testing.assert_allclose(kernel, [[1.0, np.exp(-0.5)]])
    with pytest.raises(ValueError):
        w1_gaussian_kernel(np.zeros((1, 1)), sigma=0.0)
