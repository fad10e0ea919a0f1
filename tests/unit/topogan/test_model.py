"""DCGAN networks, the WGAN-GP/TopoGAN LightningModule on a tiny processed dataset, evaluation and export.

The training test composes the real `pipelines/` config (smoke profile) and shrinks it, as the pipeline would run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from reprozoo.config import compose, project_root
from reprozoo.papers import get_paper
from reprozoo.papers.topogan.data import synthmembranes
from reprozoo.papers.topogan.data.manifest import build_manifest
from reprozoo.papers.topogan.module import gradient_penalty
from reprozoo.papers.topogan.networks import Critic, Generator


def test_dcgan_64_matches_the_released_architecture() -> None:
    g, d = Generator(64, 128, 64), Critic(64, 64)
    assert [m.out_channels for m in g.modules() if isinstance(m, nn.ConvTranspose2d)] == [512, 256, 128, 64, 1]
    assert [m.out_channels for m in d.modules() if isinstance(m, nn.Conv2d)] == [64, 128, 256, 512, 1]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    assert all(m.bias is None for m in [*g.modules(), *d.modules()] if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))
    z = torch.randn(3, 128)
    assert g(z).shape == (3, 1, 64, 64) and g(z).abs().max() < 1 and d(g(z)).shape == (3,)


@pytest.mark.parametrize("size", [16, 32, 128])
def test_networks_scale_with_the_image_size(size: int) -> None:
    g, d = Generator(size, 8, 4), Critic(size, 4, spectral_norm=True)
    assert g(torch.randn(2, 8)).shape == (2, 1, size, size) and d(torch.zeros(2, 1, size, size)).shape == (2,)
    assert sum("parametrizations" in name for name, _ in d.named_modules()) > 0
    with pytest.raises(ValueError, match="power of two"):
        Generator(48, 8, 4)


def test_gradient_penalty_of_a_linear_critic_is_its_weight_norm_minus_one_squared() -> None:
    critic = nn.Sequential(nn.Flatten(), nn.Linear(16, 1, bias=False))
    with torch.no_grad():
        critic[1].weight.fill_(0.5)  # ‖w‖ = 2
    real, fake = torch.randn(4, 1, 4, 4), torch.randn(4, 1, 4, 4)
    assert gradient_penalty(lambda x: critic(x).squeeze(1), real, fake).item() == pytest.approx(1.0, rel=1e-5)


def _process(root: Path, families: dict[str, float], params: dict, dim: int) -> Path:
    """Generate 56 SynthMembranes masks of 16 × 16 and process them as the preprocess stage does (without the GE run)."""
    synthmembranes.generate(root / "raw", size=16, count=56, families=families, params=params, seed=0, progress=False)
    cfg = OmegaConf.create({
        "name": "tiny", "format": "isbi2012", "image": {"size": 16}, "splits": {"train": 32, "val": 8, "test": 16}, "seed": 0,
        "patches": {"count": None, "crop": None}, "structure_fraction": [0.02, 0.9], "topology": {"dim": dim},
    })
    manifest, info, arrays = build_manifest(root / "raw", cfg)
    assert manifest["betti_agrees"].all()
    out = root / "processed"
    out.mkdir()
    manifest.to_parquet(out / "manifest.parquet", index=False)
    for name, array in arrays.items():
        np.save(out / f"{name}.npy", array)
    (out / "dataset.json").write_text(json.dumps(info))
    return out


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A processed 16 × 16 Voronoi-membrane dataset (dim 1)."""
    return _process(tmp_path_factory.mktemp("topogan"), {"voronoi": 1.0}, {"voronoi": {"cells": [2, 5]}}, dim=1)


@pytest.fixture(scope="module")
def processed_vessels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A processed 16 × 16 vessel-tree dataset with dim-0 topology (the Retina setting)."""
    return _process(tmp_path_factory.mktemp("vessels"), {"vessel": 1.0}, {}, dim=0)


def _cfg(variant: str, dataset: str = "synthmembranes", overrides: tuple[str, ...] = ()):
    shrink = ["model.ngf=4", "model.ndf=4", "model.z_dim=8", "data.batch_size=8", "topo.workers=1", "topo.n_real=16", "loss.n_critic=2", "evaluate.n_samples=24", "evaluate.n_figure_images=4", "figures.every_n_epochs=0"]
    return compose(target=f"topogan/{variant}", dataset=dataset, profile="smoke", overrides=[*shrink, *overrides], root=project_root(Path(__file__)))


def test_training_evaluation_and_export_run_end_to_end(processed: Path) -> None:
    import lightning.pytorch as pl

    cfg = _cfg("topogan")
    assert cfg.loss.topo_weight == 5e-4 and cfg.loss.gp_weight == 10 and cfg.dataset.format == "isbi2012"
    paper = get_paper("topogan")
    datamodule = paper.build_datamodule(cfg, processed, processed)
    module = paper.build_module(cfg, processed)
    assert len(module.real_diagrams) == 32
    before = [p.detach().clone() for p in module.generator.parameters()]
    pl.seed_everything(0, verbose=False)
    trainer = pl.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    trainer.fit(module, datamodule=datamodule)
    assert module.d_steps == 8 and module.g_steps == 4  # 4 batches of 8 per epoch, a generator step every 2nd
    assert {"train/topo_loss_epoch", "train/topo_w1_epoch", "val/betti_score", "val/g_steps"} <= set(trainer.callback_metrics)
    assert trainer.callback_metrics["val/g_steps"] == 4
    assert any(not torch.equal(a, b) for a, b in zip(before, module.generator.parameters(), strict=True))

    result = paper.evaluate(cfg, module, datamodule)
    assert {"betti_score", "betti_error", "mmd", "mmd_code", "fid_proxy"} <= set(result.metrics)
    assert 0 <= result.metrics["betti_score"] <= 2 + 1e-9 and np.isfinite(result.metrics["fid_proxy"])  # χ² of histograms ≤ 2, up to rounding
    assert result.sample_ids[:2] == ["z00000", "z00001"] and len(result.sample_ids) == 24
    assert all(len(values) == 24 for values in result.per_sample.values())
    assert set(result.figures) == {"samples.png", "persistence_diagrams.png", "betti_histograms.png"}
    assert result.curves["betti_histogram"]["share_real"].sum() == pytest.approx(1.0)

    model, example = paper.export(module, datamodule)
    masks = model(torch.from_numpy(example))
    assert example.shape == (2, 8) and masks.shape == (2, 1, 16, 16) and set(masks.unique().tolist()) <= {0.0, 1.0}


def test_baselines_have_no_topological_loss_and_sn_normalises_the_critic(processed: Path) -> None:
    paper = get_paper("topogan")
    gp, sn = _cfg("wgan-gp"), _cfg("wgan-sn")
    assert gp.loss.topo_weight == 0 and sn.loss.topo_weight == 0 and sn.model.spectral_norm and not gp.model.spectral_norm
    module = paper.build_module(sn, processed)
    assert module.real_diagrams == [] and any("parametrizations" in name for name, _ in module.critic.named_modules())


def test_dim0_loss_joins_vessel_fragments_in_a_short_training_and_metrics_use_beta0(processed_vessels: Path) -> None:
    import lightning.pytorch as pl

    # the clean surrogate is zero without bridges (the code's BCE is not: it drifts every pixel), so "non-zero when
    # fragments exist" can fail
    cfg = _cfg("topogan", "synthvessels", ("topo.surrogate=clean",))
    assert cfg.dataset.topology.dim == 0 and cfg.loss.topo_weight == 2.5e-4  # the Retina settings
    paper = get_paper("topogan")
    datamodule = paper.build_datamodule(cfg, processed_vessels, processed_vessels)
    pl.seed_everything(2, verbose=False)  # an initial generator whose masks have islands (not every seed draws them)
    module = paper.build_module(cfg, processed_vessels)
    assert module.dim == 0 and len(module.real_diagrams) == 32 and all(d.dim == 0 for d in module.real_diagrams)
    # vessel trees grow from the border: with the frame the real masks have no island, so no dim-0 point
    assert sum(len(d) for d in module.real_diagrams) == 0
    steps: list[tuple[float, int, int]] = []  # (L_topo, generated dim-0 points, bridges painted) per generator step
    compute = module._topo_loss

    def recording(fake: torch.Tensor, plan) -> torch.Tensor:
        loss = compute(fake, plan)
        result = plan.result()
        assert all(d.dim == 0 for d in result.diagrams)
        steps.append((loss.item(), sum(len(d) for d in result.diagrams), result.plan.n_points))
        return loss

    module._topo_loss = recording
    trainer = pl.Trainer(max_epochs=1, limit_val_batches=0, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    trainer.fit(module, datamodule=datamodule)
    assert module.g_steps == 2 and len(steps) == 2
    assert any(points > 0 for _, points, _ in steps)  # the untrained generator draws fragments
    for loss, points, bridges in steps:
        assert np.isfinite(loss)
        assert bridges == points  # no real island to match: every generated island gets a bridge
        assert (loss > 0) == (points > 0)

    result = paper.evaluate(cfg, module, datamodule)
    assert result.metrics["betti_score"] == result.metrics["betti_score_b0"]
    assert {"betti0_mean_generated", "betti0_mean_real"} <= set(result.metrics) and result.metrics["betti0_mean_real"] == 1.0
    assert np.isfinite(result.metrics["mmd"]) and np.isfinite(result.metrics["nearest_real_w1"])
