"""`reprozoo sweep`: create or resume a study, run K local workers on it until the total budget is spent, then log
the study to its MLflow parent run (plots, best parameters) and optionally retrain and register the best point.

Budget: a trial counts once it is COMPLETE or PRUNED; FAILED trials (killed workers) are retried with the same
parameters. Re-running the same command continues the study up to the same total.
"""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from reprozoo.config import compose, project_root
from reprozoo.errors import ReprozooError
from reprozoo.sweeps import storage
from reprozoo.sweeps.objective import TrialContext, run_trial
from reprozoo.sweeps.space import load_space
from reprozoo.tracking import store

COUNTED = ("COMPLETE", "PRUNED")


@dataclass
class SweepSummary:
    study: str
    storage: str
    complete: int
    pruned: int
    failed: int
    best_value: float | None
    best_params: dict
    parent_run_id: str
    best_file: Path | None


def _counts(study) -> dict[str, int]:
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts


def _parent_run(cfg, root: Path, study_name: str, target: str, space: str) -> str:
    """The study's MLflow parent run (found by tag, created on first use)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    experiment = store.experiment_id(cfg, root, str(cfg.paper))
    found = client.search_runs([experiment], filter_string=f"tags.`optuna.study` = '{study_name}' and tags.`sweep.parent` = 'true'", max_results=1)
    if found:
        return found[0].info.run_id
    run = client.create_run(experiment, run_name=f"sweep/{study_name}", tags={"optuna.study": study_name, "sweep.parent": "true", "paper": str(cfg.paper), "variant": str(cfg.variant.name), "dataset": str(cfg.dataset.name), "sweep.space": space})
    client.log_param(run.info.run_id, "target", target)
    return run.info.run_id


def _worker_loop(study, ctx: TrialContext, trials: int, deadline: float | None) -> None:
    """Run trials one at a time until COMPLETE + PRUNED + RUNNING reaches the budget (or the deadline passes)."""
    while True:
        storage.fail_dead_local_trials(study)
        counts = _counts(study)
        if sum(counts.get(s, 0) for s in (*COUNTED, "RUNNING")) >= trials:
            return
        if deadline is not None and time.monotonic() > deadline:
            return
        study.optimize(lambda trial: run_trial(ctx, trial), n_trials=1, catch=(), gc_after_trial=True)


def _log_study(study, parent_run_id: str, out_dir: Path) -> None:
    """Optimisation history, parameter importances, slice and contour plots → the parent run's artifacts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mlflow import MlflowClient
    from optuna.exceptions import ExperimentalWarning
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as vis

    client = MlflowClient()
    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    plots = {"optimization_history": vis.plot_optimization_history, "slice": vis.plot_slice}
    if len(done) >= 2 and len(study.best_params) >= 1:
        plots["param_importances"] = vis.plot_param_importances
    if len(done) >= 2 and len(study.best_params) >= 2:
        plots["contour"] = vis.plot_contour
    warnings.filterwarnings("ignore", category=ExperimentalWarning)
    for name, plot in plots.items():
        try:
            axes = plot(study)
        except (ValueError, RuntimeError) as exc:  # e.g. importances need parameter variation
            client.set_tag(parent_run_id, f"plot.{name}", f"skipped: {exc}")
            continue
        figure = (axes.flat[0] if hasattr(axes, "flat") else axes).get_figure()
        figure.set_size_inches(8, 5)
        client.log_figure(parent_run_id, figure, f"study/{name}.png")
        plt.close(figure)
    frame = study.trials_dataframe()
    frame.to_csv(out_dir / "trials.csv", index=False)
    client.log_artifact(parent_run_id, str(out_dir / "trials.csv"), "study")


def best_params_document(study, run_key: str | None) -> dict:
    """The best point in params.yaml's shape: `runs.<key>.overrides` (nested), ready for `dvc exp run -S`."""
    nested: dict = {}
    for dotted, value in study.best_params.items():
        node = nested
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return {"runs": {run_key or "<run>": {"overrides": nested}}, "study": study.study_name, "best_trial": study.best_trial.number, "best_value": study.best_value}


def _run_key(root: Path, target: str, dataset: str) -> str | None:
    from reprozoo.config import read_params

    paper, variant = target.split("/", 1)
    for key, run in (read_params(root).get("runs") or {}).items():
        if run.get("paper") == paper and run.get("variant") == variant and run.get("dataset") == dataset:
            return key
    return None


def sweep(
    target: str,
    dataset: str,
    *,
    space: str,
    trials: int,
    storage_url: str | None = None,
    study_name: str | None = None,
    workers: int = 1,
    timeout: float | None = None,
    prune: bool = True,
    profile: str | None = None,
    overrides: Sequence[str] = (),
    root: Path | None = None,
    register_best: bool = False,
    worker_of: str | None = None,
    sampler_seed: int | None = None,
) -> SweepSummary | None:
    """Run (or resume) a sweep. `worker_of` = the parent run id: this process is a secondary worker (no finalisation).

    `sampler_seed` replaces the space's sampler seed. A seeded sampler restarts its random stream in every process, so
    a resumed study shifts the seed by the trials it already holds and each helper worker reseeds from the OS: no
    process redraws points another already tried.
    """
    import optuna

    if trials < 1 or workers < 1:
        raise ReprozooError("--trials and --workers must be at least 1")
    root = root or project_root()
    cfg = compose(target=target, dataset=dataset, profile=profile, overrides=overrides, root=root)
    sweep_space = load_space(root, space)
    if sampler_seed is not None:
        sweep_space = replace(sweep_space, sampler={**sweep_space.sampler, "seed": sampler_seed})
    url = storage_url or storage.configured_url(cfg, root)
    name = study_name or f"{cfg.paper}-{cfg.variant.name}-{cfg.dataset.name}-{space}"
    store.connect(cfg, root)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=name,
        storage=storage.open_storage(url),
        load_if_exists=True,
        direction=sweep_space.direction,
        sampler=sweep_space.make_sampler(),
        pruner=sweep_space.make_pruner(prune),
    )
    if worker_of is not None:
        study.sampler.reseed_rng()
    elif existing := len(study.get_trials(deepcopy=False)):
        study.sampler = sweep_space.make_sampler(seed_offset=existing)
    parent = worker_of or _parent_run(cfg, root, name, target, space)
    ctx = TrialContext(root, target, dataset, profile, tuple(overrides), sweep_space, name, parent)
    deadline = time.monotonic() + timeout if timeout else None
    helpers = []
    if worker_of is None:
        study.set_user_attr("target", target)
        study.set_user_attr("dataset", dataset)
        study.set_user_attr("space", space)
        storage.fail_dead_local_trials(study)
        for _ in range(workers - 1):
            command = [sys.executable, "-m", "reprozoo.cli", "sweep", target, "--dataset", dataset, "--space", space, "--trials", str(trials),
                       "--storage", url, "--study", name, "--worker-of", parent, *(["--profile", profile] if profile else []),
                       *(["--timeout", str(timeout)] if timeout else []), *([] if prune else ["--no-prune"]), *overrides]
            helpers.append(subprocess.Popen(command, cwd=root))
    _worker_loop(study, ctx, trials, deadline)
    for helper in helpers:
        if helper.wait() != 0:
            print(f"reprozoo: warning: a sweep worker exited with status {helper.returncode}", file=sys.stderr)
    if worker_of is not None:
        return None
    return _finish(study, ctx, url, register_best)


def _finish(study, ctx: TrialContext, url: str, register_best: bool) -> SweepSummary:
    from mlflow import MlflowClient

    counts = _counts(study)
    client = MlflowClient()
    out_dir = ctx.root / "reports" / "sweeps" / ctx.study
    out_dir.mkdir(parents=True, exist_ok=True)
    has_best = counts.get("COMPLETE", 0) > 0
    best_file = None
    for state, n in counts.items():
        client.log_metric(ctx.parent_run_id, f"trials_{state.lower()}", n)
    if has_best:
        client.log_metric(ctx.parent_run_id, "best_value", study.best_value)
        client.set_tag(ctx.parent_run_id, "optuna.best_trial", str(study.best_trial.number))
        document = best_params_document(study, _run_key(ctx.root, ctx.target, ctx.dataset))
        best_file = out_dir / "best_params.yaml"
        best_file.write_text(yaml.safe_dump(document, sort_keys=False))
        client.log_artifact(ctx.parent_run_id, str(best_file), "study")
    _log_study(study, ctx.parent_run_id, out_dir)
    client.set_terminated(ctx.parent_run_id, "FINISHED")
    if register_best:
        if not has_best:
            raise ReprozooError(f"study '{ctx.study}': no COMPLETE trial to register")
        _register_best(study, ctx)
    return SweepSummary(ctx.study, store.redact(url), counts.get("COMPLETE", 0), counts.get("PRUNED", 0), counts.get("FAIL", 0),
                        study.best_value if has_best else None, study.best_params if has_best else {}, ctx.parent_run_id, best_file)


def _register_best(study, ctx: TrialContext) -> dict:
    """Retrain the best point with the profile's seeds through the stages, evaluate, and register it as `candidate`."""
    from reprozoo.stages.evaluate import evaluate
    from reprozoo.stages.register import register
    from reprozoo.stages.train import train

    best = [f"{k}={v}" for k, v in study.best_params.items()]
    overrides = [*ctx.overrides, *best]
    tags = {"optuna.study": ctx.study, "optuna.trial": str(study.best_trial.number)}
    train(ctx.target, ctx.dataset, profile=ctx.profile, overrides=overrides, root=ctx.root, tags=tags)
    evaluate(ctx.target, ctx.dataset, profile=ctx.profile, overrides=overrides, root=ctx.root)
    return register(ctx.target, ctx.dataset, profile=ctx.profile, overrides=overrides, root=ctx.root)
