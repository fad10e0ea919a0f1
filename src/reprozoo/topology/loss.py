"""The topological GAN loss on a batch of generator outputs (TopoGAN spec §4.1-4.5, Eq. 4).

One call runs the whole chain of a generator step: binarise -> diagrams -> set-level OT matching to
real diagrams -> point matching -> bridge painting -> differentiable surrogate, for loops (dim 1, births compared) or
components (dim 0, deaths compared; see :mod:`.persistence` and :mod:`.surrogate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from reprozoo.topology.distances import W1Mode, dimension_projection
from reprozoo.topology.matching import SetMatching, match_diagram_sets, match_points
from reprozoo.topology.persistence import Diagram, DiagramPool, binarise, diagrams
from reprozoo.topology.surrogate import PaintPlan, SurrogateVariant, plan_bridges, surrogate_loss

__all__ = ["TopoLoss", "topo_loss"]


@dataclass(frozen=True, eq=False)
class TopoLoss:
    """Result of :func:`topo_loss`.

    Attributes:
        loss: scalar tensor, the sum-reduced surrogate (multiply by lambda).
        diagrams: the ``B`` synthetic diagrams of the loss's dimension (after the persistence filter).
        matching: the set-level matching to the real diagrams; ``matching.matched_cost.mean()`` is
            the W1 the code logs.
        plan: the painted bridges.
    """

    loss: torch.Tensor
    diagrams: list[Diagram]
    matching: SetMatching
    plan: PaintPlan


def topo_loss(
    images: torch.Tensor,
    real_diagrams: Sequence[Diagram],
    *,
    dim: int = 1,
    threshold: float = 0.0,
    mode: W1Mode = "uniform1d",
    variant: SurrogateVariant = "bce",
    thickness: int = 4,
    min_persistence: float = 0.0,
    pool: DiagramPool | None = None,
) -> TopoLoss:
    """Topological loss of generated masks against a set of real diagrams of dimension ``dim``.

    Args:
        images: generator outputs ``[B, 1, H, W]`` (or ``[B, H, W]``), tanh range, structure dark.
        real_diagrams: diagrams of dimension ``dim`` of real masks (framed, same threshold), e.g. a random
            subset of ``n_real`` precomputed ones.
        dim: 1 closes almost-holes (matching births), 0 joins surplus components (matching deaths).
        threshold: binarisation tau; pixels ``<= threshold`` are structure.
        mode: diagram distance used by both matchings, ``"uniform1d"`` (code) or ``"diag_slice"``.
        variant: surrogate, ``"bce"`` (code), ``"clean"`` or ``"birth_weighted"``.
        thickness: bridge width in pixels (``segment_thickness``).
        min_persistence: drop points with persistence ``<=`` this on both sides
            (``target_topo_threshold``; 0 keeps all).
        pool: optional :class:`DiagramPool` for the synthetic diagrams.
    """
    masks = binarise(images.detach().cpu().numpy().reshape(images.shape[0], *images.shape[-2:]), threshold)
    real = list(real_diagrams)
    if any(dgm.dim != dim for dgm in real):
        raise ValueError(f"the real diagrams must all have dimension {dim}, got {sorted({dgm.dim for dgm in real})}")
    synthetic = diagrams(masks, dim=dim, pool=pool)
    project = dimension_projection(dim)
    if min_persistence > 0:  # gudhi reports no zero-persistence pair: 0 keeps everything
        synthetic = [dgm.filtered(min_persistence) for dgm in synthetic]
        real = [dgm.filtered(min_persistence) for dgm in real]
    matching = match_diagram_sets(synthetic, real, mode=mode, project=project)
    targets = [
        match_points(dgm, real[j], mode=mode, project=project)
        for dgm, j in zip(synthetic, matching.assignment, strict=True)
    ]
    plan = plan_bridges(masks, synthetic, targets, thickness=thickness)
    return TopoLoss(
        loss=surrogate_loss(images, plan, variant=variant), diagrams=synthetic, matching=matching, plan=plan
    )
