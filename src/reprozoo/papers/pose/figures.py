"""Figures a person wants to see for a pose run: keypoints on test images, error histograms, heatmaps."""

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


def heatmap_panel(image: np.ndarray, maps: np.ndarray, targets: np.ndarray):
    """One test image, the sum of its predicted heatmaps [K, h, w] and of the Gaussian targets, side by side."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(9, 2.6))
    axes[0].imshow(image)
    axes[1].imshow(maps.sum(0), cmap="magma")
    axes[2].imshow(targets.sum(0), cmap="magma")
    for ax, title in zip(axes, ("image", "predicted heatmaps (Σ keypoints)", "target heatmaps")):
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig
