"""The TopoGAN model as served from the registry: latents → binary masks, no critic or training code attached."""

from __future__ import annotations

import torch
from torch import nn


class MaskSampler(nn.Module):
    """z [B, z_dim] float ~ N(0, I) → masks [B, 1, S, S] float in {0, 1}, 0 = structure (the datasets' polarity).

    The generator's tanh output is binarised at `threshold` (τ): ≤ τ is structure, as for the topological loss.
    """

    def __init__(self, generator: nn.Module, threshold: float) -> None:
        super().__init__()
        self.generator, self.threshold = generator, threshold

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (self.generator(z) > self.threshold).float()
