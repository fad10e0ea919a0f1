"""One trial: compose the variant with the suggested point, train it in-process through the train stage, score it
on the validation split. Pruned trials (by the pruner, or because the loss diverged) record why."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reprozoo.config import compose
from reprozoo.errors import ReprozooError
from reprozoo.sweeps import storage
from reprozoo.sweeps.space import Space

PRUNED_REASON = "pruned_reason"


@dataclass(frozen=True)
class TrialContext:
    """What every trial of a study shares."""

    root: Path
    target: str
    dataset: str
    profile: str | None
    overrides: tuple[str, ...]
    space: Space
    study: str
    parent_run_id: str


def trial_overrides(ctx: TrialContext, point: Sequence[str]) -> list[str]:
    """Hydra overrides of a trial: the user's, the suggested point, and the objective as the checkpoint monitor."""
    mode = "min" if ctx.space.direction == "minimize" else "max"
    return [*ctx.overrides, *point, f"checkpoint.monitor={ctx.space.metric}", f"checkpoint.mode={mode}"]


def run_trial(ctx: TrialContext, trial) -> float:
    """The Optuna objective: the best validation value of `ctx.space.metric` over the trial's epochs."""
    import optuna
    from mlflow import MlflowClient
    from optuna_integration import PyTorchLightningPruningCallback

    from reprozoo.stages.train import train_seed

    storage.mark_worker(trial)
    overrides = trial_overrides(ctx, ctx.space.suggest(trial))
    cfg = compose(target=ctx.target, dataset=ctx.dataset, profile=ctx.profile, overrides=overrides, root=ctx.root)
    pruning = PyTorchLightningPruningCallback(trial, monitor=ctx.space.metric)
    tags = {"mlflow.parentRunId": ctx.parent_run_id, "optuna.study": ctx.study, "optuna.trial": str(trial.number)}
    out = ctx.root / "models" / "sweeps" / ctx.study / f"trial{trial.number}"
    try:
        result = train_seed(cfg, ctx.root, out=out, callbacks=[pruning], tags=tags)
        pruning.check_pruned()
    except (ReprozooError, optuna.TrialPruned) as exc:
        # the pruner's verdict, or a run-level failure such as a NaN/inf loss: prune, never kill the sweep
        _pruned(trial, getattr(exc, "run_id", None), str(exc) or "pruned by the pruner")
        raise optuna.TrialPruned(str(exc)) from exc
    if not math.isfinite(result.best_score):
        _pruned(trial, result.run_id, f"{ctx.space.metric} is {result.best_score}")
        raise optuna.TrialPruned(f"{ctx.space.metric} is {result.best_score}")
    trial.set_user_attr("mlflow.run_id", result.run_id)
    MlflowClient().set_tag(result.run_id, "optuna.state", "COMPLETE")
    return result.best_score


def _pruned(trial, run_id: str | None, reason: str) -> None:
    """Record why a trial was pruned, on the trial and on its MLflow run (status KILLED)."""
    from mlflow import MlflowClient

    trial.set_user_attr(PRUNED_REASON, reason)
    if run_id:
        client = MlflowClient()
        trial.set_user_attr("mlflow.run_id", run_id)
        client.set_tag(run_id, "optuna.state", "PRUNED")
        client.set_tag(run_id, PRUNED_REASON, reason[:5000])
        client.set_terminated(run_id, "KILLED")
