"""Test-split evaluation of a pose run: keypoints → OpenCV PnP → the report's metrics, per sample and aggregated,
overall and by projected object size (`scale.py`: metrics `size_<bin>/<metric>`, per-sample `size_px`, `size_bin`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from reprozoo.geometry import pose_metrics
from reprozoo.geometry.camera import project_points
from reprozoo.papers.base import Evaluation
from reprozoo.papers.pose import figures, scale
from reprozoo.papers.pose.heatmaps import gaussian_targets, spatial_softmax
from reprozoo.papers.pose.posing import solve_poses

CDF_ADD_PERCENT = np.linspace(0.0, 20.0, 81)  # thresholds, % of the diameter
CDF_PROJ_PX = np.linspace(0.0, 20.0, 81)
BIN_METRICS = ("npe", "ad", "acc2", "acc5", "add2", "add5", "proj2", "proj5", "kpt_err_px", "pck2", "pnp_failure_rate")
BAR_METRICS = ("pck2", "acc5", "add5", "proj5")  # the percentages drawn in the by-size bar chart


def cdf(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """% of `values` strictly below each threshold."""
    return 100.0 * (values[None, :] < thresholds[:, None]).mean(axis=1)


def summary(errors: dict[str, torch.Tensor], kpt_err: torch.Tensor, ok: torch.Tensor, diameter: float, thresholds) -> dict[str, float]:
    """Aggregate metrics of a set of samples: the report's columns (`pose_metrics.summarize`) from per-sample errors [N],
    plus the mean 2D keypoint error, PCK@2/5 px from per-keypoint errors kpt_err [N, K] and the PnP failure rate (ok [N] bool)."""
    metrics = pose_metrics.summarize(errors, diameter, tuple(thresholds))
    metrics.update(
        kpt_err_px=kpt_err.mean().item(),
        pck2=100.0 * (kpt_err < 2).double().mean().item(),
        pck5=100.0 * (kpt_err < 5).double().mean().item(),
        pnp_failure_rate=100.0 * (1.0 - ok.double().mean().item()),
    )
    return metrics


def by_size(
    errors: dict[str, torch.Tensor], kpt_err: torch.Tensor, ok: torch.Tensor, bins: torch.Tensor, names: list[str], diameter: float, thresholds
) -> dict[str, float]:
    """`size_<name>/n` for every bin and `size_<name>/<metric>` (BIN_METRICS) for every non-empty one; bins [N] index `names`."""
    out: dict[str, float] = {}
    for b, name in enumerate(names):
        mask = bins == b
        out[f"size_{name}/n"] = int(mask.sum())
        if mask.any():
            sub = summary({k: v[mask] for k, v in errors.items()}, kpt_err[mask], ok[mask], diameter, thresholds)
            out.update({f"size_{name}/{k}": sub[k] for k in BIN_METRICS})
    return out


@torch.no_grad()
def predict(module, datamodule) -> torch.Tensor:
    """Keypoints [N, K, 2] (float64, pixels) of the test split, decoded from the aggregated heatmaps."""
    preds = [module.keypoints(batch["image"].to(module.device)).cpu() for batch in datamodule.test_dataloader()]
    return torch.cat(preds).double()


@torch.no_grad()
def heatmap_figure(module, split, indices: list[int], std_percent: float):
    """Predicted vs target heatmaps of every network output (and the aggregate) for the test samples `indices`."""
    images = split.images[indices].float().to(module.device) / 255.0
    keypoints = split.keypoints[indices].to(module.device)
    logits = module(images)
    panels = []
    for i, (x, stride) in enumerate(zip(logits, module.strides)):
        label = f"1/{stride}" if len(set(module.strides)) == len(logits) else f"output {i + 1} (1/{stride})"
        h, w = x.shape[-2:]
        panels.append((f"{label} predicted", spatial_softmax(x, module.temperature).cpu().numpy(), stride))
        panels.append((f"{label} target", gaussian_targets(keypoints, h, w, stride, std_percent).cpu().numpy(), stride))
    if module.aggregation != "last":
        maps, stride = module.decode(logits)
        panels.append((f"aggregate ({module.aggregation}) at 1/{stride}", maps.cpu().numpy(), stride))
    return figures.heatmap_grid(split.images[indices].permute(0, 2, 3, 1).numpy(), split.keypoints[indices].numpy(), panels)


def evaluate(cfg, module, datamodule) -> Evaluation:
    """Run `module` on the test split and score it (see `reprozoo.geometry.pose_metrics` and `scale`)."""
    module.eval()
    geometry = datamodule.geometry
    split = datamodule.split("test")
    pred = predict(module, datamodule)
    true = split.keypoints.double()
    R, t, ok = solve_poses(pred.numpy(), geometry.keypoints3d.numpy(), geometry.K.numpy(), cfg.evaluate.pnp)
    R_pred, t_pred = torch.from_numpy(R), torch.from_numpy(t)
    proj_scale = float(cfg.evaluate.proj_reference_width) / geometry.width
    errors = pose_metrics.per_sample_errors(split.R, split.t, R_pred, t_pred, geometry.surface_points, geometry.K, proj_scale=proj_scale)
    kpt_err = torch.linalg.vector_norm(pred - true, dim=-1)  # [N, K]
    ok_t = torch.from_numpy(ok)
    thresholds = cfg.evaluate.thresholds

    sizes = scale.keypoint_extent(true)
    edges = scale.bin_edges_px(cfg.evaluate.size_bins.edges, geometry.width)
    names = list(cfg.evaluate.size_bins.names)
    bins = scale.size_bins(sizes, edges)
    metrics = summary(errors, kpt_err, ok_t, geometry.diameter, thresholds)
    metrics.update(by_size(errors, kpt_err, ok_t, bins, names, geometry.diameter, thresholds), n_test=len(split))

    per_sample = {name: values.tolist() for name, values in errors.items()}
    per_sample.update(
        kpt_err_px=kpt_err.mean(-1).tolist(), pnp_ok=ok.astype(float).tolist(), size_px=sizes.tolist(), size_bin=bins.double().tolist()
    )
    np_errors = {k: np.asarray(v) for k, v in per_sample.items()}
    n_fig = min(int(cfg.evaluate.n_figure_images), len(split))
    images = split.images[:n_fig].permute(0, 2, 3, 1).numpy()
    reprojected = project_points(geometry.keypoints3d, R_pred[:n_fig], t_pred[:n_fig], geometry.K).numpy()
    titles = [f"ADD {100 * a / geometry.diameter:.1f}% · rot {np.degrees(r):.1f}°" for a, r in zip(np_errors["add_m"][:n_fig], np_errors["rot_rad"][:n_fig])]
    quantiles = np.linspace(0.1, 0.9, int(cfg.evaluate.n_heatmap_images))
    by_size_order = torch.argsort(sizes).tolist()
    heatmap_rows = sorted({by_size_order[round(q * (len(split) - 1))] for q in quantiles})
    figs = {
        "test_keypoints.png": figures.keypoint_grid(images, true[:n_fig].numpy(), pred[:n_fig].numpy(), reprojected, titles),
        "test_error_histograms.png": figures.error_histograms(np_errors, geometry.diameter),
        "test_heatmaps.png": heatmap_figure(module, split, heatmap_rows, float(cfg.heatmap.std_percent)),
        "test_by_size.png": figures.size_bars(scale.bin_labels(edges), names, metrics, BAR_METRICS),
    }
    curves = {
        "add_cdf": pd.DataFrame({"threshold_percent_diameter": CDF_ADD_PERCENT, "percent_samples": cdf(100.0 * np_errors["add_m"] / geometry.diameter, CDF_ADD_PERCENT)}),
        "proj_cdf": pd.DataFrame({"threshold_px": CDF_PROJ_PX, "percent_samples": cdf(np_errors["proj_px"], CDF_PROJ_PX)}),
    }
    return Evaluation(metrics, per_sample, split.table["sample_id"].tolist(), figs, curves)
