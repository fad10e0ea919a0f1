"""Replay recorded learning curves through Optuna's pruners over many random-search orders.

A sweep benchmark (`benchmarks/sweep.py`) measures one trial order per sampler seed, and the compute pruning saves to
reach the best depends on where in that order the good region turns up. Training is deterministic (a point's
validation curve is the same in every study), and random search draws its points independently of what the pruner
does, so a pruned random-search study is a function of the points drawn and their curves. This script replays that
function on curves recorded once by unpruned studies:

    export   unpruned studies' complete trials → a curves file (params, validation value per epoch, objective)
    check    replay the point order of a recorded *pruned* study: the epochs each trial ran must match the record
    replay   draw `--orders` random-search studies of `--trials` points from the curves (with replacement), run each
             through every pruner of `--pruners` (Optuna's own, as `reprozoo sweep` builds them) and without one;
             print the pruned/unpruned trial-epochs, for the whole study and to the first trial within 5 % of the
             order's best, as quantiles over orders; a reference row lets only the trials that end best so far run
             in full and stops every other one after `--reference-stop` epochs

    PYTHONPATH=src .venv/bin/python benchmarks/sweep_replay.py export --study sqlite:///.../optuna.db unpruned-seed0 \\
        --study sqlite:///.../optuna.db unpruned-seed1 --out benchmarks/data/curves.json --note "how they were run"
    PYTHONPATH=src .venv/bin/python benchmarks/sweep_replay.py check benchmarks/data/curves.json \\
        sqlite:///.../optuna.db pruned-seed1 --pruner median:2:1
    PYTHONPATH=src .venv/bin/python benchmarks/sweep_replay.py replay benchmarks/data/curves.json --trials 20 \\
        --orders 1000 --pruners median:2:1 median:1:1 hyperband:1:3

Pruner specs: `median:N_STARTUP_TRIALS:N_WARMUP_STEPS`, `percentile:PERCENTILE:N_STARTUP_TRIALS:N_WARMUP_STEPS`,
`hyperband:MIN_RESOURCE:REDUCTION_FACTOR`, `successive-halving:MIN_RESOURCE:REDUCTION_FACTOR`.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
from dataclasses import dataclass
from pathlib import Path

from reprozoo.errors import ReprozooError
from reprozoo.sweeps.space import Space

TOLERANCE = 0.05


@dataclass(frozen=True)
class Curve:
    """One recorded trial: its point, its validation value after each epoch (step 0, 1, …) and its objective."""

    params: dict
    values: tuple[float, ...]
    objective: float


@dataclass(frozen=True)
class Outcome:
    """One replayed study: trial-epochs each trial ran and each trial's objective (None when pruned)."""

    epochs: tuple[int, ...]
    objectives: tuple[float | None, ...]


PRUNER_KEYS = {
    "median": ("n_startup_trials", "n_warmup_steps"),
    "percentile": ("percentile", "n_startup_trials", "n_warmup_steps"),
    "hyperband": ("min_resource", "reduction_factor"),
    "successive-halving": ("min_resource", "reduction_factor"),
}


def parse_pruner(spec: str) -> Space:
    """`median:2:1`, `percentile:25:1:1`, `hyperband:1:3`, `successive-halving:1:3` (values of PRUNER_KEYS, in order)
    → a Space holding that pruner; only its `make_pruner`, the one `reprozoo sweep` uses, is called."""
    name, *numbers = spec.split(":")
    keys = PRUNER_KEYS.get(name, ())
    if not keys or len(numbers) != len(keys) or not all(n.isdigit() for n in numbers):
        forms = ", ".join(f"{n}:{':'.join(k.upper() for k in ks)}" for n, ks in PRUNER_KEYS.items())
        raise ReprozooError(f"pruner '{spec}': expected one of {forms}")
    return Space(spec, "replayed", "minimize", {}, {}, {"name": name, **dict(zip(keys, map(int, numbers)))})


def export(studies: list[tuple[str, str]], out: Path, note: str) -> None:
    """Write the complete trials of `studies` ((storage URL, study name) pairs; unpruned studies, so every curve is
    whole) as a curves file."""
    import optuna

    curves, direction = [], None
    for storage, name in studies:
        study = optuna.load_study(study_name=name, storage=storage)
        direction = study.direction.name.lower()
        for trial in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
            steps = sorted(trial.intermediate_values)
            if steps != list(range(len(steps))):
                raise ReprozooError(f"{name}: trial {trial.number} reported steps {steps}, not one per epoch from 0")
            curves.append({"params": trial.params, "values": [trial.intermediate_values[s] for s in steps],
                           "objective": trial.value})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"note": note, "direction": direction, "studies": [name for _, name in studies],
                               "curves": curves}, indent=1))
    print(f"{len(curves)} curves from {len(studies)} studies → {out}")


def load_curves(path: Path) -> tuple[str, list[Curve]]:
    """A curves file written by `export` → (the studies' direction, their curves)."""
    try:
        document = json.loads(path.read_text())
        curves = [Curve(c["params"], tuple(c["values"]), c["objective"]) for c in document["curves"]]
        return document["direction"], curves
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReprozooError(f"{path}: not a curves file written by `export` ({type(exc).__name__}: {exc})") from exc


def replay(curves: list[Curve], direction: str, pruner: Space | None) -> Outcome:
    """Run `curves` in order as one study: each trial reports its values epoch by epoch until the pruner stops it."""
    import optuna

    chosen = pruner.make_pruner() if pruner else optuna.pruners.NopPruner()
    study = optuna.create_study(direction=direction, pruner=chosen)
    epochs, objectives = [], []
    for curve in curves:
        trial = study.ask()
        for step, value in enumerate(curve.values):
            trial.report(value, step)
            if trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                epochs.append(step + 1)
                objectives.append(None)
                break
        else:
            study.tell(trial, curve.objective)
            epochs.append(len(curve.values))
            objectives.append(curve.objective)
    return Outcome(tuple(epochs), tuple(objectives))


def first_good(objectives: tuple[float | None, ...], best: float, direction: str) -> int | None:
    """Index of the first trial within 5 % of `best` (pruned trials have no objective); None if none gets there."""
    margin = TOLERANCE * abs(best)
    for index, value in enumerate(objectives):
        if value is not None and (value <= best + margin if direction == "minimize" else value >= best - margin):
            return index
    return None


def epochs_to_good(outcome: Outcome, best: float, direction: str) -> int | None:
    """Trial-epochs spent up to and including the first trial within 5 % of `best`; None if no trial gets there."""
    index = first_good(outcome.objectives, best, direction)
    return None if index is None else sum(outcome.epochs[: index + 1])


def check(curves: list[Curve], direction: str, storage: str, study_name: str, pruner: Space) -> None:
    """Replay the point order of a recorded pruned study and compare the epochs each trial ran."""
    import optuna

    recorded = sorted(optuna.load_study(study_name=study_name, storage=storage).trials, key=lambda t: t.number)
    by_point = {json.dumps(c.params, sort_keys=True): c for c in curves}
    order = [by_point.get(json.dumps(t.params, sort_keys=True)) for t in recorded]
    missing = [t.number for t, curve in zip(recorded, order) if curve is None]
    if missing:
        raise ReprozooError(f"{study_name}: trials {missing} have points with no recorded curve")
    outcome = replay(order, direction, pruner)
    recorded_epochs = [len(t.intermediate_values) for t in recorded]
    same = sum(a == b for a, b in zip(outcome.epochs, recorded_epochs))
    print(f"recorded epochs: {recorded_epochs}\nreplayed epochs: {list(outcome.epochs)}")
    print(f"{same}/{len(recorded)} trials ran the same epochs ({sum(recorded_epochs)} recorded vs "
          f"{sum(outcome.epochs)} replayed trial-epochs)")
    if same != len(recorded):
        raise SystemExit(1)


def _quantiles(values: list[float]) -> str:
    """Median (quartiles) of ratios as percentages; ∞ stands for orders where the pruned study never got there."""
    quartiles = statistics.quantiles(values, n=4, method="inclusive")
    q1, q2, q3 = (f"{q:.0%}" if math.isfinite(q) else "∞" for q in quartiles)
    return f"{q2} ({q1}–{q3})"


def running_best_reference(curves: list[Curve], direction: str, stop: int) -> Outcome:
    """The order's cost if every trial that ends best so far ran in full and every other stopped after `stop` epochs.

    A pruner cannot tell a trial that will end as the running best from a winner, so it lets those run; this
    reference stops all the others at the first epoch that carries signal and never errs."""
    better = (lambda a, b: a < b) if direction == "minimize" else (lambda a, b: a > b)
    epochs, objectives, best = [], [], None
    for curve in curves:
        if best is None or better(curve.objective, best):
            best = curve.objective
            epochs.append(len(curve.values))
            objectives.append(curve.objective)
        else:
            epochs.append(min(stop, len(curve.values)))
            objectives.append(None)
    return Outcome(tuple(epochs), tuple(objectives))


def replay_orders(curves: list[Curve], direction: str, trials: int, orders: int, seed: int, pruners: list[Space],
                  reference_stop: int) -> None:
    """Random-search studies drawn from `curves`; one table row per pruner and one for the running-best reference."""
    rng = random.Random(seed)
    draws = [[curves[rng.randrange(len(curves))] for _ in range(trials)] for _ in range(orders)]
    pick = min if direction == "minimize" else max
    baselines = []
    for draw in draws:
        outcome = replay(draw, direction, None)
        best = pick(v for v in outcome.objectives if v is not None)
        baselines.append((outcome, best, epochs_to_good(outcome, best, direction)))
    hits = [first_good(outcome.objectives, best, direction) for outcome, best, _ in baselines]
    print(f"{orders} random-search orders of {trials} trials from {len(curves)} curves (seed {seed}); "
          f"first trial within 5 % of the order's best: median index {statistics.median(hits):.0f}, "
          f"mean {statistics.mean(hits):.1f}")
    print("| pruner | trial-epochs, whole study: pruned / unpruned, median (IQR) | to within 5 % of best: "
          "pruned / unpruned, median (IQR) | orders where to-best ≤ 50 % | orders where pruning lost the best |")
    print("|---|---|---|---|---|")
    rows = [(pruner.name, [replay(draw, direction, pruner) for draw in draws]) for pruner in pruners]
    rows.append((f"reference: running bests in full, others stopped after {reference_stop} epochs",
                 [running_best_reference(draw, direction, reference_stop) for draw in draws]))
    ratios = {}
    for label, outcomes in rows:
        whole, to_best = [], []
        for outcome, (base, best, base_to_good) in zip(outcomes, baselines):
            whole.append(sum(outcome.epochs) / sum(base.epochs))
            spent = epochs_to_good(outcome, best, direction)
            to_best.append(math.inf if spent is None else spent / base_to_good)
        ratios[label] = to_best
        halved = sum(r <= 0.5 for r in to_best) / orders
        lost = sum(math.isinf(r) for r in to_best) / orders
        print(f"| {label} | {_quantiles(whole)} | {_quantiles(to_best)} | {halved:.0%} | {lost:.0%} |")
    _by_first_good(hits, ratios)


def _by_first_good(hits: list[int], ratios: dict[str, list[float]]) -> None:
    """Median to-best ratio per row, with orders grouped by where their first good trial came (unpruned index)."""
    buckets = [(0, 1), (2, 3), (4, 7), (8, 15), (16, None)]
    print("\nTo within 5 % of best, pruned / unpruned, median by the index of the order's first good trial:\n")
    print("| first good trial | orders | " + " | ".join(ratios) + " |")
    print("|---|---|" + "---|" * len(ratios))
    for low, high in buckets:
        members = [i for i, hit in enumerate(hits) if hit >= low and (high is None or hit <= high)]
        if not members:
            continue
        cells = []
        for to_best in ratios.values():
            median = statistics.median(to_best[i] for i in members)
            cells.append(f"{median:.0%}" if math.isfinite(median) else "∞")
        span = f"{low}–{high}" if high is not None else f"≥ {low}"
        print(f"| {span} | {len(members)} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    exporting = commands.add_parser("export", help="unpruned studies → curves file")
    exporting.add_argument("--study", nargs=2, action="append", required=True, metavar=("STORAGE", "NAME"),
                           help="an unpruned study to take curves from (repeat for several)")
    exporting.add_argument("--out", type=Path, required=True)
    exporting.add_argument("--note", default="", help="how the studies were run (kept in the file)")
    checking = commands.add_parser("check", help="replay a recorded pruned study's order; its epochs must match")
    checking.add_argument("curves", type=Path)
    checking.add_argument("storage")
    checking.add_argument("study")
    checking.add_argument("--pruner", required=True)
    replaying = commands.add_parser("replay", help="pruned vs unpruned over random-search orders")
    replaying.add_argument("curves", type=Path)
    replaying.add_argument("--trials", type=int, default=20)
    replaying.add_argument("--orders", type=int, default=1000)
    replaying.add_argument("--seed", type=int, default=0)
    replaying.add_argument("--pruners", nargs="+", default=["median:2:1"])
    replaying.add_argument("--reference-stop", type=int, default=2,
                           help="epochs the reference row gives a trial that does not end best so far")
    args = parser.parse_args()

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        if args.command == "export":
            export([tuple(pair) for pair in args.study], args.out, args.note)
            return
        direction, curves = load_curves(args.curves)
        if args.command == "check":
            check(curves, direction, args.storage, args.study, parse_pruner(args.pruner))
        else:
            pruners = [parse_pruner(spec) for spec in args.pruners]
            replay_orders(curves, direction, args.trials, args.orders, args.seed, pruners, args.reference_stop)
    except ReprozooError as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    main()
