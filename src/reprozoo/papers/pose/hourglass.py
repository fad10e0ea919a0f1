"""Stacked Hourglass (Newell et al., ECCV 2016) for keypoint heatmaps, the report's third decoder (spec §2.1–2.2).

stem: 7×7 stride-2 conv → residual → 2×2 max-pool → residual (→ 1/4, `channels` wide); then `stacks` times:
hourglass(depth) → residual → 1×1 conv-BN-ReLU → 1×1 head → K logit maps at 1/4. Every stack's output is supervised;
between stacks the features and the predicted maps are mapped back by 1×1 convs and added to the stack's input.
Residual units are pre-activation bottlenecks (BN-ReLU-conv, inner width = channels / 2), as in the original.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def bn_relu_conv(cin: int, cout: int, kernel: int) -> nn.Sequential:
    """BN → ReLU → conv (`kernel`×`kernel`, same padding, no bias)."""
    return nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False))


class Residual(nn.Module):
    """Pre-activation bottleneck [B, cin, h, w] → [B, cout, h, w] (1×1 → 3×3 → 1×1), 1×1 skip when cin ≠ cout."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        mid = max(cout // 2, 8)
        self.body = nn.Sequential(bn_relu_conv(cin, mid, 1), bn_relu_conv(mid, mid, 3), bn_relu_conv(mid, cout, 1))
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


class Hourglass(nn.Module):
    """One hourglass of `depth` levels, [B, C, h, w] → [B, C, h, w].

    Level: skip = residual(x); low = residual(pool(x)) → inner (the next level, or a residual at the bottom) →
    residual; out = skip + nearest-upsample(low). Pooling rounds up so odd sizes (e.g. 15 rows) survive.
    """

    def __init__(self, depth: int, channels: int) -> None:
        super().__init__()
        self.skip = Residual(channels, channels)
        self.down = Residual(channels, channels)
        self.inner = Hourglass(depth - 1, channels) if depth > 1 else Residual(channels, channels)
        self.up = Residual(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.up(self.inner(self.down(F.max_pool2d(x, 2, ceil_mode=True))))
        return self.skip(x) + F.interpolate(low, size=x.shape[-2:], mode="nearest")


class StackedHourglass(nn.Module):
    """`stacks` hourglasses with intermediate supervision.

    forward(images [B, 3, H, W]) → [logits [B, K, H/4, W/4] of stack 1, ..., of stack `stacks`].
    """

    def __init__(self, num_keypoints: int = 9, stacks: int = 2, depth: int = 2, channels: int = 64) -> None:
        super().__init__()
        self.strides = (4,) * stacks
        half = channels // 2
        self.stem = nn.Sequential(
            nn.Conv2d(3, half, 7, stride=2, padding=3, bias=False),
            Residual(half, channels),
            nn.MaxPool2d(2),
            Residual(channels, channels),
        )
        self.hourglasses = nn.ModuleList(Hourglass(depth, channels) for _ in range(stacks))
        self.features = nn.ModuleList(
            nn.Sequential(Residual(channels, channels), nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
            for _ in range(stacks)
        )
        self.heads = nn.ModuleList(nn.Conv2d(channels, num_keypoints, 1) for _ in range(stacks))
        self.remap_features = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in range(stacks - 1))
        self.remap_logits = nn.ModuleList(nn.Conv2d(num_keypoints, channels, 1) for _ in range(stacks - 1))

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(images)
        outputs = []
        for s, (hourglass, features, head) in enumerate(zip(self.hourglasses, self.features, self.heads)):
            y = features(hourglass(x))
            logits = head(y)
            outputs.append(logits)
            if s < len(self.remap_features):
                x = x + self.remap_features[s](y) + self.remap_logits[s](logits)
        return outputs
