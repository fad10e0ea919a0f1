"""Figures a person wants to see for a TopoGAN run: real vs generated masks, their persistence diagrams, and their
Betti-number histograms."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reprozoo.topology import Diagram, Projection


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _mosaic(images: np.ndarray, cols: int) -> np.ndarray:
    """Tile grey images [n, S, S] into one [rows·(S+1)−1, cols·(S+1)−1] picture with 1-px mid-grey gutters."""
    n, size = len(images), images.shape[-1]
    rows = -(-n // cols)
    canvas = np.full((rows * (size + 1) - 1, cols * (size + 1) - 1), 0.5)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        canvas[r * (size + 1) : r * (size + 1) + size, c * (size + 1) : c * (size + 1) + size] = image
    return canvas


def sample_grid(real: np.ndarray | None, generated: np.ndarray, title: str = ""):
    """Real masks [n, S, S] (or None) and generator outputs [m, S, S], grey in [0, 1] (structure dark), side by side."""
    plt = _pyplot()
    panels = ([("real", real)] if real is not None else []) + [("generated", generated)]
    cols = max(int(np.ceil(np.sqrt(max(len(images) for _, images in panels)))), 1)
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4.3), squeeze=False)
    for ax, (name, images) in zip(axes.flat, panels, strict=True):
        ax.imshow(_mosaic(images, cols), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"{name} ({len(images)})", fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _points(dgms: Sequence[Diagram]) -> np.ndarray:
    return np.concatenate([d.pairs for d in dgms]) if dgms else np.zeros((0, 2))


_COMPARED = {
    "birth": (0, "birth (0 = complete hole, > 0 = almost-hole)"),
    "death": (1, "death (≈ half the gap to the nearest other component)"),
}


def persistence_diagrams(real: Sequence[Diagram], generated: Sequence[Diagram], project: Projection = "birth"):
    """All points of the real and generated diagrams (birth vs death), and the histograms of the compared coordinate
    (`project`: births for loops, deaths for components)."""
    axis, label = _COMPARED[project]
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    real_pts, gen_pts = _points(real), _points(generated)
    top = max(float(np.max(np.concatenate([real_pts.ravel(), gen_pts.ravel(), [1.0]]))), 1.0)
    axes[0].plot([0, top], [0, top], color="grey", lw=0.8)
    axes[0].scatter(real_pts[:, 0], real_pts[:, 1], s=6, alpha=0.35, c="tab:blue", label=f"real ({len(real)} masks)")
    axes[0].scatter(gen_pts[:, 0], gen_pts[:, 1], s=6, alpha=0.35, c="tab:red", label=f"generated ({len(generated)})")
    axes[0].set_xlabel("birth (distance transform)")
    axes[0].set_ylabel("death")
    axes[0].legend(fontsize=7, loc="lower right")
    bins = np.linspace(0.0, top, 30)
    for points, colour, name in ((real_pts, "tab:blue", "real"), (gen_pts, "tab:red", "generated")):
        if len(points):  # a density of no point is undefined (vessel trees: no real island)
            axes[1].hist(points[:, axis], bins=bins, alpha=0.5, density=True, color=colour, label=name)
    axes[1].set_xlabel(label)
    axes[1].set_ylabel("density")
    if axes[1].get_legend_handles_labels()[0]:
        axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def betti_histograms(real: np.ndarray, generated: np.ndarray, dim: int, score: float):
    """Normalised histograms of β_dim over real [n] and generated [m] masks, titled with the Betti score."""
    plt = _pyplot()
    top = int(max(np.max(real, initial=0), np.max(generated, initial=0)))
    bins = np.arange(top + 2) - 0.5
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(real, bins=bins, alpha=0.5, density=True, color="tab:blue", label="real")
    ax.hist(generated, bins=bins, alpha=0.5, density=True, color="tab:red", label="generated")
    ax.set_xlabel(f"β{dim} per mask (framed)")
    ax.set_ylabel("share of masks")
    ax.set_title(f"Betti score (χ²) {score:.3f}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
