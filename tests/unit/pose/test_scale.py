"""Projected object size and the size bins of the small-object study, on hand-made sizes."""

from __future__ import annotations

import torch

from reprozoo.papers.pose.evaluate import BIN_METRICS, by_size
from reprozoo.papers.pose.scale import bin_edges_px, bin_labels, keypoint_extent, size_bins


def test_extent_is_the_keypoint_box_diagonal() -> None:
    keypoints = torch.tensor([[[10.0, 20.0], [13.0, 24.0], [11.0, 21.0]], [[5.0, 5.0], [5.0, 5.0], [5.0, 5.0]]])
    assert keypoint_extent(keypoints).tolist() == [5.0, 0.0]  # 3-4-5 box, then a single point


def test_bins_are_octaves_of_the_width_with_inclusive_lower_edges() -> None:
    fractions = [0.0625, 0.125, 0.25]
    assert bin_edges_px(fractions, 160) == [10.0, 20.0, 40.0]
    assert bin_edges_px(fractions, 320) == [20.0, 40.0, 80.0]
    sizes = torch.tensor([0.0, 9.99, 10.0, 19.9, 20.0, 39.9, 40.0, 150.0], dtype=torch.float64)
    assert size_bins(sizes, [10.0, 20.0, 40.0]).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert bin_labels([10.0, 20.0, 40.0]) == ["<10 px", "10–20 px", "20–40 px", "≥40 px"]
    assert bin_labels([8.0, 16.0, 32.0])[1] == "8–16 px"


def test_metrics_by_size_count_every_bin_and_score_the_filled_ones() -> None:
    n = 4
    errors = {  # samples 0, 1 perfect; 2, 3 far off
        "npe": torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64),
        "rot_rad": torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64),
        "trans_m": torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64),
        "add_m": torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64),
        "proj_px": torch.tensor([0.0, 0.0, 50.0, 50.0], dtype=torch.float64),
    }
    kpt_err = torch.tensor([[0.5] * 9, [1.5] * 9, [9.0] * 9, [9.0] * 9], dtype=torch.float64)
    ok = torch.tensor([True, True, True, False])
    bins = torch.tensor([0, 0, 3, 3])
    metrics = by_size(errors, kpt_err, ok, bins, ["xs", "s", "m", "l"], diameter=0.2, thresholds=[2, 5])
    assert [metrics[f"size_{b}/n"] for b in ("xs", "s", "m", "l")] == [2, 0, 0, 2] and sum(metrics[f"size_{b}/n"] for b in "xs s m l".split()) == n
    assert not any(k.startswith(("size_s/", "size_m/")) and not k.endswith("/n") for k in metrics)
    assert {k.split("/")[1] for k in metrics if k.startswith("size_xs/")} == {"n", *BIN_METRICS}
    assert metrics["size_xs/add5"] == 100.0 and metrics["size_l/add5"] == 0.0
    assert metrics["size_xs/kpt_err_px"] == 1.0 and metrics["size_xs/pck2"] == 100.0
    assert metrics["size_l/pnp_failure_rate"] == 50.0 and metrics["size_xs/pnp_failure_rate"] == 0.0
