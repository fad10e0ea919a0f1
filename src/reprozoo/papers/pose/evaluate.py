"""Test-split evaluation of a pose run: keypoints → OpenCV PnP → the report's metrics, per sample and aggregated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from reprozoo.geometry import pose_metrics
from reprozoo.geometry.camera import project_points
from reprozoo.papers.base import Evaluation
from reprozoo.papers.pose import figures
from reprozoo.papers.pose.heatmaps import centre_of_mass, gaussian_targets
from reprozoo.papers.pose.posing import solve_poses

CDF_ADD_PERCENT = np.linspace(0.0, 20.0, 81)  # thresholds, % of the diameter
CDF_PROJ_PX = np.linspace(0.0, 20.0, 81)


def cdf(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """% of `values` strictly below each threshold."""
    return 100.0 * (values[None, :] < thresholds[:, None]).mean(axis=1)


@torch.no_grad()
def evaluate(cfg, module, datamodule) -> Evaluation:
    """Run `module` on the test split and score it (see `reprozoo.geometry.pose_metrics`)."""
    module.eval()
    geometry = datamodule.geometry
    split = datamodule.split("test")
    preds, maps_kept = [], None
    for batch in datamodule.test_dataloader():
        maps = module.heatmaps(batch["image"].to(module.device)).cpu()
        preds.append(centre_of_mass(maps, module.stride))
        if maps_kept is None:
            maps_kept = maps[0].numpy()
    pred = torch.cat(preds).double()
    true = split.keypoints.double()
    R, t, ok = solve_poses(pred.numpy(), geometry.keypoints3d.numpy(), geometry.K.numpy(), cfg.evaluate.pnp)
    R_pred, t_pred = torch.from_numpy(R), torch.from_numpy(t)
    scale = float(cfg.evaluate.proj_reference_width) / geometry.width
    errors = pose_metrics.per_sample_errors(split.R, split.t, R_pred, t_pred, geometry.surface_points, geometry.K, proj_scale=scale)
    kpt_err = torch.linalg.vector_norm(pred - true, dim=-1).mean(-1)
    metrics = pose_metrics.summarize(errors, geometry.diameter, tuple(cfg.evaluate.thresholds))
    metrics.update(
        kpt_err_px=kpt_err.mean().item(),
        pck2=100.0 * (torch.linalg.vector_norm(pred - true, dim=-1) < 2).double().mean().item(),
        pck5=100.0 * (torch.linalg.vector_norm(pred - true, dim=-1) < 5).double().mean().item(),
        pnp_failure_rate=100.0 * (1.0 - ok.mean()),
        n_test=len(split),
    )
    per_sample = {name: values.tolist() for name, values in errors.items()}
    per_sample.update(kpt_err_px=kpt_err.tolist(), pnp_ok=ok.astype(float).tolist())

    np_errors = {k: np.asarray(v) for k, v in per_sample.items()}
    n_fig = min(int(cfg.evaluate.n_figure_images), len(split))
    images = split.images[:n_fig].permute(0, 2, 3, 1).numpy()
    reprojected = project_points(geometry.keypoints3d, R_pred[:n_fig], t_pred[:n_fig], geometry.K).numpy()
    titles = [f"ADD {100 * a / geometry.diameter:.1f}% · rot {np.degrees(r):.1f}°" for a, r in zip(np_errors["add_m"][:n_fig], np_errors["rot_rad"][:n_fig])]
    h, w = maps_kept.shape[-2:]
    targets = gaussian_targets(true[:1].float(), h, w, module.stride, cfg.heatmap.std_percent)[0].numpy()
    figs = {
        "test_keypoints.png": figures.keypoint_grid(images, true[:n_fig].numpy(), pred[:n_fig].numpy(), reprojected, titles),
        "test_error_histograms.png": figures.error_histograms(np_errors, geometry.diameter),
        "test_heatmaps.png": figures.heatmap_panel(images[0], maps_kept, targets),
    }
    curves = {
        "add_cdf": pd.DataFrame({"threshold_percent_diameter": CDF_ADD_PERCENT, "percent_samples": cdf(100.0 * np_errors["add_m"] / geometry.diameter, CDF_ADD_PERCENT)}),
        "proj_cdf": pd.DataFrame({"threshold_px": CDF_PROJ_PX, "percent_samples": cdf(np_errors["proj_px"], CDF_PROJ_PX)}),
    }
    return Evaluation(metrics, per_sample, split.table["sample_id"].tolist(), figs, curves)
