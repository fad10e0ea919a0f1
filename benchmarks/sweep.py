"""Pruned vs unpruned Optuna sweeps on the same budget and sampler seed: compute needed to get within 5 % of the best.

Runs two studies of the same space (same TPE seed, same trials budget) on ToyDrone data of the chosen profile, one
with the space's pruner and one without, and reports for each: trial-epochs and wall time spent in total, and until the
first trial within 5 % of the best objective value seen by either study. `--seeds` repeats the pair for several
sampler seeds (where the good region is found early or late) and adds the pruned/unpruned compute ratios per seed and
their mean; `--sampler random` swaps the space's TPE for random search (in the benchmark's copy of the space). Prints
markdown tables. For a fine-tuning variant (`init_from`, e.g. pose/hrnet-lm) `--pretrain` first trains the variant it
starts from; for β spaces the effective β of each study's best trial (MLflow metric `train/beta_epoch`) is printed
beside the report's 1e-5.

    PYTHONPATH=src .venv/bin/python benchmarks/sweep.py --trials 12 --epochs 4 [--space lr] [--variant pose/hrnet-lh]
    PYTHONPATH=src .venv/bin/python benchmarks/sweep.py --profile default --variant pose/hrnet-lm --pretrain pose/hrnet-lh \
        --space rho --trials 8 --epochs 3
    PYTHONPATH=src .venv/bin/python benchmarks/sweep.py --profile default --dataset toydrone-m2ed --trials 20 --epochs 8 \
        --seeds 0 1 2 --data profile.pose.data.train=500 profile.pose.data.val=150 profile.pose.data.test=50
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from sweep_replay import first_good  # benchmarks/ is on sys.path when this script runs

REPO = Path(__file__).resolve().parents[1]


def _project(base: Path, profile: str) -> Path:
    root = base / "project"
    root.mkdir(parents=True)
    shutil.copytree(REPO / "pipelines", root / "pipelines")
    (root / "params.yaml").write_text(f"profile: {profile}\n")
    return root


def _set_sampler(root: Path, space: str, sampler: str) -> None:
    """Rewrite the project copy's space file with another sampler (its seed kept)."""
    import yaml

    path = root / "pipelines" / "sweep" / f"{space}.yaml"
    document = yaml.safe_load(path.read_text())
    document["sampler"] = {**(document.get("sampler") or {}), "name": sampler}
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _effective_beta(trial) -> float | None:
    """The β the trial trained with (its MLflow run's last `train/beta_epoch`), None when it logged none."""
    from mlflow import MlflowClient

    run_id = trial.user_attrs.get("mlflow.run_id")
    history = MlflowClient().get_metric_history(run_id, "train/beta_epoch") if run_id else []
    return history[-1].value if history else None


def _epochs_of(trial) -> int:
    return len(trial.intermediate_values) or 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--space", default="lr")
    parser.add_argument("--variant", default="pose/hrnet-lh")
    parser.add_argument("--dataset", default="toydrone-tello")
    parser.add_argument("--profile", default="smoke", help="smoke | default: the data the trials train on")
    parser.add_argument("--pretrain", help="variant trained once before the sweeps (the one `--variant` fine-tunes from)")
    parser.add_argument("--sampler", choices=("tpe", "random"), help="replace the space's sampler (in the benchmark's copy)")
    parser.add_argument("--seeds", nargs="+", type=int, help="sampler seeds: one pruned/unpruned pair each (default: the space's)")
    parser.add_argument("--data", nargs="*", default=[], metavar="OVERRIDE",
                        help="Hydra overrides for the data and every run, e.g. profile.pose.data.train=500")
    args = parser.parse_args()

    import optuna

    from reprozoo.stages.fetch import fetch
    from reprozoo.stages.preprocess import preprocess
    from reprozoo.stages.train import train
    from reprozoo.sweeps.runner import sweep
    from reprozoo.sweeps.space import load_space

    base = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    root = _project(base, args.profile)
    fetch(args.dataset, overrides=args.data, root=root, progress=False)
    preprocess(args.dataset, overrides=args.data, root=root)
    quiet = [*args.data, "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
    if args.pretrain:
        started = time.perf_counter()
        train(args.pretrain, args.dataset, overrides=quiet, root=root)
        print(f"pretrained {args.pretrain} in {time.perf_counter() - started:.0f} s", flush=True)
    overrides = [f"trainer.max_epochs={args.epochs}", *quiet]
    if args.sampler:
        _set_sampler(root, args.space, args.sampler)
    space = load_space(root, args.space)
    seeds = args.seeds or [space.sampler.get("seed")]
    print("| seed | study | trials | trial-epochs | wall (s) | trial-epochs to within 5 % of best | wall to within 5 % (s) | best |")
    print("|---|---|---|---|---|---|---|---|")
    ratios = []
    for seed in seeds:
        rows = {}
        for label, prune in (("pruned", True), ("unpruned", False)):
            name = f"{label}-seed{seed}"
            started = time.perf_counter()
            sweep(args.variant, args.dataset, space=args.space, trials=args.trials, study_name=name, prune=prune,
                  overrides=overrides, root=root, sampler_seed=seed)
            wall = time.perf_counter() - started
            study = optuna.load_study(study_name=name, storage=f"sqlite:///{root / 'mlruns' / 'optuna.db'}")
            rows[label] = (sorted(study.trials, key=lambda t: t.number), wall)
        costs = _report(seed, rows, space)
        ratios.append((costs["pruned"][0] / costs["unpruned"][0],
                       costs["pruned"][1] / costs["unpruned"][1] if costs["unpruned"][1] else float("nan")))
    if len(seeds) > 1:
        print("\n| seed | pruned / unpruned trial-epochs, whole study | pruned / unpruned trial-epochs to within 5 % of best |")
        print("|---|---|---|")
        for seed, (whole, to_best) in zip(seeds, ratios):
            print(f"| {seed} | {whole:.0%} | {to_best:.0%} |")
        print(f"| mean | {sum(r[0] for r in ratios) / len(ratios):.0%} | {sum(r[1] for r in ratios) / len(ratios):.0%} |")
    print(f"\nobjective {space.metric} ({space.direction}); best = the better of each seed's two studies; data in {base}")


def _report(seed: int | None, rows: dict, space) -> dict[str, tuple[int, float]]:
    """Print one seed's table rows; returns each study's (trial-epochs in all, trial-epochs to within 5 % of the best)."""
    values = [t.value for trials, _ in rows.values() for t in trials if t.value is not None]
    best = min(values) if space.direction == "minimize" else max(values)
    costs = {}
    for label, (trials, wall) in rows.items():
        epochs = [_epochs_of(t) for t in trials]
        durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in trials if t.datetime_complete]
        hit = first_good(tuple(t.value for t in trials), best, space.direction)
        costs[label] = (sum(epochs), sum(epochs[: hit + 1]) if hit is not None else float("nan"))
        to_hit = f"{costs[label][1]} (trial {hit})" if hit is not None else "never"
        wall_to_hit = f"{sum(durations[: hit + 1]):.0f}" if hit is not None else "never"
        own = [t.value for t in trials if t.value is not None]
        own_best = (min(own) if space.direction == "minimize" else max(own)) if own else float("nan")
        pruned = sum(t.state.name == "PRUNED" for t in trials)
        print(f"| {seed} | {label} ({pruned} pruned) | {len(trials)} | {sum(epochs)} | {wall:.0f} | {to_hit} | {wall_to_hit} | {own_best:.4g} |")
        if "loss.beta" in space.params or "loss.rho" in space.params:
            finished = [t for t in trials if t.value is not None]
            best_trial = (min if space.direction == "minimize" else max)(finished, key=lambda t: t.value)
            print(f"{label}: best trial {best_trial.number} params {best_trial.params}, effective beta "
                  f"{_effective_beta(best_trial)} (the report's beta: 1e-5)")
    return costs


if __name__ == "__main__":
    main()
