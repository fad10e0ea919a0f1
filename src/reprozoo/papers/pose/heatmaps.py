"""Heatmap maths of the pose paper: Gaussian targets, spatial softmax, aggregation of multi-output networks, centre of
mass decoding.

Grid convention: heatmap cell (i, j) of a map at `stride` s covers image pixels [s·i, s·(i+1)); its centre in image
pixel coordinates (pixel centres at integers) is s·i + (s − 1)/2. Targets and decoding share this convention, so a
perfect heatmap decodes to the exact keypoint (the reproducers' "inclusive" grid i/W is biased by half a cell).
Bilinear upsampling with align_corners=False keeps that convention: cell i at stride s lands on pixel s·i + (s − 1)/2.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

AGGREGATIONS = ("last", "logits", "probs")


def cell_centres(size: int, stride: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Image-pixel coordinate [size] of each heatmap cell's centre along one axis."""
    return torch.arange(size, device=device, dtype=dtype) * stride + (stride - 1) / 2.0


def gaussian_targets(keypoints: torch.Tensor, height: int, width: int, stride: int, std_percent: float) -> torch.Tensor:
    """Normalised Gaussian target maps.

    Args:
        keypoints: [B, K, 2] pixel coordinates (u, v) in the image.
        height, width: heatmap size (cells).
        stride: image pixels per heatmap cell.
        std_percent: standard deviation as % of the heatmap grid, per axis (so anisotropic in pixels when H ≠ W).
    Returns:
        [B, K, height, width] maps, each summing to 1.
    """
    xs = cell_centres(width, stride, keypoints.device, keypoints.dtype)
    ys = cell_centres(height, stride, keypoints.device, keypoints.dtype)
    sx = std_percent / 100.0 * width * stride
    sy = std_percent / 100.0 * height * stride
    gx = torch.exp(-0.5 * ((xs - keypoints[..., 0:1]) / sx) ** 2)  # [B, K, W]
    gy = torch.exp(-0.5 * ((ys - keypoints[..., 1:2]) / sy) ** 2)  # [B, K, H]
    maps = gy.unsqueeze(-1) * gx.unsqueeze(-2)
    return maps / maps.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)


def spatial_softmax(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Softmax over each map's H×W cells: [B, K, H, W] logits → maps summing to 1."""
    b, k, h, w = logits.shape
    return torch.softmax(logits.reshape(b, k, h * w) / temperature, dim=-1).reshape(b, k, h, w)


def upsample(maps: torch.Tensor, factor: int) -> torch.Tensor:
    """Bilinear upsampling [B, K, h, w] → [B, K, h·factor, w·factor] (align_corners=False: cell centres keep their pixels)."""
    if factor == 1:
        return maps
    h, w = maps.shape[-2:]
    return F.interpolate(maps, size=(h * factor, w * factor), mode="bilinear", align_corners=False)


def aggregate(logits: Sequence[torch.Tensor], strides: Sequence[int], mode: str, temperature: float = 1.0) -> tuple[torch.Tensor, int]:
    """One normalised heatmap per keypoint from a network's outputs (logit maps [B, K, H/s, W/s], one per stride s).

    Modes:
        last: spatial softmax of the last output at its own stride (HRNet's only output, the final hourglass stack).
        logits: upsample every output's logits to the input resolution, average, spatial softmax (the reproducers'
            HigherHRNet inference).
        probs: spatial softmax of every output, upsample to the input resolution, renormalise each to sum 1, average
            (the official HigherHRNet, which averages heatmaps).
    Returns:
        (maps [B, K, h, w] each summing to 1, their stride: the last output's for "last", else 1).
    """
    if mode == "last":
        return spatial_softmax(logits[-1], temperature), int(strides[-1])
    if mode == "logits":
        mean = torch.stack([upsample(x, s) for x, s in zip(logits, strides)]).mean(0)
        return spatial_softmax(mean, temperature), 1
    if mode == "probs":
        ups = [upsample(spatial_softmax(x, temperature), s) for x, s in zip(logits, strides)]
        return torch.stack([p / p.sum(dim=(-2, -1), keepdim=True) for p in ups]).mean(0), 1
    raise ValueError(f"heatmap aggregation '{mode}': unknown (known: {', '.join(AGGREGATIONS)})")


def centre_of_mass(maps: torch.Tensor, stride: int) -> torch.Tensor:
    """Expected cell centre of normalised maps [B, K, H, W] → keypoints [B, K, 2] in image pixels (u, v)."""
    h, w = maps.shape[-2:]
    xs = cell_centres(w, stride, maps.device, maps.dtype)
    ys = cell_centres(h, stride, maps.device, maps.dtype)
    u = (maps.sum(-2) * xs).sum(-1)
    v = (maps.sum(-1) * ys).sum(-1)
    return torch.stack([u, v], dim=-1)


def heatmap_loss(logits: torch.Tensor, target: torch.Tensor, kind: str, temperature: float = 1.0) -> torch.Tensor:
    """The heatmap loss l_h between logits [B, K, h, w] and normalised targets [B, K, h, w] (spec §3: the report tried
    KL and MSE and kept L1).

    l1:  mean |softmax(logits) − H*| over B·K·h·w (the report's l_h).
    mse: mean (softmax(logits) − H*)² over B·K·h·w.
    kl:  mean over B·K of KL(H* ‖ softmax(logits)) (its gradient on the logits is softmax − H*: far stronger early).
    """
    if kind == "kl":
        b, k, h, w = logits.shape
        log_p = torch.log_softmax(logits.reshape(b, k, h * w) / temperature, dim=-1)
        t = target.reshape(b, k, h * w)
        return (t * (torch.log(t.clamp_min(1e-12)) - log_p)).sum(-1).mean()
    pred = spatial_softmax(logits, temperature)
    if kind == "mse":
        return ((pred - target) ** 2).mean()
    if kind == "l1":
        return heatmap_l1(pred, target)
    raise ValueError(f"heatmap.loss '{kind}': unknown (known: l1, mse, kl)")


def heatmap_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The report's l_h: mean |H − H*| over B·K·H·W (both maps normalised)."""
    return (pred - target).abs().mean()
