"""Bridge-painting surrogate of the topological gradient (TopoGAN spec §4.5).

Binarisation and the distance transform have no useful autograd gradient, so the pixel-level force
of Sec. 3.3 ("grow the mask at the boundary point nearest to the saddle s_x") is applied by painting
a bridge of structure across each almost-hole that should close, and pulling the generator output
toward it:

1. select the points x with ``b_x != 0`` whose matched target birth is 0 (close an almost-hole that
   corresponds to a real complete hole); no other point gets a force;
2. in the background region (4-connected, framed mask) holding the saddle ``s_x``, take the
   bounding structure pixel ``r1`` nearest to ``s_x`` and the nearest one ``r2`` on the opposite
   side (per-axis sign of ``r - s_x`` opposite to that of ``r1 - s_x``; an axis where ``r1`` is
   level with ``s_x`` is free);
3. paint the segments ``r1 - s_x`` and ``s_x - r2`` with the given thickness: the bridge ``P_x``.

The released code takes ``r1, r2`` among the region's contour pixels (background pixels one step
inside the structure); starting from the structure pixel itself gives the same bridge plus that
already-structure pixel, and also handles a saddle that lies on the contour.

Loss variants on generator outputs ``x`` (tanh, structure = -1):

``"bce"`` (code): ``BCEWithLogits(x, y, reduction='sum')`` with ``y = x.detach()`` and ``y[P] = -1``.
    Its gradient on untouched pixels is ``sigmoid(x) - x``: not zero, it pushes pixels below
    ``x ~ 0.659`` down (toward structure) and those above up, for every pixel of every image.
``"clean"``: ``sum_x sum_{p in P_x} (x_p + 1)``, a force on bridge pixels only.
``"birth_weighted"``: ``sum_x |b_x - b_sigma(x)| sum_{p in P_x} (x_p + 1)`` (the code's unused
    ``compute_topo_loss``), the force scaled by the birth gap as in the paper's chain rule.
"""

from __future__ import annotations

from collections.abc import Sequence
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


@dataclass(frozen=True, eq=False)
class PaintPlan:
    """Bridges painted on a batch, as pixel maps.

    Attributes:
        bridges: bool ``[B, H, W]``, union of all bridges ``P_x`` (the pixels set to -1 by ``"bce"``).
        coverage: float64 ``[B, H, W]``, number of selected points whose bridge covers the pixel.
        birth_gap: float64 ``[B, H, W]``, sum of ``|b_x - b_sigma(x)|`` over those points.
        n_points: number of selected points (almost-holes being closed) in the batch.
    """

    bridges: np.ndarray
    coverage: np.ndarray
    birth_gap: np.ndarray
    n_points: int


def _segment_pixels(shape: tuple[int, int], start: np.ndarray, end: np.ndarray, radius: float) -> np.ndarray:
    """bool ``shape``: pixels whose centre lies within ``radius`` of the segment ``start``-``end``."""
    reach = int(np.ceil(radius))
    low = np.maximum(np.minimum(start, end) - reach, 0)
    high = np.minimum(np.maximum(start, end) + reach, np.array(shape) - 1)
    rows, cols = np.mgrid[low[0] : high[0] + 1, low[1] : high[1] + 1]
    offset = np.stack([rows - start[0], cols - start[1]], axis=-1).astype(np.float64)
    direction = (end - start).astype(np.float64)
    length2 = float(direction @ direction)
    t = np.clip(offset @ direction / length2, 0.0, 1.0) if length2 > 0 else np.zeros(rows.shape)
    distance2 = ((offset - t[..., None] * direction) ** 2).sum(axis=-1)
    canvas = np.zeros(shape, dtype=bool)
    canvas[low[0] : high[0] + 1, low[1] : high[1] + 1] = distance2 <= radius**2
    return canvas


def _bridge(framed: np.ndarray, labels: np.ndarray, saddle: np.ndarray, thickness: int) -> np.ndarray:
    """Bridge ``[H', W']`` through ``saddle`` in a framed structure mask with labelled background."""
    region = labels == labels[saddle[0], saddle[1]]
    candidates = np.argwhere(framed & ndimage.binary_dilation(region, structure=_FOUR_CONNECTED))
    if candidates.size == 0:
        return np.zeros(framed.shape, dtype=bool)
    offsets = candidates - saddle
    distance2 = (offsets**2).sum(axis=1)
    first = candidates[distance2.argmin()]
    wanted = -np.sign(first - saddle)
    signs = np.sign(offsets)
    if wanted[0] == 0:
        opposite = signs[:, 1] == wanted[1]
    elif wanted[1] == 0:
        opposite = signs[:, 0] == wanted[0]
    else:
        opposite = (signs == wanted).all(axis=1)
    ends = [first]
    if opposite.any():
        ends.append(candidates[opposite][distance2[opposite].argmin()])
    canvas = np.zeros(framed.shape, dtype=bool)
    for end in ends:
        canvas |= _segment_pixels(framed.shape, end, saddle, thickness / 2.0)
    return canvas


def _framed_labels(structure: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    framed = np.pad(structure, 1, constant_values=True)
    labels, _ = ndimage.label(~framed, structure=_FOUR_CONNECTED)
    return framed, labels


def bridge_pixels(structure: np.ndarray, saddle: tuple[int, int], thickness: int = 4) -> np.ndarray:
    """The bridge ``P_x`` painted to close the almost-hole whose saddle pixel is ``saddle``.

    Args:
        structure: bool ``[H, W]``, ``True`` = structure (framed internally, as for the diagrams).
        saddle: ``(row, col)`` of a background pixel, e.g. a ``Diagram.birth_pixels`` row.
        thickness: width of the painted segments in pixels (the code's ``segment_thickness``).

    Returns:
        bool ``[H, W]``.
    """
    structure = np.asarray(structure)
    if structure.dtype != np.bool_ or structure.ndim != 2:
        raise TypeError(f"expected a 2-D boolean structure mask, got {structure.dtype} {structure.shape}")
    framed, labels = _framed_labels(structure)
    centre = np.asarray(saddle, dtype=np.int64) + 1
    if framed[centre[0], centre[1]]:
        raise ValueError(f"saddle {tuple(saddle)} is a structure pixel")
    return _bridge(framed, labels, centre, thickness)[1:-1, 1:-1]


def plan_bridges(
    masks: np.ndarray, diagrams: Sequence[Diagram], targets: Sequence[np.ndarray], thickness: int = 4
) -> PaintPlan:
    """Paint the bridges of every point with birth > 0 whose target birth is 0.

    Args:
        masks: bool ``[B, H, W]`` structure masks the diagrams were computed from (with the frame).
        diagrams: ``B`` dim-1 diagrams of ``masks``.
        targets: ``B`` float arrays ``[m_i]`` from :func:`reprozoo.topology.match_points` (NaN = none).
        thickness: width of the painted segments in pixels.
    """
    masks = np.asarray(masks, dtype=bool)
    if not len(masks) == len(diagrams) == len(targets):
        raise ValueError(f"got {len(masks)} masks, {len(diagrams)} diagrams and {len(targets)} target arrays")
    coverage = np.zeros(masks.shape)
    birth_gap = np.zeros(masks.shape)
    n_points = 0
    for index, (mask, dgm, target) in enumerate(zip(masks, diagrams, targets, strict=True)):
        selected = np.flatnonzero((dgm.births > 0) & (np.asarray(target) == 0))
        if selected.size == 0:
            continue
        framed, labels = _framed_labels(mask)
        for point in selected:
            bridge = _bridge(framed, labels, dgm.birth_pixels[point] + 1, thickness)[1:-1, 1:-1]
            coverage[index] += bridge
            birth_gap[index] += bridge * dgm.births[point]  # |b_x - 0|
        n_points += selected.size
    return PaintPlan(bridges=coverage > 0, coverage=coverage, birth_gap=birth_gap, n_points=n_points)


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
        weights = plan.birth_gap
    else:
        raise ValueError(f"variant must be 'bce', 'clean' or 'birth_weighted', got {variant!r}")
    weight = torch.from_numpy(weights).to(device=images.device, dtype=pixels.dtype)
    return (weight * (pixels + 1.0)).sum()
