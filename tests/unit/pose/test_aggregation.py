"""Aggregating a network's outputs into one heatmap per keypoint (HigherHRNet inference, spec §5), by hand."""

from __future__ import annotations

import math

import pytest
import torch

from reprozoo.papers.pose.heatmaps import aggregate, centre_of_mass, gaussian_targets, spatial_softmax, upsample

LN2, LN4 = math.log(2.0), math.log(4.0)


def _maps(*rows: list[float]) -> torch.Tensor:
    """A [1, 1, h, w] float64 map from its rows."""
    return torch.tensor([[list(rows)]], dtype=torch.float64)


def test_identical_logit_maps_aggregate_to_either_one() -> None:
    quarter = torch.randn(2, 9, 6, 8, dtype=torch.float64)
    for mode in ("logits", "probs"):
        maps, stride = aggregate([quarter, quarter.clone()], (4, 4), mode)
        single, _ = aggregate([quarter], (4,), mode)
        assert stride == 1 and maps.shape == (2, 9, 24, 32)
        assert torch.allclose(maps, single)
    # the logits rule on one output is the softmax of its upsampled logits
    assert torch.allclose(aggregate([quarter], (4,), "logits")[0], spatial_softmax(upsample(quarter, 4)))


def test_hand_made_2x2_logits_mode() -> None:
    # mean of the logits = [[ln4, ln2], [0, 0]] → exp = [[4, 2], [1, 1]] / 8
    maps, stride = aggregate([_maps([LN4, 0.0], [0.0, 0.0]), _maps([LN4, LN4], [0.0, 0.0])], (1, 1), "logits")
    assert stride == 1
    assert torch.allclose(maps, _maps([0.5, 0.25], [0.125, 0.125]))
    assert torch.allclose(centre_of_mass(maps, stride), torch.tensor([[[0.375, 0.25]]], dtype=torch.float64))


def test_hand_made_2x2_probs_mode() -> None:
    # softmaxes [[4, 1], [1, 1]] / 7 and [[4, 4], [1, 1]] / 10, averaged
    maps, _ = aggregate([_maps([LN4, 0.0], [0.0, 0.0]), _maps([LN4, LN4], [0.0, 0.0])], (1, 1), "probs")
    expected = (_maps([4.0, 1.0], [1.0, 1.0]) / 7 + _maps([4.0, 4.0], [1.0, 1.0]) / 10) / 2
    assert torch.allclose(maps, expected)


def test_coarse_output_is_upsampled_before_averaging() -> None:
    # a 1×1 map at stride 2 upsamples to a constant c, so the logits aggregate is softmax((c + L) / 2) = softmax(L / 2)
    fine = _maps([LN4, 0.0], [LN2, 0.0])
    maps, _ = aggregate([torch.full((1, 1, 1, 1), 3.0, dtype=torch.float64), fine], (2, 1), "logits")
    assert torch.allclose(maps, spatial_softmax(fine / 2))


def test_last_mode_keeps_the_last_output_and_its_stride() -> None:
    outputs = [torch.randn(1, 9, 6, 8), torch.randn(1, 9, 6, 8)]
    maps, stride = aggregate(outputs, (4, 4), "last", temperature=2.0)
    assert stride == 4 and torch.allclose(maps, spatial_softmax(outputs[1], 2.0))
    with pytest.raises(ValueError, match="unknown"):
        aggregate(outputs, (4, 4), "max")


@pytest.mark.parametrize("mode", ["logits", "probs"])
def test_upsampling_keeps_the_grid_convention(mode: str) -> None:
    # log-Gaussian logits at 1/4 and 1/2 of a 64×48 image decode, after aggregation at full size, to the keypoint
    keypoints = torch.tensor([[[20.3, 17.8], [41.0, 30.5]]], dtype=torch.float64)
    logits = [gaussian_targets(keypoints, 48 // s, 64 // s, s, 8.0).log() for s in (4, 2)]
    maps, stride = aggregate(logits, (4, 2), mode)
    assert maps.shape == (1, 2, 48, 64)
    assert torch.allclose(maps.sum(dim=(-2, -1)), torch.ones(1, 2, dtype=torch.float64))
    assert torch.allclose(centre_of_mass(maps, stride), keypoints, atol=0.05)
