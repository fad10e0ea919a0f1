"""register: the best seed of a trained variant → a version of `<paper>.<dataset>` in the MLflow registry, tagged with
the run id and the run's lineage. Writes reports/registry/<paper>/<variant>/<dataset>.json.

Aliases: `candidate` moves to the newest registered version of the task (what `reprozoo promote` weighs against
`champion`); the variant's name (e.g. `hrnet-lh`) moves to that variant's newest version, so every variant stays
addressable as `models:/<paper>.<dataset>@<variant>`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from reprozoo.config import compose, project_root
from reprozoo.errors import ReprozooError
from reprozoo.stages.evaluate import load_trained
from reprozoo.stages.paths import RunPaths
from reprozoo.stages.train import load_result, seeds_of

CANDIDATE = "candidate"
LINEAGE_TAGS = ("paper", "variant", "dataset", "profile", "seed", "git.commit", "git.dirty", "dvc.data_hash", "data.manifest_sha256", "params.hash", "validation.result")
SWEEP_TAGS = ("optuna.study", "optuna.trial")  # present when the configuration came from `reprozoo sweep --register-best`


def pip_requirements() -> list[str]:
    """The serving requirements of a logged model: the installed torch and numpy (pinned)."""
    from importlib.metadata import version

    return [f"torch=={version('torch').split('+')[0]}", f"numpy=={version('numpy')}"]


def best_seed(cfg, root: Path, seeds: list[int]) -> int:
    """The seed whose best validation score is best (by the checkpoint monitor's mode)."""
    results = {seed: load_result(RunPaths.of(cfg, root).seed_dir(seed)) for seed in seeds}
    pick = min if next(iter(results.values())).mode == "min" else max
    return pick(results, key=lambda s: results[s].best_score)


def register(
    target: str,
    dataset: str,
    *,
    profile: str | None = None,
    overrides: Sequence[str] = (),
    root: Path | None = None,
) -> dict:
    """Log the best seed's model and register it; returns the registry record written to reports/registry/."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    from reprozoo.tracking import store

    root = root or project_root()
    base = compose(target=target, dataset=dataset, profile=profile, overrides=overrides, root=root)
    seed = best_seed(base, root, seeds_of(base, None))
    cfg = compose(target=target, dataset=dataset, profile=profile, overrides=[*overrides, f"seed={seed}"], root=root)
    paper, datamodule, module, trained = load_trained(cfg, root, seed)
    model, example = paper.export(module, datamodule)

    import torch

    with torch.no_grad():
        output = model(torch.from_numpy(example)).numpy()
    store.connect(cfg, root)
    client = MlflowClient()
    run = client.get_run(trained.run_id)
    name = f"{cfg.paper}.{cfg.dataset.name}"
    with mlflow.start_run(run_id=trained.run_id):
        info = mlflow.pytorch.log_model(
            model,
            name="model",
            pip_requirements=pip_requirements(),
            input_example=example,
            signature=infer_signature(example, output),
        )
    version = mlflow.register_model(info.model_uri, name, tags={"run_id": trained.run_id})
    for tag in LINEAGE_TAGS:
        value = run.data.tags.get(tag)
        if value is None:
            raise ReprozooError(f"run {trained.run_id}: lineage tag '{tag}' missing; retrain this variant")
        client.set_model_version_tag(name, version.version, tag, value)
    for tag in SWEEP_TAGS:
        if tag in run.data.tags:
            client.set_model_version_tag(name, version.version, tag, run.data.tags[tag])
    variant = str(cfg.variant.name)
    for alias in (CANDIDATE, variant):
        client.set_registered_model_alias(name, alias, version.version)
    record = {
        "name": name,
        "version": int(version.version),
        "aliases": [CANDIDATE, variant],
        "model_uri": f"models:/{name}@{variant}",
        "run_id": trained.run_id,
        "variant": variant,
        "seed": seed,
    }
    path = RunPaths.of(cfg, root).registry
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1))
    return record
