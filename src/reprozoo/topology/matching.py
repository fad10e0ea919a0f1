"""Optimal-transport matchings: synthetic to real diagrams (spec §4.3, Eq. 5) and points (§4.4).

POT is imported inside the functions (its import takes ~4 s).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reprozoo.topology.distances import Projection, W1Mode, pairwise_birth_w1, projected
from reprozoo.topology.persistence import Diagram

__all__ = ["SetMatching", "match_diagram_sets", "match_points"]


@dataclass(frozen=True, eq=False)
class SetMatching:
    """The diagram-set matching pi*.

    Attributes:
        cost: float64 ``[n_syn, n_real]``, ``M_ij = W1(dgm_i^syn, dgm_j^real)``.
        plan: float64 ``[n_syn, n_real]``, the optimal plan gamma* with uniform marginals.
        assignment: int64 ``[n_syn]``, ``h(i) = argmax_j gamma*_ij``.
    """

    cost: np.ndarray
    plan: np.ndarray
    assignment: np.ndarray

    @property
    def matched_cost(self) -> np.ndarray:
        """``M_{i, h(i)}``, float64 ``[n_syn]``: its sum is L_topo (Eq. 4), its mean what the code logs."""
        return self.cost[np.arange(len(self.assignment)), self.assignment]


def match_diagram_sets(
    synthetic: Sequence[Diagram],
    real: Sequence[Diagram],
    mode: W1Mode = "uniform1d",
    project: Projection = "birth",
) -> SetMatching:
    """Match every synthetic diagram to one real diagram by exact OT between the two sets.

    Solves ``min_gamma sum_ij M_ij gamma_ij`` s.t. ``gamma 1 = 1/n_syn``, ``gamma^T 1 = 1/n_real``
    with ``ot.emd`` and takes the row-wise argmax of the plan.

    Args:
        synthetic: ``n_syn`` diagrams (the generated batch).
        real: ``n_real`` diagrams (a random subset of the real set).
        mode, project: the diagram distance, see :func:`reprozoo.topology.pairwise_birth_w1`.
    """
    if not len(synthetic) or not len(real):
        raise ValueError(f"need diagrams on both sides, got {len(synthetic)} synthetic and {len(real)} real")
    import ot

    cost = pairwise_birth_w1(synthetic, real, mode=mode, project=project)
    plan = ot.emd(ot.unif(len(synthetic)), ot.unif(len(real)), cost, numItermax=10_000_000)
    return SetMatching(cost=cost, plan=plan, assignment=plan.argmax(axis=1).astype(np.int64))


def match_points(
    synthetic: Diagram,
    real: Diagram,
    mode: W1Mode = "uniform1d",
    project: Projection = "birth",
) -> np.ndarray:
    """Target value sigma*(x) for every point x of a synthetic diagram inside a matched pair.

    ``"uniform1d"`` (code, §4.4): with ``G = ot.emd_1d(b_syn, b_real)``, if ``n_syn <= n_real`` each
    synthetic point j gets ``b_real[argmax_k G_jk]``; otherwise each real point k gives its value
    to the synthetic point ``argmax_j G_jk`` (a later k overwrites) and the others get none.

    ``"diag_slice"`` (paper): the sorted matching behind the ``diag_slice`` distance; a point paired
    with a real point gets its value, a point paired with the diagonal gets none.

    Returns:
        float64 ``[n_syn]``, the target birth (or death, with ``project="death"``); NaN = no target.
    """
    values_syn = projected(synthetic, project)
    values_real = projected(real, project)
    targets = np.full(values_syn.size, np.nan)
    if mode == "uniform1d":
        if values_syn.size == 0 or values_real.size == 0:
            return targets
        import ot

        plan = ot.emd_1d(values_syn, values_real, metric="minkowski", p=1)
        if values_syn.size <= values_real.size:
            return values_real[plan.argmax(axis=1)]
        for real_index, syn_index in enumerate(plan.argmax(axis=0)):
            targets[syn_index] = values_real[real_index]
        return targets
    if mode == "diag_slice":
        # U = synthetic points + diagonal copies of real points, V = real points + diagonal copies
        # of synthetic points; kind 0 (a point) sorts before kind 1 (diagonal) on equal values.
        n_syn, n_real = values_syn.size, values_real.size
        u_values = np.concatenate([values_syn, real.pairs.sum(axis=1) / 2.0])
        v_values = np.concatenate([values_real, synthetic.pairs.sum(axis=1) / 2.0])
        u_kind = np.concatenate([np.zeros(n_syn), np.ones(n_real)])
        v_kind = np.concatenate([np.zeros(n_real), np.ones(n_syn)])
        u_order = np.lexsort((u_kind, u_values))
        v_order = np.lexsort((v_kind, v_values))
        paired = (u_order < n_syn) & (v_order < n_real)
        targets[u_order[paired]] = values_real[v_order[paired]]
        return targets
    raise ValueError(f"mode must be 'uniform1d' or 'diag_slice', got {mode!r}")
