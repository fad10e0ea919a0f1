"""Test-time evaluation of a TopoGAN run: fixed-latent samples vs the held-out real masks (see `metrics.py`).

The same `evaluate.n_samples` latents (seed `evaluate.z_seed`) are used by every variant and seed, as the paper does
for its figures, so per-sample values pair up across runs by latent index (`z00000`, ...). The headline Betti score,
Betti error, MMD and nearest-real W1 use the dataset's homology dimension (`dataset.json` `dim`: β1 and births for
loops, β0 and deaths for vessel components); `betti_score_b0` / `betti_score_b1` report both dimensions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from reprozoo.papers.base import Evaluation
from reprozoo.papers.topogan import figures
from reprozoo.papers.topogan.metrics import betti_histogram, betti_score, fid_proxy, nearest_real, unbiased_mmd2
from reprozoo.papers.topogan.module import fixed_latents
from reprozoo.topology import DiagramPool, betti_numbers, binarise, diagrams, dimension_projection


@torch.no_grad()
def sample(module, n: int, seed: int, batch: int = 256) -> torch.Tensor:
    """Generator outputs [n, 1, S, S] (tanh range, CPU) for the n fixed latents of `seed`."""
    module.eval()
    z = fixed_latents(n, int(module.cfg.model.z_dim), seed)
    return torch.cat([module(z[i : i + batch].to(module.device)).cpu() for i in range(0, n, batch)])


def _generated_diagrams(masks: np.ndarray, dim: int, workers: int):
    if workers > 1:
        with DiagramPool(workers) as pool:
            return diagrams(masks, dim=dim, pool=pool)
    return diagrams(masks, dim=dim)


def evaluate(cfg, module, datamodule) -> Evaluation:
    """Score `evaluate.n_samples` generated masks against the test split."""
    e = cfg.evaluate
    dim = int(datamodule.info["dim"])
    project = dimension_projection(dim)
    images = sample(module, int(e.n_samples), int(e.z_seed))
    generated = binarise(images[:, 0].numpy(), float(cfg.topo.threshold))
    test = datamodule.split("test")
    real_dgms = datamodule.diagrams("test")
    gen_dgms = _generated_diagrams(generated, dim, int(cfg.topo.workers))
    gen_betti = {d: betti_numbers(generated, dim=d) for d in (0, 1)}
    real_betti = {d: test.table[f"betti{d}"].to_numpy() for d in (0, 1)}
    w1, nearest = nearest_real(gen_dgms, real_dgms, mode=str(e.distance), project=project)
    betti_error = np.abs(gen_betti[dim] - real_betti[dim][nearest])
    mmd = {
        mode: unbiased_mmd2(
            gen_dgms, real_dgms, rng=np.random.default_rng(int(e.mmd.seed)), subset=float(e.mmd.subset),
            min_persistence=float(e.mmd.min_persistence), mode=mode, project=project,
        )
        for mode in (str(e.distance), "uniform1d")
    }
    real_images = test.masks.float() / 255.0
    score = betti_score(gen_betti[dim], real_betti[dim])
    metrics = {
        "betti_score": score,
        "betti_score_b0": betti_score(gen_betti[0], real_betti[0]),
        "betti_score_b1": betti_score(gen_betti[1], real_betti[1]),
        "betti_error": float(betti_error.mean()),
        "mmd": mmd[str(e.distance)][0],
        "mmd_sigma": mmd[str(e.distance)][1],
        "mmd_code": mmd["uniform1d"][0],
        "fid_proxy": fid_proxy(real_images, (images + 1) / 2, int(e.fid.features), int(e.fid.seed)),
        "nearest_real_w1": float(w1.mean()),
        f"betti{dim}_mean_generated": float(gen_betti[dim].mean()),
        f"betti{dim}_mean_real": float(real_betti[dim].mean()),
        "n_generated": float(len(generated)),
        "n_real": float(len(test)),
    }
    per_sample = {
        "betti0": gen_betti[0].astype(float).tolist(),
        "betti1": gen_betti[1].astype(float).tolist(),
        "nearest_real_w1": w1.tolist(),
        "betti_error": betti_error.astype(float).tolist(),
        "n_points": [float(len(d)) for d in gen_dgms],
    }
    n_fig = min(int(e.n_figure_images), len(test), len(images))
    figs = {
        "samples.png": figures.sample_grid(real_images[:n_fig, 0].numpy(), (images[:n_fig, 0].numpy() + 1) / 2),
        "persistence_diagrams.png": figures.persistence_diagrams(real_dgms, gen_dgms, project),
        "betti_histograms.png": figures.betti_histograms(real_betti[dim], gen_betti[dim], dim, score),
    }
    n_bins = int(max(gen_betti[dim].max(initial=0), real_betti[dim].max(initial=0))) + 1
    curves = {
        "betti_histogram": pd.DataFrame({
            f"betti{dim}": np.arange(n_bins),
            "share_generated": betti_histogram(gen_betti[dim], n_bins),
            "share_real": betti_histogram(real_betti[dim], n_bins),
        })
    }
    return Evaluation(metrics, per_sample, [f"z{i:05d}" for i in range(len(generated))], figs, curves)
