"""Object scale for the small-object study (claims C3, C3b): each test sample's projected size and its size bin.

Size = diagonal (px) of the bounding box of the ground-truth 2D keypoints: what the heatmaps have to resolve, taken
from the annotations alone (UAVA's `3dpoints` give it too), and less pose-dependent than the box's width.

Bins are octaves of the image width (config `evaluate.size_bins.edges`, default 1/16, 1/8, 1/4 of the width: < 10,
10–20, 20–40, ≥ 40 px at 160×120; 8/16/32 px at 128×96; 20/40/80 px at 320×240), so every resolution bins the same
relative sizes. Octaves because scale is multiplicative (COCO's small/medium/large are geometric too). The first edge
is where the 1/4 heatmap stops resolving the object: at W/16 the whole 9-keypoint layout spans 2.5 cells of the 1/4
map (5 of HigherHRNet's 1/2 map) and less than one FWHM of a target Gaussian (σ = 3.5 % of the width, FWHM ≈ 8.2 %), so
the 9 target blobs overlap almost completely. At 160×120 ToyDrone fills the bins as Tello ≈ 41/46/13/0 % and
M2ED ≈ 0/0/39/61 %: the 20–40 px bin holds both drones, which separates object size from drone identity.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def keypoint_extent(keypoints: torch.Tensor) -> torch.Tensor:
    """Diagonal [N] (px) of the axis-aligned bounding box of each sample's keypoints [N, K, 2]."""
    span = keypoints.amax(dim=-2) - keypoints.amin(dim=-2)
    return torch.linalg.vector_norm(span, dim=-1)


def bin_edges_px(fractions: Sequence[float], width: int) -> list[float]:
    """Bin edges in pixels from edges given as fractions of the image width."""
    return [float(f) * width for f in fractions]


def size_bins(sizes: torch.Tensor, edges: Sequence[float]) -> torch.Tensor:
    """Bin index [N] in 0..len(edges) of each size [N]; bin b is [edges[b − 1], edges[b]) (lower edge inclusive)."""
    return torch.bucketize(sizes, torch.tensor(list(edges), dtype=sizes.dtype), right=True)


def bin_labels(edges: Sequence[float]) -> list[str]:
    """Readable ranges of the len(edges) + 1 bins, e.g. ["<10 px", "10–20 px", "20–40 px", "≥40 px"]."""
    e = [f"{x:g}" for x in edges]
    return [f"<{e[0]} px", *[f"{lo}–{hi} px" for lo, hi in zip(e, e[1:])], f"≥{e[-1]} px"]
