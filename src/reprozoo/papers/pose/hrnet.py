"""A configurable HRNet for keypoint heatmaps (the report's "HRNet" decoder and the small CPU version, spec §2).

stem (two stride-2 3×3 convs → 1/4, then bottleneck units) → stages of parallel branches at 1/4, 1/8, 1/16, ...
(`widths`), each stage made of exchange modules (BasicBlocks per branch, then every branch fused into every other:
strided convs down, 1×1 conv + bilinear upsampling up; the very last module fuses into the 1/4 branch only, as the
official `multi_scale_output=False`) → 1×1 head on the 1/4 branch → K logit maps at 1/4.
Stage s (0-based) runs min(s + 2, len(widths)) branches, so widths [48, 96, 192] with modules [1, 4] is the
report's 3-stage net and widths [16, 32] with modules [1, 2] the tiny one. Like every heatmap network of this paper
it returns a list of logit maps, one per output, with the outputs' strides in `strides` (here one, at stride 4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3×3 conv → BN → ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class BasicBlock(nn.Module):
    """Two 3×3 convs with a residual connection (channels kept)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_bn_relu(channels, channels),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class Bottleneck(nn.Module):
    """1×1 → 3×3 → 1×1 residual unit (`cin` → `cout`, inner width cout/4), with a projection when cin ≠ cout."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        mid = max(cout // 4, 8)
        self.body = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            conv_bn_relu(mid, mid),
            nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout),
        )
        self.skip = nn.Identity() if cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.skip(x) + self.body(x))


class ExchangeModule(nn.Module):
    """Per-branch BasicBlocks, then a fusion: output branch i = ReLU(Σ_j resample_{j→i}(x_j)) for the first `outputs`
    branches (all by default; only the 1/4 branch in the network's last module, which is all the head reads)."""

    def __init__(self, widths: list[int], blocks: int, outputs: int | None = None) -> None:
        super().__init__()
        self.branches = nn.ModuleList(nn.Sequential(*[BasicBlock(w) for _ in range(blocks)]) for w in widths)
        self.fuse = nn.ModuleList()
        for i, wi in enumerate(widths[: outputs or len(widths)]):
            row = nn.ModuleList()
            for j, wj in enumerate(widths):
                if j == i:
                    row.append(nn.Identity())
                elif j > i:  # lower resolution → upsample after a 1×1 conv
                    row.append(nn.Sequential(nn.Conv2d(wj, wi, 1, bias=False), nn.BatchNorm2d(wi)))
                else:  # higher resolution → (i − j) stride-2 convs
                    steps = [conv_bn_relu(wj, wj, 2) for _ in range(i - j - 1)]
                    steps += [nn.Conv2d(wj, wi, 3, 2, 1, bias=False), nn.BatchNorm2d(wi)]
                    row.append(nn.Sequential(*steps))
            self.fuse.append(row)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        out = []
        for i, row in enumerate(self.fuse):
            total = xs[i]
            for j, op in enumerate(row):
                if j == i:
                    continue
                y = op(xs[j])
                if j > i:
                    y = F.interpolate(y, size=xs[i].shape[-2:], mode="bilinear", align_corners=False)
                total = total + y
            out.append(F.relu(total))
        return out


class HRNet(nn.Module):
    """HRNet backbone + 1×1 heatmap head.

    forward(images [B, 3, H, W]) → [logits [B, K, H/4, W/4]]; `features(images)` → the 1/4 branch
    [B, feature_channels, H/4, W/4] (what HigherHRNet's deconvolution module reads).
    """

    strides = (4,)

    def __init__(
        self,
        num_keypoints: int = 9,
        stem_channels: int = 32,
        stem_units: int = 2,
        widths: tuple[int, ...] = (16, 32),
        modules: tuple[int, ...] = (1, 2),
        blocks: int = 2,
    ) -> None:
        super().__init__()
        widths = list(widths)
        self.stem = nn.Sequential(
            conv_bn_relu(3, stem_channels, 2),
            conv_bn_relu(stem_channels, stem_channels, 2),
            *[Bottleneck(stem_channels, stem_channels) for _ in range(stem_units)],
        )
        self.to_branch0 = conv_bn_relu(stem_channels, widths[0])
        self.transitions = nn.ModuleList()
        self.stages = nn.ModuleList()
        active = 1
        for stage, n_modules in enumerate(modules):
            n_branches = min(stage + 2, len(widths))
            # new branches branch off the lowest-resolution existing one with a stride-2 conv
            self.transitions.append(
                nn.ModuleList(conv_bn_relu(widths[b - 1], widths[b], 2) for b in range(active, n_branches))
            )
            last = stage == len(modules) - 1
            self.stages.append(
                nn.Sequential(*[ExchangeModule(widths[:n_branches], blocks, 1 if last and m == n_modules - 1 else None) for m in range(n_modules)])
            )
            active = n_branches
        self.feature_channels = widths[0]
        self.head = nn.Conv2d(widths[0], num_keypoints, 1)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        xs = [self.to_branch0(self.stem(images))]
        for transition, stage in zip(self.transitions, self.stages):
            for new in transition:
                xs.append(new(xs[-1]))
            for module in stage:
                xs = module(xs)
        return xs[0]

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [self.head(self.features(images))]
