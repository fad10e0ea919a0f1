"""train: processed dataset + variant → models/<paper>/<variant>/<dataset>/seed<k>/ and one MLflow run per seed.

Each seed's folder holds `weights.pt` (the best validation checkpoint's state dict, loadable with
`torch.load(weights_only=True)`) and `run.json` (MLflow run id, best validation score, timing).

Under a multi-process strategy (`trainer=ddp`) every process runs this stage: Lightning's launcher re-runs the command
line with LOCAL_RANK set, torchrun and SLURM start one process per device. The global-rank-zero process alone
creates the MLflow run, clears and fills the seed folder; the others only train their share of each batch (Lightning
logs from rank zero only) and return no result.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from reprozoo.config import compose, flatten, project_root, to_yaml
from reprozoo.errors import ReprozooError
from reprozoo.papers import get_paper
from reprozoo.stages.paths import DatasetPaths, RunPaths
from reprozoo.tracking import lineage, store

UNLOGGED_KEYS = ("tracking.", "paths.", "logger.")
RANK_VARIABLES = ("RANK", "NODE_RANK", "LOCAL_RANK", "SLURM_PROCID")  # set by Lightning's launcher, torchrun, SLURM


@dataclass
class TrainResult:
    """What a finished seed leaves in run.json."""

    run_id: str
    seed: int
    monitor: str
    mode: str
    best_score: float
    epochs: int
    train_seconds: float
    train_images_per_second: float
    device: str


def seeds_of(cfg, seeds: Sequence[int] | None) -> list[int]:
    """The seeds to run: explicit ones, else the profile's."""
    return [int(s) for s in (seeds if seeds else cfg.profile.seeds)]


def is_global_zero() -> bool:
    """Whether this process leads the run: not started as another rank of a distributed fit (see RANK_VARIABLES)."""
    return all(os.environ.get(name, "0") == "0" for name in RANK_VARIABLES)


def train(
    target: str,
    dataset: str,
    *,
    seeds: Sequence[int] | None = None,
    profile: str | None = None,
    overrides: Sequence[str] = (),
    root: Path | None = None,
    tags: dict[str, str] | None = None,
) -> list[TrainResult]:
    """Train `target` (`<paper>/<variant>`) on `dataset` for each seed; returns one result per seed (none in the
    non-zero ranks of a distributed fit).

    `tags` are added to every seed's MLflow run (e.g. the sweep study and trial a configuration came from).
    """
    root = root or project_root()
    base = compose(target=target, dataset=dataset, profile=profile, overrides=overrides, root=root)
    results = []
    for seed in seeds_of(base, seeds):
        cfg = compose(target=target, dataset=dataset, profile=profile, overrides=[*overrides, f"seed={seed}"], root=root)
        result = train_seed(cfg, root, tags=tags)
        if result is not None:
            results.append(result)
    return results


def _mlflow_run(cfg, root: Path, data: DatasetPaths, extra_tags: dict[str, str]) -> str:
    """Create the seed's MLflow run with lineage tags, flattened params, the composed config and the Data Docs."""
    from mlflow import MlflowClient
    from mlflow.entities import Param

    store.connect(cfg, root)
    client = MlflowClient()
    experiment = store.experiment_id(cfg, root, str(cfg.paper))
    tags = {**lineage.lineage_tags(cfg, root, data.processed), **extra_tags}
    run = client.create_run(experiment, run_name=f"{cfg.variant.name}/seed{cfg.seed}", tags=tags)
    params = [Param(k, store.redact(v)[:6000]) for k, v in flatten(cfg).items() if not k.startswith(UNLOGGED_KEYS)]
    try:
        for start in range(0, len(params), 100):
            client.log_batch(run.info.run_id, params=params[start : start + 100])
        client.log_text(run.info.run_id, store.redact(to_yaml(cfg)), "config.yaml")
        if data.docs.is_dir():
            client.log_artifacts(run.info.run_id, str(data.docs), "validation")
    except Exception:
        client.set_terminated(run.info.run_id, "FAILED")  # never leave a half-logged run looking alive
        raise
    return run.info.run_id


def _loggers(cfg, root: Path, run_id: str | None) -> list:
    from lightning.pytorch.loggers import MLFlowLogger

    loggers = [MLFlowLogger(tracking_uri=store.tracking_uri(cfg, root), run_id=run_id, log_model=False)]
    if cfg.logger.wandb.enabled:
        from lightning.pytorch.loggers import WandbLogger

        os.environ.setdefault("WANDB_MODE", str(cfg.logger.wandb.mode))
        save_dir = root / str(cfg.logger.wandb.save_dir)
        save_dir.mkdir(parents=True, exist_ok=True)
        loggers.append(WandbLogger(project=str(cfg.logger.wandb.project), name=f"{cfg.variant.name}/seed{cfg.seed}", save_dir=str(save_dir), id=run_id))
    return loggers


def _trainer_options(cfg, module) -> dict:
    """`cfg.trainer` as Trainer arguments. A manually optimised module (a GAN: each step updates one network and leaves
    the other's parameters without gradients) needs DDP's search for unused parameters, so `ddp` becomes
    `ddp_find_unused_parameters_true` for it."""
    options = dict(cfg.trainer)
    if options.get("strategy") == "ddp" and not module.automatic_optimization:
        options["strategy"] = "ddp_find_unused_parameters_true"
    return options


def train_seed(cfg, root: Path, *, out: Path | None = None, callbacks: Sequence = (), tags: dict[str, str] | None = None) -> TrainResult | None:
    """Train one seed of the composed `cfg`; writes weights.pt and run.json into `out` (default: the seed folder).

    `callbacks` are extra Lightning callbacks (e.g. a pruning callback); `tags` extra MLflow run tags. A failure
    marks the MLflow run FAILED, removes `out`, and re-raises with the run id in the exception's `run_id`.
    A non-zero rank of a distributed fit (`is_global_zero`) touches neither MLflow nor `out` and returns None.
    """
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint
    from mlflow import MlflowClient

    for noise in (r".*LeafSpec.*", r".*distributed\.nn\.functional\.all_gather is deprecated.*"):  # Lightning 2.6 vs torch 2.13
        warnings.filterwarnings("ignore", message=noise)

    data = DatasetPaths.of(cfg, root)
    if not (data.processed / "manifest.parquet").is_file():
        raise ReprozooError(f"{data.processed}: processed dataset missing (run `reprozoo preprocess {cfg.dataset.name}`)")
    out = out or RunPaths.of(cfg, root).seed_dir(int(cfg.seed))
    lead = is_global_zero()
    run_id = None
    if lead:
        run_id = _mlflow_run(cfg, root, data, tags or {})
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
    paper = get_paper(str(cfg.paper))
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    datamodule = paper.build_datamodule(cfg, data.processed, data.raw)
    module = paper.build_module(cfg, data.processed)
    checkpoint = ModelCheckpoint(dirpath=out / "checkpoints", filename="best", monitor=str(cfg.checkpoint.monitor), mode=str(cfg.checkpoint.mode), save_top_k=1, save_weights_only=True)
    trainer = pl.Trainer(**_trainer_options(cfg, module), logger=_loggers(cfg, root, run_id), callbacks=[checkpoint, *callbacks], default_root_dir=str(out))
    started = time.perf_counter()
    try:
        trainer.fit(module, datamodule=datamodule)
    except BaseException as exc:
        if lead:
            client = MlflowClient()
            client.set_tag(run_id, "failure", store.redact(f"{type(exc).__name__}: {exc}")[:5000])
            client.set_terminated(run_id, "FAILED")
            shutil.rmtree(out, ignore_errors=True)
            exc.run_id = run_id
        raise
    if not lead:
        return None
    seconds = time.perf_counter() - started
    if not checkpoint.best_model_path:
        raise ReprozooError(f"variant {cfg.variant.name}: no checkpoint was selected (is '{cfg.checkpoint.monitor}' logged during validation?)")
    state = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
    torch.save(state, out / "weights.pt")
    shutil.rmtree(out / "checkpoints")
    images = len(datamodule.split("train")) * trainer.current_epoch
    result = TrainResult(
        run_id=run_id,
        seed=int(cfg.seed),
        monitor=str(cfg.checkpoint.monitor),
        mode=str(cfg.checkpoint.mode),
        best_score=float(checkpoint.best_model_score),
        epochs=int(trainer.current_epoch),
        train_seconds=round(seconds, 2),
        train_images_per_second=round(images / seconds, 2),
        device=str(trainer.strategy.root_device),
    )
    client = MlflowClient()
    client.log_metric(run_id, "train/images_per_second", result.train_images_per_second)
    client.log_metric(run_id, "train/seconds", result.train_seconds)
    client.set_tag(run_id, "device", result.device)
    (out / "run.json").write_text(json.dumps(asdict(result), indent=1))
    return result


def load_result(seed_dir: Path) -> TrainResult:
    """Read a seed folder's run.json."""
    path = seed_dir / "run.json"
    if not path.is_file():
        raise ReprozooError(f"{path}: missing (train this variant first)")
    return TrainResult(**json.loads(path.read_text()))
