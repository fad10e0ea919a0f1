"""The pose model as served from the registry: images → keypoints, no training code attached."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from reprozoo.papers.pose.heatmaps import aggregate, centre_of_mass


class KeypointPredictor(nn.Module):
    """images [B, 3, H, W] float in [0, 1] → keypoints [B, K, 2] in image pixels (u, v).

    The network's outputs (one logit map per stride in `strides`) are aggregated as in training's validation
    (`heatmaps.aggregate` with `aggregation`) and decoded by centre of mass. Feed the keypoints with the dataset's
    3D keypoints and intrinsics to a PnP solver to get the pose.
    """

    def __init__(self, net: nn.Module, strides: Sequence[int], aggregation: str, temperature: float) -> None:
        super().__init__()
        self.net, self.strides, self.aggregation, self.temperature = net, tuple(strides), aggregation, temperature

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return centre_of_mass(*aggregate(self.net(images), self.strides, self.aggregation, self.temperature))
