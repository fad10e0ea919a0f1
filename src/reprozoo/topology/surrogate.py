"""Bridge-painting surrogate of the topological gradient (TopoGAN spec §4.5).

Binarisation and the distance transform have no useful autograd gradient, so the pixel-level force
of Sec. 3.3 ("grow the mask at the boundary point nearest to the saddle s_x") is applied by painting
a bridge of structure through the saddle of each point that should vanish, and pulling the
generator output toward it. Per homology dimension (``Diagram.dim``):

dim 1, loops (the released code)
    1. select the points x with ``b_x != 0`` whose matched target birth is 0 (close an almost-hole
       that corresponds to a real complete hole); no other point gets a force;
    2. the saddle is the birth pixel ``s_x``; in the background region (4-connected, framed mask)
       holding it, take the bounding structure pixel ``r1`` nearest to ``s_x`` and the nearest one
       ``r2`` on the opposite side (per-axis sign of ``r - s_x`` opposite to that of ``r1 - s_x``; an
       axis where ``r1`` is level with ``s_x`` is free).

dim 0, components (an open analogue of the code's closed Retina variant, spec §4.5 step 6)
    1. select the points x with no target (NaN from :func:`reprozoo.topology.match_points`): the
       generated components that have no real counterpart (more components than the matched real
       mask, or paired with the diagonal). As in the code, matched points get no force: components
       are never separated or moved part-way;
    2. the saddle is the death pixel ``s_x``, where two components merge in the filtration (see
       :mod:`.persistence`); take the structure pixel ``r1`` (framed mask) nearest to ``s_x`` and the
       nearest structure pixel ``r2`` of another 8-connected component than ``r1``'s, so the bridge
       joins the fragment to its nearest neighbour (the frame included: a border-touching vessel).

Both then paint the segments ``r1 - s_x`` and ``s_x - r2`` with the given thickness: the bridge ``P_x``.

The released code takes ``r1, r2`` among the region's contour pixels (background pixels one step
inside the structure); starting from the structure pixel itself gives the same bridge plus that
already-structure pixel, and also handles a saddle that lies on the contour.

Loss variants on generator outputs ``x`` (tanh, structure = -1):

``"bce"`` (code): ``BCEWithLogits(x, y, reduction='sum')`` with ``y = x.detach()`` and ``y[P] = -1``.
    Its gradient on untouched pixels is ``sigmoid(x) - x``: not zero, it pushes pixels below
    ``x ~ 0.659`` down (toward structure) and those above up, for every pixel of every image.
``"clean"``: ``sum_x sum_{p in P_x} (x_p + 1)``, a force on bridge pixels only.
``"birth_weighted"``: ``sum_x g_x sum_{p in P_x} (x_p + 1)`` (the code's unused ``compute_topo_loss``),
    the force scaled by the gap ``g_x`` of the compared coordinate, as in the paper's chain rule:
    ``|b_x - 0|`` for dim 1, ``|d_x - 0|`` for dim 0 (a merged component's point vanishes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from scipy import ndimage
from torch.nn import functional

from reprozoo.topology.persistence import Diagram

__all__ = ["PaintPlan", "SurrogateVariant", "bridge_pixels", "plan_bridges", "surrogate_loss"]

SurrogateVariant = Literal["bce", "clean", "birth_weighted"]

_FOUR_CONNECTED = ndimage.generate_binary_structure(2, 1)
_EIGHT_CONNECTED = ndimage.generate_binary_structure(2, 2)


@dataclass(frozen=True, eq=False)
class PaintPlan:
    """Bridges painted on a batch, as pixel maps.

    Attributes:
        bridges: bool ``[B, H, W]``, union of all bridges ``P_x`` (the pixels set to -1 by ``"bce"``).
        coverage: float64 ``[B, H, W]``, number of selected points whose bridge covers the pixel.
        gap: float64 ``[B, H, W]``, sum of the gaps ``g_x`` (``b_x`` for dim 1, ``d_x`` for dim 0)
            over those points.
        n_points: number of selected points (almost-holes closed or components merged) in the batch.
    """

    bridges: np.ndarray
    coverage: np.ndarray
    gap: np.ndarray
    n_points: int


def _segment_pixels(shape: tuple[int, int], start: np.ndarray, end: np.ndarray, radius: float) -> np.ndarray:
    """bool ``shape``: pixels whose centre lies within ``radius`` of the segment ``start``-``end``."""
    reach = int(np.ceil(radius))
    low = np.maximum(np.minimum(start, end) - reach, 0)
    high = np.minimum(np.maximum(start, end) + reach, np.array(shape) - 1)
    rows = np.arange(low[0], high[0] + 1, dtype=np.float64)[:, None] - start[0]
    cols = np.arange(low[1], high[1] + 1, dtype=np.float64)[None, :] - start[1]
    direction = (end - start).astype(np.float64)
    length2 = float(direction @ direction)
    t = np.clip((rows * direction[0] + cols * direction[1]) / length2, 0.0, 1.0) if length2 > 0 else 0.0
    distance2 = (rows - t * direction[0]) ** 2 + (cols - t * direction[1]) ** 2
    canvas = np.zeros(shape, dtype=bool)
    canvas[low[0] : high[0] + 1, low[1] : high[1] + 1] = distance2 <= radius**2
    return canvas


def _selected(dgm: Diagram, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Saddle pixels int64 ``[k, 2]`` (mask coordinates) and gaps float64 ``[k]`` of the points that get a force.

    Args:
        dgm: a dim-1 or dim-0 diagram.
        target: float ``[m]``, the matched target of each point's compared coordinate (NaN = none).
    """
    target = np.asarray(target, dtype=np.float64)
    if dgm.dim == 1:
        keep = (dgm.births > 0) & (target == 0)
        return dgm.birth_pixels[keep], dgm.births[keep]
    if dgm.dim == 0:
        keep = np.isnan(target)
        return dgm.death_pixels[keep], dgm.deaths[keep]
    raise ValueError(f"diagram dimension must be 0 or 1, got {dgm.dim}")


def _nearest_pair(
    candidates: np.ndarray, saddle: np.ndarray, partners: Callable[[int], np.ndarray]
) -> list[np.ndarray]:
    """Bridge ends: ``r1``, the candidate ``[n, 2]`` nearest to ``saddle``, and ``r2``, the nearest of the candidates
    that ``partners(index of r1)`` (bool ``[n]``) accepts; ``[]`` without candidates, ``[r1]`` without partner."""
    if candidates.size == 0:
        return []
    distance2 = ((candidates - saddle) ** 2).sum(axis=1)
    first = int(distance2.argmin())
    accepted = partners(first)
    if not accepted.any():
        return [candidates[first]]
    return [candidates[first], candidates[accepted][distance2[accepted].argmin()]]


class _HoleEnds:
    """dim 1 bridge ends in a framed mask ``[H', W']``: on the structure bounding the saddle's 4-connected background
    region (the hole it opens into), ``r2`` on the side opposite ``r1``."""

    def __init__(self, framed: np.ndarray) -> None:
        self.framed = framed
        self.labels, _ = ndimage.label(~framed, structure=_FOUR_CONNECTED)

    def __call__(self, saddle: np.ndarray) -> list[np.ndarray]:
        region = self.labels == self.labels[saddle[0], saddle[1]]
        candidates = np.argwhere(self.framed & ndimage.binary_dilation(region, structure=_FOUR_CONNECTED))
        signs = np.sign(candidates - saddle)

        def opposite(first: int) -> np.ndarray:
            wanted = -signs[first]
            if wanted[0] == 0:
                return signs[:, 1] == wanted[1]
            if wanted[1] == 0:
                return signs[:, 0] == wanted[0]
            return (signs == wanted).all(axis=1)

        return _nearest_pair(candidates, saddle, opposite)


class _MergeEnds:
    """dim 0 bridge ends in a framed mask ``[H', W']``: ``r1`` the structure pixel nearest to the saddle, ``r2`` the
    nearest one of another 8-connected component (the connectivity of the diagrams)."""

    def __init__(self, framed: np.ndarray) -> None:
        labels, _ = ndimage.label(framed, structure=_EIGHT_CONNECTED)
        self.candidates = np.argwhere(framed)
        self.owners = labels[self.candidates[:, 0], self.candidates[:, 1]]

    def __call__(self, saddle: np.ndarray) -> list[np.ndarray]:
        return _nearest_pair(self.candidates, saddle, lambda first: self.owners != self.owners[first])


_ENDS: dict[int, type[_HoleEnds] | type[_MergeEnds]] = {1: _HoleEnds, 0: _MergeEnds}


def _bridge_painter(structure: np.ndarray, dim: int) -> Callable[[np.ndarray, int], np.ndarray]:
    """For one mask bool ``[H, W]``: a function from a saddle ``(row, col)`` and a thickness to the bridge ``[H, W]``.

    The mask is framed (as for the diagrams) and labelled once; each call finds the two ends and paints
    ``r1 - s_x`` and ``s_x - r2`` (module docstring).
    """
    if dim not in _ENDS:
        raise ValueError(f"dim must be 0 or 1, got {dim}")
    framed = np.pad(structure, 1, constant_values=True)
    ends = _ENDS[dim](framed)

    def paint(saddle: np.ndarray, thickness: int) -> np.ndarray:
        centre = np.asarray(saddle, dtype=np.int64) + 1
        canvas = np.zeros(framed.shape, dtype=bool)
        for end in ends(centre):
            canvas |= _segment_pixels(framed.shape, end, centre, thickness / 2.0)
        return canvas[1:-1, 1:-1]

    return paint


def bridge_pixels(structure: np.ndarray, saddle: tuple[int, int], thickness: int = 4, dim: int = 1) -> np.ndarray:
    """The bridge ``P_x`` painted through the saddle pixel of a point of dimension ``dim``.

    Args:
        structure: bool ``[H, W]``, ``True`` = structure (framed internally, as for the diagrams).
        saddle: ``(row, col)`` of a background pixel: a dim-1 ``Diagram.birth_pixels`` row (closes the
            almost-hole) or a dim-0 ``Diagram.death_pixels`` row (joins the two components merging there).
        thickness: width of the painted segments in pixels (the code's ``segment_thickness``).
        dim: 1 (loops) or 0 (components).

    Returns:
        bool ``[H, W]``.
    """
    structure = np.asarray(structure)
    if structure.dtype != np.bool_ or structure.ndim != 2:
        raise TypeError(f"expected a 2-D boolean structure mask, got {structure.dtype} {structure.shape}")
    if structure[saddle[0], saddle[1]]:
        raise ValueError(f"saddle {tuple(saddle)} is a structure pixel")
    return _bridge_painter(structure, dim)(np.asarray(saddle), thickness)


def plan_bridges(
    masks: np.ndarray, diagrams: Sequence[Diagram], targets: Sequence[np.ndarray], thickness: int = 4
) -> PaintPlan:
    """Paint the bridges of the points that should vanish, by each diagram's dimension (module docstring).

    Args:
        masks: bool ``[B, H, W]`` structure masks the diagrams were computed from (with the frame).
        diagrams: ``B`` dim-1 or dim-0 diagrams of ``masks``.
        targets: ``B`` float arrays ``[m_i]`` from :func:`reprozoo.topology.match_points` (NaN = none),
            on the dimension's coordinate (:func:`reprozoo.topology.dimension_projection`).
        thickness: width of the painted segments in pixels.
    """
    masks = np.asarray(masks, dtype=bool)
    if not len(masks) == len(diagrams) == len(targets):
        raise ValueError(f"got {len(masks)} masks, {len(diagrams)} diagrams and {len(targets)} target arrays")
    coverage = np.zeros(masks.shape)
    gap = np.zeros(masks.shape)
    n_points = 0
    for index, (mask, dgm, target) in enumerate(zip(masks, diagrams, targets, strict=True)):
        saddles, gaps = _selected(dgm, target)
        if not len(saddles):
            continue
        paint = _bridge_painter(mask, dgm.dim)
        for saddle, point_gap in zip(saddles, gaps, strict=True):
            bridge = paint(saddle, thickness)
            coverage[index] += bridge
            gap[index] += bridge * point_gap
        n_points += len(saddles)
    return PaintPlan(bridges=coverage > 0, coverage=coverage, gap=gap, n_points=n_points)


def surrogate_loss(images: torch.Tensor, plan: PaintPlan, variant: SurrogateVariant = "bce") -> torch.Tensor:
    """Differentiable surrogate loss (sum-reduced) pulling the bridge pixels to structure.

    Args:
        images: generator outputs ``[B, 1, H, W]`` or ``[B, H, W]``, tanh range, structure = -1.
        plan: bridges painted on the binarised ``images``.
        variant: ``"bce"`` (code), ``"clean"`` or ``"birth_weighted"``; see the module docstring.

    Returns:
        scalar tensor; multiply by lambda and add to the generator loss.
    """
    pixels = images.reshape(plan.bridges.shape)
    if variant == "bce":
        bridges = torch.from_numpy(plan.bridges).to(images.device)
        target = torch.where(bridges, torch.full_like(pixels, -1.0), pixels.detach())
        return functional.binary_cross_entropy_with_logits(pixels, target, reduction="sum")
    if variant == "clean":
        weights = plan.coverage
    elif variant == "birth_weighted":
        weights = plan.gap
    else:
        raise ValueError(f"variant must be 'bce', 'clean' or 'birth_weighted', got {variant!r}")
    weight = torch.from_numpy(weights).to(device=images.device, dtype=pixels.dtype)
    return (weight * (pixels + 1.0)).sum()
