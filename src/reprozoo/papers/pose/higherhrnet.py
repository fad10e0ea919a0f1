"""HigherHRNet (Cheng et al., CVPR 2020) as the report uses it: HRNet + one deconvolution module (spec §2.2, §5).

HRNet features F [B, C, H/4, W/4] → 1×1 head → logits at 1/4; cat(F, those logits) → ConvTranspose (k 4, s 2, p 1)
→ BN → ReLU → BasicBlocks → 1×1 head → logits at 1/2. Both outputs are supervised (multi-resolution l_h, module.py)
and aggregated at inference (`heatmaps.aggregate`: "logits" = the reproducers' mean of upsampled logits, "probs" =
the official mean of upsampled heatmaps).
"""

from __future__ import annotations

import torch
from torch import nn

from reprozoo.papers.pose.hrnet import BasicBlock, HRNet


class DeconvModule(nn.Module):
    """[B, cin, h, w] → [B, cout, 2h, 2w]: transposed conv (k 4, s 2, p 1) → BN → ReLU → `blocks` BasicBlocks."""

    def __init__(self, cin: int, cout: int, blocks: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, output_padding=0, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            *[BasicBlock(cout) for _ in range(blocks)],
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class HigherHRNet(nn.Module):
    """HRNet backbone + heads at 1/4 and 1/2.

    forward(images [B, 3, H, W]) → [logits [B, K, H/4, W/4], logits [B, K, H/2, W/2]].
    `hrnet_kwargs` are HRNet's size arguments (stem_channels, stem_units, widths, modules, blocks).
    """

    strides = (4, 2)

    def __init__(self, num_keypoints: int = 9, deconv_channels: int = 16, deconv_blocks: int = 1, **hrnet_kwargs) -> None:
        super().__init__()
        self.hrnet = HRNet(num_keypoints, **hrnet_kwargs)
        self.deconv = DeconvModule(self.hrnet.feature_channels + num_keypoints, deconv_channels, deconv_blocks)
        self.head_half = nn.Conv2d(deconv_channels, num_keypoints, 1)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        features = self.hrnet.features(images)
        quarter = self.hrnet.head(features)
        half = self.head_half(self.deconv(torch.cat([features, quarter], dim=1)))
        return [quarter, half]
