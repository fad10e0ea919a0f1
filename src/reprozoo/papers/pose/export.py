"""The pose model as served from the registry: images → keypoints, no training code attached."""

from __future__ import annotations

import torch
from torch import nn

from reprozoo.papers.pose.heatmaps import centre_of_mass, spatial_softmax


class KeypointPredictor(nn.Module):
    """images [B, 3, H, W] float in [0, 1] → keypoints [B, K, 2] in image pixels (u, v).

    Feed the keypoints with the dataset's 3D keypoints and intrinsics to a PnP solver to get the pose.
    """

    def __init__(self, net: nn.Module, stride: int, temperature: float) -> None:
        super().__init__()
        self.net, self.stride, self.temperature = net, stride, temperature

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return centre_of_mass(spatial_softmax(self.net(images), self.temperature), self.stride)
