"""Bridge painting and the differentiable surrogate losses (spec §4.5, §5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reprozoo.topology import (
    betti_number,
    binarise,
    bridge_pixels,
    diagram,
    plan_bridges,
    surrogate_loss,
    topo_loss,
)

from .masks import grid_mask, wall_with_gap


def _grid_with_gap(gap: int) -> tuple[np.ndarray, np.ndarray]:
    """A 3x3-cell grid (9 holes) and a copy whose line at column ``c`` lost rows 8..8+gap."""
    intact = grid_mask(2, 2, np.random.default_rng(0), width=1)
    column = int(np.flatnonzero(intact.all(axis=0))[0])
    broken = intact.copy()
    broken[8 : 8 + gap, column] = False
    return intact, broken


def test_bridge_fills_the_gap_and_restores_the_hole() -> None:
    mask = wall_with_gap(3, column=30, start=15)
    dgm = diagram(mask)
    saddle = dgm.birth_pixels[dgm.births > 0][0]
    bridge = bridge_pixels(mask, tuple(saddle), thickness=1)
    assert bridge[15:18, 30].all()  # every erased pixel is painted
    rows, cols = np.nonzero(bridge)
    assert cols.min() >= 29 and cols.max() <= 31 and rows.min() >= 14 and rows.max() <= 18
    assert betti_number(mask | bridge) == 2


def test_only_points_with_target_zero_are_painted() -> None:
    _, broken = _grid_with_gap(3)
    dgm = diagram(broken)
    almost = dgm.births > 0
    assert almost.sum() == 1
    masks = broken[None]
    assert plan_bridges(masks, [dgm], [np.zeros(len(dgm))]).n_points == 1
    for other in (np.where(almost, 1.0, 0.0), np.where(almost, np.nan, 0.0)):
        plan = plan_bridges(masks, [dgm], [other])
        assert plan.n_points == 0 and not plan.bridges.any()


def test_gradients_of_the_three_variants() -> None:
    _, broken = _grid_with_gap(3)
    dgm = diagram(broken)
    plan = plan_bridges(broken[None], [dgm], [np.zeros(len(dgm))])
    birth = dgm.births[dgm.births > 0][0]
    base = torch.where(torch.from_numpy(broken), -0.8, 0.8).double()[None, None]
    gradients = {}
    for variant in ("bce", "clean", "birth_weighted"):
        images = base.clone().requires_grad_()
        surrogate_loss(images, plan, variant=variant).backward()
        gradients[variant] = images.grad[0, 0].numpy()
    bridge = plan.bridges[0]
    np.testing.assert_allclose(gradients["clean"], plan.coverage[0])
    np.testing.assert_allclose(gradients["birth_weighted"], birth * plan.coverage[0])
    assert (gradients["clean"][~bridge] == 0).all() and (gradients["clean"][bridge] > 0).all()
    x = base[0, 0].numpy()
    sigmoid = 1 / (1 + np.exp(-x))
    # code's BCE: sigmoid(x) + 1 on painted pixels, and the drift sigmoid(x) - x elsewhere
    np.testing.assert_allclose(gradients["bce"][bridge], (sigmoid + 1)[bridge])
    np.testing.assert_allclose(gradients["bce"][~bridge], (sigmoid - x)[~bridge])


@pytest.mark.parametrize("variant", ["bce", "clean", "birth_weighted"])
def test_surrogate_alone_closes_a_3px_gap_within_20_steps(variant: str) -> None:
    intact, broken = _grid_with_gap(3)
    real = [diagram(intact)]
    assert betti_number(broken) == 8 and betti_number(intact) == 9
    # pixels parametrised as tanh(logit), Adam lr 0.1, the topological loss alone
    logits = torch.where(torch.from_numpy(broken), -1.0, 1.0)[None, None].requires_grad_()
    optimiser = torch.optim.Adam([logits], lr=0.1)
    for _ in range(20):
        result = topo_loss(torch.tanh(logits), real, variant=variant)
        assert result.plan.n_points == 1
        optimiser.zero_grad()
        (5e-4 * result.loss).backward()
        optimiser.step()
        if betti_number(binarise(torch.tanh(logits).detach().numpy()[0, 0])) == 9:
            break
    else:
        pytest.fail(f"the gap is still open after 20 steps ({variant})")
    final = binarise(torch.tanh(logits).detach().numpy()[0, 0])
    grown = final & ~broken
    assert grown[4:15].any() and not grown[20:].any()  # structure grew at the gap only


def test_topo_loss_on_an_intact_batch_paints_nothing() -> None:
    intact, _ = _grid_with_gap(3)
    images = torch.where(torch.from_numpy(intact), -1.0, 1.0)[None, None].repeat(2, 1, 1, 1).requires_grad_()
    result = topo_loss(images, [diagram(intact)], variant="clean")
    assert result.plan.n_points == 0
    assert result.loss.item() == 0.0
    np.testing.assert_allclose(result.matching.matched_cost, 0.0)
    assert len(result.diagrams) == 2
