"""TopoGAN's evaluation metrics (spec §6; paper Sec. 3.4): Betti score, Betti error, unbiased MMD², proxy FID.

The dimension is the dataset's (`topology.dim`): β1 and births for loops, β0 and deaths for components (vessels; every
dim-0 point of the distance-transform filtration is born at 0, see `reprozoo.topology.dimension_projection`).

- Betti score: χ² distance Σ_k (p_k − q_k)² / (p_k + q_k) over the integer bins with p_k + q_k > 0 between the
  normalised histograms of β (framed masks) of generated (p) and real (q) masks; range [0, 2] ([inf] the variant
  consistent with the paper's 1.775).
- Betti error: per generated mask, |β(g) − β(r)| where r is the real mask whose diagram is nearest to g's in
  the projected W1; its mean is the aggregate.
- Unbiased MMD² (Gretton 2012) between diagram sets with k(D, D') = exp(−W1(D, D') / σ²), W1 the birth-only (dim 1)
  or death-only (dim 0) distance, σ the median of all off-diagonal pairwise W1 over AA, BB and AB, after keeping points of persistence
  > `min_persistence` and a random `subset` of each set (the code: 1.0 and 50 %). It can be slightly negative.
  With the code's `uniform1d` W1 (counts normalised) two diagrams whose points are all born at 0 are at distance 0
  whatever their numbers of holes, so on clean masks that MMD cannot see a wrong hole count; the paper's
  `diag_slice` W1 (unmatched points cost their distance to the diagonal) can, and is the evaluation's default.
- Proxy FID: the Fréchet distance between Gaussian fits of features of a fixed-seed random conv net
  (`RandomFeatures`; no downloaded weights), through torchmetrics' FID. Never comparable with the paper's FID.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from reprozoo.topology import Diagram, Projection, W1Mode, pairwise_birth_w1, w1_gaussian_kernel


def betti_histogram(betti: np.ndarray, n_bins: int) -> np.ndarray:
    """Normalised histogram float64 [n_bins] of non-negative integer Betti numbers [n]."""
    counts = np.bincount(np.asarray(betti, dtype=np.int64), minlength=n_bins)[:n_bins]
    return counts / max(counts.sum(), 1)


def betti_score(generated: np.ndarray, real: np.ndarray) -> float:
    """χ² distance between the Betti-number histograms of generated [m] and real [n] masks (0 = same, max 2)."""
    n_bins = int(max(np.max(generated, initial=0), np.max(real, initial=0))) + 1
    p, q = betti_histogram(generated, n_bins), betti_histogram(real, n_bins)
    both = (p + q) > 0
    return float((((p - q) ** 2)[both] / (p + q)[both]).sum())


def nearest_real(
    generated: Sequence[Diagram], real: Sequence[Diagram], mode: W1Mode = "uniform1d", project: Projection = "birth"
) -> tuple[np.ndarray, np.ndarray]:
    """For every generated diagram, the projected W1 [m] to the nearest real diagram and that diagram's index [m]."""
    distances = pairwise_birth_w1(generated, real, mode=mode, project=project)
    nearest = distances.argmin(axis=1)
    return distances[np.arange(len(generated)), nearest], nearest


def _off_diagonal(matrix: np.ndarray) -> np.ndarray:
    return matrix[~np.eye(len(matrix), dtype=bool)]


def unbiased_mmd2(
    generated: Sequence[Diagram],
    real: Sequence[Diagram],
    *,
    rng: np.random.Generator,
    subset: float = 0.5,
    min_persistence: float = 1.0,
    mode: W1Mode = "uniform1d",
    project: Projection = "birth",
) -> tuple[float, float]:
    """Unbiased MMD² between two diagram sets with the W1 Gaussian kernel; returns (MMD², σ).

    Each set keeps a random `subset` fraction (at least 2 diagrams). σ is the median of the off-diagonal W1; when
    that is 0 (most diagrams identical) the mean of the positive distances is used, and 1 when there are none.
    """
    def pick(dgms: Sequence[Diagram]) -> list[Diagram]:
        keep = max(2, round(subset * len(dgms)))
        chosen = rng.choice(len(dgms), size=min(keep, len(dgms)), replace=False)
        return [dgms[i].filtered(min_persistence) for i in sorted(chosen)]

    a, b = pick(generated), pick(real)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"unbiased MMD needs at least 2 diagrams per set, got {len(a)} and {len(b)}")
    d_aa, d_bb, d_ab = (pairwise_birth_w1(x, y, mode=mode, project=project) for x, y in ((a, None), (b, None), (a, b)))
    pooled = np.concatenate([_off_diagonal(d_aa), _off_diagonal(d_bb), d_ab.ravel()])
    sigma = float(np.median(pooled))
    if sigma <= 0:
        positive = pooled[pooled > 0]
        sigma = float(positive.mean()) if positive.size else 1.0
    m, n = len(a), len(b)
    k_aa, k_bb, k_ab = (w1_gaussian_kernel(d, sigma) for d in (d_aa, d_bb, d_ab))
    mmd2 = _off_diagonal(k_aa).sum() / (m * (m - 1)) + _off_diagonal(k_bb).sum() / (n * (n - 1)) - 2.0 * k_ab.mean()
    return float(mmd2), sigma


class RandomFeatures(nn.Module):
    """Fixed-seed random conv features for a proxy FID: masks [B, 1, S, S] in [0, 1] → features [B, num_features].

    Three stride-2 conv + ReLU stages (widths F/4, F/2, F) with weights drawn from N(0, 2 / fan_in) by a private
    generator seeded with `seed`, then global average pooling. Deterministic across runs and machines (CPU init).
    """

    def __init__(self, num_features: int = 64, seed: int = 0) -> None:
        super().__init__()
        widths = [1, max(num_features // 4, 1), max(num_features // 2, 1), num_features]
        generator = torch.Generator().manual_seed(seed)
        convs = []
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            conv = nn.Conv2d(c_in, c_out, 4, 2, 1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * (2.0 / (c_in * 16)) ** 0.5)
                conv.bias.zero_()
            convs += [conv, nn.ReLU()]
        self.net = nn.Sequential(*convs, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.num_features = num_features
        self.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.to(self.net[0].weight.dtype) - 0.5)  # torchmetrics' set_dtype may make the net float64


@torch.no_grad()
def fid_proxy(real: torch.Tensor, generated: torch.Tensor, features: int = 64, seed: int = 0, batch: int = 256) -> float:
    """Proxy FID between real [n, 1, S, S] and generated [m, 1, S, S] images in [0, 1] (float64 statistics)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=RandomFeatures(features, seed), normalize=True)
    fid.set_dtype(torch.float64)
    for images, is_real in ((real, True), (generated, False)):
        for start in range(0, len(images), batch):
            fid.update(images[start : start + batch].cpu(), real=is_real)
    return float(fid.compute())
