"""`trainer=ddp`: the config group, and a real two-process DDP fit on CPU (gloo) through the `reprozoo train` command."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reprozoo.config import compose
from reprozoo.stages.train import RANK_VARIABLES
from tests.conftest import MLFLOW_ENV

# a narrow net, 3 training batches per epoch (per process), 2 epochs; the smoke split has 24 validation images
FAST = ["model.widths=[8,16]", "model.stem_channels=8", "+trainer.limit_train_batches=3", "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
CPU_DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.sync_batchnorm=false"]
SEEDS = (0, 1)
CHECKED = ("val/kpt_err_px", "val/npe_median", "val/loss")


def test_ddp_extends_the_default_trainer(project: Path) -> None:
    default = compose(target="pose/hrnet-lh", dataset="toydrone-tello", root=project).trainer
    ddp = compose(target="pose/hrnet-lh", dataset="toydrone-tello", overrides=["trainer=ddp"], root=project).trainer
    added = {"strategy": "ddp", "accelerator": "gpu", "devices": "auto", "num_nodes": 1, "sync_batchnorm": True}
    assert dict(ddp) == {**dict(default), **added}


def _train(root: Path) -> subprocess.CompletedProcess:
    """`reprozoo train` of seeds 0 and 1 with two CPU processes, in a clean environment (the project's own sqlite store)."""
    env = {k: v for k, v in os.environ.items() if k not in (*MLFLOW_ENV, *RANK_VARIABLES)}
    env["REPROZOO_ROOT"] = str(root)
    seeds = [arg for seed in SEEDS for arg in ("--seed", str(seed))]
    command = [sys.executable, "-m", "reprozoo.cli", "train", "pose/hrnet-lh", "--dataset", "toydrone-tello", *seeds, *CPU_DDP, *FAST]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=600)


def _history(client, run_id: str, name: str) -> list[float]:
    """The values of metric `name` logged in run `run_id`, by step."""
    return [m.value for m in sorted(client.get_metric_history(run_id, name), key=lambda m: m.step)]


def _validate(root: Path, weights: Path) -> dict[str, float]:
    """The validation metrics of `weights` over the whole validation split, in this (single) process."""
    import lightning.pytorch as pl

    from reprozoo.papers import get_paper
    from reprozoo.stages.paths import DatasetPaths

    cfg = compose(target="pose/hrnet-lh", dataset="toydrone-tello", overrides=FAST, root=root)
    data, paper = DatasetPaths.of(cfg, root), get_paper("pose")
    module = paper.build_module(cfg, data.processed)
    module.load_state_dict(torch.load(weights, weights_only=True))
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False)
    return trainer.validate(module, datamodule=paper.build_datamodule(cfg, data.processed, data.raw), verbose=False)[0]


@pytest.mark.slow
def test_two_process_ddp_makes_one_run_per_seed_with_global_validation_metrics(project_with_raw: Path) -> None:
    from mlflow import MlflowClient

    from reprozoo.stages.preprocess import preprocess

    root = project_with_raw
    preprocess("toydrone-tello", root=root)
    done = _train(root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "GLOBAL_RANK: 1" in done.stderr and done.stdout.count("trained pose/hrnet-lh seed") == len(SEEDS)  # rank 1 prints nothing

    client = MlflowClient(f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("pose").experiment_id])
    assert sorted(r.info.run_name for r in runs) == [f"hrnet-lh/seed{seed}" for seed in SEEDS]  # one run per seed, none per rank
    assert all(r.info.status == "FINISHED" for r in runs)
    for seed in SEEDS:
        folder = root / "models" / "pose" / "hrnet-lh" / "toydrone-tello" / f"seed{seed}"
        result = json.loads((folder / "run.json").read_text())
        assert sorted(p.name for p in folder.iterdir()) == ["run.json", "weights.pt"]
        assert result["run_id"] in {r.info.run_id for r in runs} and result["epochs"] == 2
        logged = {name: _history(client, result["run_id"], name) for name in CHECKED}
        assert all(len(values) == 2 and all(map(math.isfinite, values)) for values in logged.values())
        best = logged["val/kpt_err_px"].index(result["best_score"])
        # the kept weights score the same over the whole split in one process: each process computed its metrics on
        # both processes' predictions (a median is where the halves' mean would differ)
        alone = _validate(root, folder / "weights.pt")
        assert {name: alone[name] for name in CHECKED} == pytest.approx({name: values[best] for name, values in logged.items()}, rel=1e-3)


@pytest.mark.slow
def test_two_process_ddp_trains_the_manually_optimised_gan(project: Path) -> None:
    """TopoGAN's manual optimisation leaves one network without gradients each step: plain `ddp` refuses that, so the
    stage picks ddp_find_unused_parameters_true for it."""
    from mlflow import MlflowClient

    from reprozoo.stages.fetch import fetch
    from reprozoo.stages.preprocess import preprocess

    fetch("synthmembranes", root=project, progress=False)
    preprocess("synthmembranes", root=project)
    env = {k: v for k, v in os.environ.items() if k not in (*MLFLOW_ENV, *RANK_VARIABLES)}
    env["REPROZOO_ROOT"] = str(project)
    shrink = ["model.ngf=4", "model.ndf=4", "model.z_dim=8", "data.batch_size=8", "topo.workers=1", "topo.n_real=16", "loss.n_critic=2",
              "+trainer.limit_train_batches=4", "trainer.max_epochs=1", "figures.every_n_epochs=0", "trainer.enable_progress_bar=false",
              "trainer.enable_model_summary=false"]
    command = [sys.executable, "-m", "reprozoo.cli", "train", "topogan/topogan", "--dataset", "synthmembranes", *CPU_DDP, *shrink]
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{project / 'mlruns' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("topogan").experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert runs[0].data.metrics["val/g_steps"] == 2  # 4 batches per process, a generator step every 2nd
    assert (project / "models" / "topogan" / "topogan" / "synthmembranes" / "seed0" / "weights.pt").is_file()
