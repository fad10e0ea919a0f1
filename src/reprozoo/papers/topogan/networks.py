"""DCGAN generator and critic of the released code (spec §2), for any size 2^k ≥ 16.

For size S = 4 · 2^k the generator is ConvT(z → c_0, k4 s1 p0) then k − 1 ConvT(k4 s2 p1) halving the channels,
each with BatchNorm + ReLU, then ConvT(→ 1, k4 s2 p1) + tanh, with c_0 = ngf · 2^(k−1): 64 × 64 with ngf 64 is the
code's 128 → 512 → 256 → 128 → 64 → 1, 128 × 128 with ngf 32 its 128 → 512 → … → 32 → 1. The critic mirrors it with
ndf · 2^i channels, LeakyReLU(0.2) and **no BatchNorm** (WGAN-GP), ending in Conv(k4 s1 p0) → one score; with
`spectral_norm` every conv is spectrally normalised (the WGAN-SN baseline). All convs have bias=False; weights are
drawn from N(0, 0.02), BatchNorm weights from N(1, 0.02).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _depth(size: int) -> int:
    """k with size = 4 · 2^k; sizes must be powers of two ≥ 16."""
    k = math.log2(size / 4)
    if size < 16 or k != int(k):
        raise ValueError(f"image size {size}: DCGAN needs a power of two ≥ 16")
    return int(k)


def init_dcgan(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights ~ N(0, 0.02), BatchNorm weight ~ N(1, 0.02) and bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class Generator(nn.Module):
    """z [B, z_dim] → masks [B, 1, size, size] in (−1, 1), structure dark."""

    def __init__(self, size: int, z_dim: int, ngf: int) -> None:
        super().__init__()
        k = _depth(size)
        channels = [ngf * 2 ** (k - 1 - i) for i in range(k)]
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, channels[0], 4, 1, 0, bias=False), nn.BatchNorm2d(channels[0]), nn.ReLU(True)]
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(channels[-1], 1, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.z_dim, self.size = z_dim, size
        init_dcgan(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.reshape(z.shape[0], self.z_dim, 1, 1))


class Critic(nn.Module):
    """masks [B, 1, size, size] → scores [B] (no BatchNorm; spectral norm on every conv for WGAN-SN)."""

    def __init__(self, size: int, ndf: int, spectral_norm: bool = False) -> None:
        super().__init__()
        k = _depth(size)
        channels = [ndf * 2**i for i in range(k)]
        convs = [nn.Conv2d(1, channels[0], 4, 2, 1, bias=False)]
        convs += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False) for c_in, c_out in zip(channels[:-1], channels[1:], strict=True)]
        convs.append(nn.Conv2d(channels[-1], 1, 4, 1, 0, bias=False))
        for conv in convs:
            nn.init.normal_(conv.weight, 0.0, 0.02)
        if spectral_norm:
            convs = [nn.utils.parametrizations.spectral_norm(conv) for conv in convs]
        layers: list[nn.Module] = []
        for conv in convs[:-1]:
            layers += [conv, nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, convs[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(x.shape[0])
