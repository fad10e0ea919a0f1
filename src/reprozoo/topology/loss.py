"""The topological GAN loss on a batch of generator outputs (TopoGAN spec §4.1-4.5, Eq. 4).

One call runs the whole chain of a generator step: binarise -> diagrams -> set-level OT matching to
real diagrams -> point matching -> bridge painting -> differentiable surrogate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from reprozoo.topology.distances import W1Mode
from reprozoo.topology.matching import SetMatching, match_diagram_sets, match_points
from reprozoo.topology.persistence import Diagram, DiagramPool, binarise, diagrams
from reprozoo.topology.surrogate import PaintPlan, SurrogateVariant, plan_bridges, surrogate_loss

__all__ = ["TopoLoss", "topo_loss"]


@dataclass(frozen=True, eq=False)
class TopoLoss:
    """Result of :func:`topo_loss`.

    Attributes:
        loss: scalar tensor, the sum-reduced surrogate (multiply by lambda).
        diagrams: the ``B`` synthetic dim-1 diagrams (after the persistence filter).
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
    threshold: float = 0.0,
    mode: W1Mode = "uniform1d",
    variant: SurrogateVariant = "bce",
    thickness: int = 4,
    min_persistence: float = 0.0,
    pool: DiagramPool | None = None,
) -> TopoLoss:
    """Topological loss of generated masks against a set of real dim-1 diagrams (loops).

    Args:
        images: generator outputs ``[B, 1, H, W]`` (or ``[B, H, W]``), tanh range, structure dark.
        real_diagrams: dim-1 diagrams of real masks (framed, same threshold), e.g. a random subset of
            ``n_real`` precomputed ones.
        threshold: binarisation tau; pixels ``<= threshold`` are structure.
        mode: diagram distance used by both matchings, ``"uniform1d"`` (code) or ``"diag_slice"``.
        variant: surrogate, ``"bce"`` (code), ``"clean"`` or ``"birth_weighted"``.
        thickness: bridge width in pixels (``segment_thickness``).
        min_persistence: drop points with persistence ``<=`` this on both sides
            (``target_topo_threshold``; 0 keeps all).
        pool: optional :class:`DiagramPool` for the synthetic diagrams.
    """
    masks = binarise(images.detach().cpu().numpy().reshape(images.shape[0], *images.shape[-2:]), threshold)
    synthetic = diagrams(masks, dim=1, pool=pool)
    real = list(real_diagrams)
    if min_persistence > 0:  # gudhi reports no zero-persistence pair: 0 keeps everything
        synthetic = [dgm.filtered(min_persistence) for dgm in synthetic]
        real = [dgm.filtered(min_persistence) for dgm in real]
    matching = match_diagram_sets(synthetic, real, mode=mode)
    targets = [
        match_points(dgm, real[j], mode=mode) for dgm, j in zip(synthetic, matching.assignment, strict=True)
    ]
    plan = plan_bridges(masks, synthetic, targets, thickness=thickness)
    return TopoLoss(
        loss=surrogate_loss(images, plan, variant=variant), diagrams=synthetic, matching=matching, plan=plan
    )
