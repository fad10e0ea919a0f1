"""Figures a person wants to see for a pose run: keypoints on test images, error histograms, heatmaps, metrics by size."""

from __future__ import annotations

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def keypoint_grid(images: np.ndarray, true: np.ndarray, pred: np.ndarray, projected: np.ndarray, titles: list[str]):
    """Test images [N, H, W, 3] uint8 with true keypoints (green), predicted (red ×) and the PnP pose's reprojection (cyan)."""
    plt = _pyplot()
    n = len(images)
    cols = min(4, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, t, p, q, title in zip(axes.flat, images, true, pred, projected, titles):
        ax.imshow(image)
        ax.scatter(t[:, 0], t[:, 1], s=14, facecolors="none", edgecolors="lime", linewidths=1.0, label="true")
        ax.scatter(p[:, 0], p[:, 1], s=14, c="red", marker="x", linewidths=1.0, label="predicted")
        ax.scatter(q[:, 0], q[:, 1], s=5, c="cyan", label="PnP reprojection")
        ax.set_title(title, fontsize=7)
    axes.flat[0].legend(loc="lower left", fontsize=6, framealpha=0.6)
    fig.tight_layout()
    return fig


def error_histograms(errors: dict[str, np.ndarray], diameter: float):
    """Histograms of ADD (% of diameter), projection error (px) and rotation error (degrees) over test samples."""
    plt = _pyplot()
    panels = [
        ("ADD (% of diameter)", 100.0 * errors["add_m"] / diameter, [2, 5]),
        ("projection error (px @ 320 wide)", errors["proj_px"], [2, 5]),
        ("rotation error (deg)", np.degrees(errors["rot_rad"]), [2, 5]),
        ("2D keypoint error (px)", errors["kpt_err_px"], []),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3))
    for ax, (label, values, marks) in zip(axes, panels):
        finite = values[np.isfinite(values)]
        upper = np.percentile(finite, 98) if len(finite) else 1.0
        ax.hist(np.clip(finite, 0, upper), bins=40, color="steelblue")
        for m in marks:
            ax.axvline(m, color="crimson", ls="--", lw=1)
        ax.set_xlabel(label)
        ax.set_ylabel("samples")
    fig.tight_layout()
    return fig


def heatmap_grid(images: np.ndarray, keypoints: np.ndarray, panels: list[tuple[str, np.ndarray, int]], min_window_px: float = 32.0):
    """One row per test image: the image with its true keypoints, then each panel's map summed over keypoints.

    Args:
        images: [N, H, W, 3] uint8.
        keypoints: [N, K, 2] true keypoints (px), also used to zoom every column on the object: a square window of
            side max(3 × the keypoints' bounding-box diagonal, `min_window_px`) (at most the image's longer side)
            around their centre, kept inside the image.
        panels: (title, maps [N, K, h, w], stride) per column; maps are drawn in image pixel coordinates.
    """
    plt = _pyplot()
    n, height, width = images.shape[:3]
    fig, axes = plt.subplots(n, 1 + len(panels), figsize=(2.2 * (1 + len(panels)), 2.0 * n), squeeze=False)
    for row, (image, kps) in enumerate(zip(images, keypoints)):
        diagonal = float(np.linalg.norm(kps.max(0) - kps.min(0)))
        half = min(max(3.0 * diagonal, min_window_px), max(width, height)) / 2.0
        size, mid = np.array([width, height]), np.array([width - 1.0, height - 1.0]) / 2.0
        centre = np.clip((kps.min(0) + kps.max(0)) / 2.0, np.minimum(half - 0.5, mid), np.maximum(size - 0.5 - half, mid))
        axes[row, 0].imshow(image)
        axes[row, 0].scatter(kps[:, 0], kps[:, 1], s=6, facecolors="none", edgecolors="lime", linewidths=0.6)
        for ax, (title, maps, stride) in zip(axes[row, 1:], panels):
            h, w = maps.shape[-2:]
            ax.imshow(maps[row].sum(0), cmap="magma", extent=(-0.5, w * stride - 0.5, h * stride - 0.5, -0.5))
            if row == 0:
                ax.set_title(title, fontsize=7)
        for ax in axes[row]:
            ax.set_xlim(centre[0] - half, centre[0] + half)
            ax.set_ylim(centre[1] + half, centre[1] - half)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(f"size {diagonal:.0f} px", fontsize=7)
    axes[0, 0].set_title(f"test image ({width}×{height}, zoomed)", fontsize=7)
    fig.tight_layout()
    return fig


def size_bars(labels: list[str], names: list[str], metrics: dict[str, float], percent_metrics: tuple[str, ...]):
    """Metrics by object-size bin: grouped bars of `percent_metrics` (%) and the mean 2D keypoint error (px).

    `metrics` holds `size_<name>/<metric>` and `size_<name>/n` for each bin name; empty bins have no bars.
    """
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.2), gridspec_kw={"width_ratios": [3, 1.4]})
    x = np.arange(len(names))
    ticks = [f"{label}\nn={int(metrics[f'size_{name}/n'])}" for label, name in zip(labels, names)]
    width = 0.8 / len(percent_metrics)
    for i, metric in enumerate(percent_metrics):
        values = [metrics.get(f"size_{name}/{metric}", np.nan) for name in names]
        left.bar(x + (i - (len(percent_metrics) - 1) / 2) * width, values, width, label=metric)
    left.set_ylabel("% of samples")
    left.set_ylim(0, 100)
    left.legend(fontsize=7, ncols=len(percent_metrics))
    right.bar(x, [metrics.get(f"size_{name}/kpt_err_px", np.nan) for name in names], 0.6, color="slategray")
    right.set_ylabel("mean 2D keypoint error (px)")
    for ax in (left, right):
        ax.set_xticks(x, ticks, fontsize=7)
        ax.set_xlabel("projected size: keypoint bounding-box diagonal")
    fig.tight_layout()
    return fig
