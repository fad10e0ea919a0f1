"""Gaussian targets, spatial softmax and centre-of-mass decoding share one grid convention."""

from __future__ import annotations

import torch

from reprozoo.papers.pose.heatmaps import cell_centres, centre_of_mass, gaussian_targets, heatmap_l1, spatial_softmax


def test_targets_are_normalised_and_decode_to_the_keypoint() -> None:
    keypoints = torch.tensor([[[40.3, 30.7], [30.0, 50.25], [100.9, 20.1]]], dtype=torch.float64)
    maps = gaussian_targets(keypoints, height=30, width=40, stride=4, std_percent=3.5)
    assert maps.shape == (1, 3, 30, 40)
    assert torch.allclose(maps.sum(dim=(-2, -1)), torch.ones(1, 3, dtype=torch.float64))
    # interior keypoints: the Gaussian is symmetric, so its centre of mass is the keypoint itself
    assert torch.allclose(centre_of_mass(maps, stride=4), keypoints, atol=1e-3)


def test_std_is_a_share_of_each_axis() -> None:
    maps = gaussian_targets(torch.tensor([[[79.5, 59.5]]]), height=30, width=40, stride=4, std_percent=3.5)[0, 0].double()
    xs, ys = cell_centres(40, 4, dtype=torch.float64), cell_centres(30, 4, dtype=torch.float64)
    var_x = (maps.sum(0) * (xs - 79.5) ** 2).sum()
    var_y = (maps.sum(1) * (ys - 59.5) ** 2).sum()
    assert abs(var_x.sqrt().item() - 0.035 * 160) < 0.05  # 5.6 px along x
    assert abs(var_y.sqrt().item() - 0.035 * 120) < 0.05  # 4.2 px along y


def test_cell_centres_match_the_pixels_they_cover() -> None:
    assert cell_centres(3, 4).tolist() == [1.5, 5.5, 9.5]  # cell 0 covers pixels 0..3
    assert cell_centres(2, 1).tolist() == [0.0, 1.0]


def test_spatial_softmax_and_l1() -> None:
    logits = torch.randn(2, 9, 6, 8)
    maps = spatial_softmax(logits, temperature=2.0)
    assert torch.allclose(maps.sum(dim=(-2, -1)), torch.ones(2, 9), atol=1e-6)
    reference = torch.softmax(logits.flatten(2) / 2.0, dim=-1).reshape_as(logits)
    assert torch.allclose(maps, reference)
    assert heatmap_l1(maps, maps) == 0
    assert torch.isclose(heatmap_l1(torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.25)), torch.tensor(0.25))
    one_hot = torch.zeros(1, 1, 6, 8)
    one_hot[0, 0, 2, 5] = 1
    assert centre_of_mass(one_hot, stride=4).tolist() == [[[21.5, 9.5]]]


def test_heatmap_loss_kinds() -> None:
    import pytest

    from reprozoo.papers.pose.heatmaps import heatmap_loss

    target = gaussian_targets(torch.tensor([[[20.0, 14.0]]]), height=8, width=10, stride=4, std_percent=10.0)
    exact = torch.log(target)  # logits whose softmax is the target
    assert heatmap_loss(exact, target, "kl") < 1e-6
    assert heatmap_loss(exact, target, "l1") < 1e-7 and heatmap_loss(exact, target, "mse") < 1e-12
    flat = torch.zeros_like(target)
    uniform = torch.full_like(target, 1 / 80)
    assert torch.isclose(heatmap_loss(flat, target, "l1"), (uniform - target).abs().mean())
    assert torch.isclose(heatmap_loss(flat, target, "mse"), ((uniform - target) ** 2).mean())
    kl = (target * (torch.log(target) - torch.log(uniform))).sum()
    assert torch.isclose(heatmap_loss(flat, target, "kl"), kl, rtol=1e-5)
    with pytest.raises(ValueError, match="heatmap.loss 'ce'"):
        heatmap_loss(flat, target, "ce")
