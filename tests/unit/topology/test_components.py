"""Dimension 0 (structure components, the Retina setting): diagrams, critical pixels, death-only W1, the bridge that
joins fragments (spec §4.1-4.5 with `target_topo_dimension = 0`, `project_2_dim = 1`).

Convention under test: sublevel persistence of the framed distance transform, so every component is born at 0 and
dies at about half its gap; with the frame, components touching the border are one with the frame and the finite
points are the islands; the one essential class is excluded, so a mask with c components (8-connected, the frame's
included) has c - 1 points.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import ot
import pytest
import torch
from scipy import ndimage

from reprozoo.topology import (
    Diagram,
    betti_number,
    betti_numbers,
    binarise,
    birth_w1,
    bridge_pixels,
    diagram,
    dimension_projection,
    distance_transform,
    plan_bridges,
    topo_loss,
)

from .masks import bars, random_segments

_EIGHT = np.ones((3, 3), dtype=bool)


def _components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected labels of a mask, counted independently of reprozoo.topology."""
    return ndimage.label(mask, structure=_EIGHT)


def _vessel_with_fragment(gap: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A 2-px vessel entering from the left border, and a copy with a ``gap``-px cut: one island far from the border."""
    intact = np.zeros((64, 64), dtype=bool)
    intact[31:33, :44] = True
    broken = intact.copy()
    broken[:, 20 : 20 + gap] = False
    return intact, broken


@pytest.mark.parametrize("k", [1, 2, 5, 9])
def test_k_islands_give_k_points_with_the_frame_and_k_minus_1_without(k: int) -> None:
    mask = bars(k)
    assert _components(mask)[1] == k
    framed, unframed = diagram(mask, dim=0), diagram(mask, dim=0, frame=False)
    assert len(framed) == k and len(unframed) == k - 1
    assert (framed.births == 0).all() and (framed.deaths > 0).all()
    assert betti_number(mask, dim=0) == k + 1  # the frame's component, the essential class


@pytest.mark.parametrize("seed", range(6))
def test_point_counts_match_scipy_labelling_on_random_vessel_pieces(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mask = random_segments(int(rng.integers(3, 12)), rng)
    framed_count = _components(np.pad(mask, 1, constant_values=True))[1]
    assert len(diagram(mask, dim=0)) == framed_count - 1
    assert len(diagram(mask, dim=0, frame=False)) == _components(mask)[1] - 1
    assert betti_numbers(mask[None], dim=0)[0] == framed_count


@pytest.mark.parametrize("gap", [1, 2, 3, 4, 5, 6])
def test_a_cut_of_width_w_dies_at_half_width_at_a_pixel_in_the_cut(gap: int) -> None:
    _, broken = _vessel_with_fragment(gap)
    dgm = diagram(broken, dim=0)
    assert dgm.pairs.tolist() == [[0.0, math.ceil(gap / 2)]]
    row, col = dgm.death_pixels[0]
    assert 31 <= row <= 32 and 20 <= col < 20 + gap


@pytest.mark.parametrize("seed", range(4))
def test_death_pixels_are_saddles_between_two_components(seed: int) -> None:
    rng = np.random.default_rng(10 + seed)
    mask = random_segments(8, rng, margin=4)
    dgm = diagram(mask, dim=0)
    assert len(dgm) >= 3
    framed_dt = distance_transform(mask)
    labels, _ = _components(np.pad(mask, 1, constant_values=True))
    structure = np.argwhere(labels > 0)
    before = betti_number(mask, dim=0)
    for (row, col), death in zip(dgm.death_pixels, dgm.deaths, strict=True):
        assert not mask[row, col] and framed_dt[row + 1, col + 1] == death
        # the merge at value d happens on a pixel touching both grown components (so within d + sqrt(2) of both);
        # gudhi reports the merging edge's coface of value d, that pixel or its neighbour across the edge
        near = np.hypot(*(structure - (row + 1, col + 1)).T) <= death + math.sqrt(2) + 1
        assert len(np.unique(labels[tuple(structure[near].T)])) >= 2
        # and a bridge through it joins two of them
        bridged = mask | bridge_pixels(mask, (row, col), thickness=4, dim=0)
        assert betti_number(bridged, dim=0) < before


def test_unframed_birth_pixels_lie_in_distinct_components_all_but_the_essential_one() -> None:
    mask = random_segments(9, np.random.default_rng(3))
    labels, count = _components(mask)
    dgm = diagram(mask, dim=0, frame=False)
    owners = labels[tuple(dgm.birth_pixels.T)]
    assert (owners > 0).all()  # structure pixels
    assert len(set(owners.tolist())) == len(dgm) == count - 1


def _brute_force_uniform_w1(first: np.ndarray, second: np.ndarray) -> float:
    """W1 of two uniform empirical measures by enumerating assignments of lcm-replicated atoms."""
    size = math.lcm(first.size, second.size)
    left, right = np.repeat(first, size // first.size), np.repeat(second, size // second.size)
    return min(np.abs(left - right[list(p)]).sum() for p in itertools.permutations(range(size))) / size


def _brute_force_diag_slice(first: Diagram, second: Diagram) -> float:
    """Sliced W1 on the death axis: best bijection between deaths + the other's diagonal projections, by enumeration."""
    u = np.concatenate([first.deaths, second.pairs.mean(axis=1)])
    v = np.concatenate([second.deaths, first.pairs.mean(axis=1)])
    return min(np.abs(u - v[list(p)]).sum() for p in itertools.permutations(range(u.size)))


def test_death_w1_matches_pot_and_brute_force_on_small_dim0_diagrams() -> None:
    rng = np.random.default_rng(7)
    dgms = []
    while len(dgms) < 6:  # diagrams of 1-3 islands, so the enumerations stay small
        dgm = diagram(random_segments(int(rng.integers(2, 6)), rng, size=32), dim=0)
        if 1 <= len(dgm) <= 3:
            dgms.append(dgm)
    assert dimension_projection(0) == "death" and dimension_projection(1) == "birth"
    for first, second in itertools.combinations(dgms, 2):
        uniform = birth_w1(first, second, project="death")
        assert uniform == pytest.approx(ot.wasserstein_1d(first.deaths, second.deaths, p=1), abs=1e-9)
        assert uniform == pytest.approx(_brute_force_uniform_w1(first.deaths, second.deaths), abs=1e-9)
        sliced = birth_w1(first, second, mode="diag_slice", project="death")
        assert sliced == pytest.approx(_brute_force_diag_slice(first, second), abs=1e-9)
        assert birth_w1(first, second) == 0.0  # births are all 0: the birth axis cannot tell them apart


def test_only_components_without_a_target_are_joined() -> None:
    _, broken = _vessel_with_fragment()
    dgm = diagram(broken, dim=0)
    assert len(dgm) == 1
    joined = plan_bridges(broken[None], [dgm], [np.array([np.nan])])
    assert joined.n_points == 1
    assert betti_number(broken | joined.bridges[0], dim=0) == 1
    np.testing.assert_allclose(joined.gap[0][joined.bridges[0]], dgm.deaths[0] * joined.coverage[0][joined.bridges[0]])
    kept = plan_bridges(broken[None], [dgm], [dgm.deaths.copy()])  # matched to a real island: left alone
    assert kept.n_points == 0 and not kept.bridges.any()
    # a real mask with such an island: the generated one is matched, not painted
    assert topo_loss(torch.where(torch.from_numpy(broken), -1.0, 1.0)[None, None], [dgm], dim=0).plan.n_points == 0


def test_real_diagrams_of_another_dimension_are_refused() -> None:
    intact, _ = _vessel_with_fragment()
    with pytest.raises(ValueError, match="dimension 0"):
        topo_loss(torch.zeros(1, 1, 64, 64), [diagram(intact, dim=1)], dim=0)


@pytest.mark.parametrize("mode", ["uniform1d", "diag_slice"])
@pytest.mark.parametrize("variant", ["bce", "clean", "birth_weighted"])
def test_surrogate_alone_joins_a_fragment_across_a_3px_gap_within_20_steps(variant: str, mode: str) -> None:
    intact, broken = _vessel_with_fragment(3)
    real = [diagram(intact, dim=0)]
    assert len(real[0]) == 0 and betti_number(broken, dim=0) == 2 and betti_number(intact, dim=0) == 1
    # pixels parametrised as tanh(logit), Adam lr 0.1, the topological loss alone
    logits = torch.where(torch.from_numpy(broken), -1.0, 1.0)[None, None].requires_grad_()
    optimiser = torch.optim.Adam([logits], lr=0.1)
    for _ in range(20):
        result = topo_loss(torch.tanh(logits), real, dim=0, mode=mode, variant=variant)
        assert result.plan.n_points == 1
        optimiser.zero_grad()
        (5e-4 * result.loss).backward()
        optimiser.step()
        if betti_number(binarise(torch.tanh(logits).detach().numpy()[0, 0]), dim=0) == 1:
            break
    else:
        pytest.fail(f"the fragment is still apart after 20 steps ({variant}, {mode})")
    grown = binarise(torch.tanh(logits).detach().numpy()[0, 0]) & ~broken
    rows, cols = np.nonzero(grown)
    assert grown.any() and rows.min() >= 27 and rows.max() <= 36 and cols.min() >= 16 and cols.max() <= 26
