"""The pruning replay benchmark (benchmarks/sweep_replay.py): its study replay, cost accounting and reference row."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from reprozoo.config import project_root
from reprozoo.errors import ReprozooError

ROOT = project_root(Path(__file__))


@pytest.fixture(scope="module")
def replay_module():
    spec = importlib.util.spec_from_file_location("sweep_replay", ROOT / "benchmarks" / "sweep_replay.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _curves(module, *values: tuple[float, ...]):
    return [module.Curve({"optim.lr": i}, tuple(v), min(v)) for i, v in enumerate(values)]


def test_a_trial_worse_than_the_completed_median_stops_at_that_epoch(replay_module) -> None:
    curves = _curves(replay_module, (3.0, 2.0, 1.0), (4.0, 3.0, 2.0), (2.5, 1.5, 0.5), (3.5, 1.8, 1.2))
    outcome = replay_module.replay(curves, "minimize", replay_module.parse_pruner("median:1:0"))
    # trial 1 is worse than trial 0 at epoch 1; trial 3 is worse than the median of trials 0 and 2 (2.75) at epoch 1
    assert outcome.epochs == (3, 1, 3, 1)
    assert outcome.objectives == (1.0, None, 0.5, None)
    unpruned = replay_module.replay(curves, "minimize", None)
    assert unpruned.epochs == (3, 3, 3, 3) and unpruned.objectives == (1.0, 2.0, 0.5, 1.2)


def test_warm_up_steps_protect_the_first_epochs(replay_module) -> None:
    curves = _curves(replay_module, (3.0, 2.0, 1.0), (4.0, 3.0, 2.0))
    outcome = replay_module.replay(curves, "minimize", replay_module.parse_pruner("median:1:1"))
    assert outcome.epochs == (3, 2)


def test_compute_to_the_first_trial_within_five_percent(replay_module) -> None:
    outcome = replay_module.Outcome((8, 2, 8, 8), (20.0, None, 10.4, 10.0))
    assert replay_module.first_good(outcome.objectives, 10.0, "minimize") == 2  # 10.4 ≤ 10.5
    assert replay_module.epochs_to_good(outcome, 10.0, "minimize") == 18
    assert replay_module.epochs_to_good(outcome, 9.0, "minimize") is None
    assert replay_module.first_good((0.5, 0.96), 1.0, "maximize") == 1


def test_the_reference_runs_only_running_bests_in_full(replay_module) -> None:
    curves = _curves(replay_module, (5.0,) * 8, (6.0,) * 8, (4.0,) * 8, (4.5,) * 8, (3.0,) * 8)
    outcome = replay_module.running_best_reference(curves, "minimize", stop=2)
    assert outcome.epochs == (8, 2, 8, 2, 8)
    assert outcome.objectives == (5.0, None, 4.0, None, 3.0)


def test_curves_round_trip_through_a_recorded_study(replay_module, tmp_path: Path) -> None:
    import optuna

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="unpruned", storage=storage)
    for lr, values in ((1e-3, (3.0, 2.0)), (1e-2, (2.5, 1.0))):
        trial = study.ask({"optim.lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)})
        assert trial.params["optim.lr"] > 0
        for step, value in enumerate(values):
            trial.report(value, step)
        study.tell(trial, min(values))
    out = tmp_path / "curves.json"
    replay_module.export([(storage, "unpruned")], out, note="test")
    direction, curves = replay_module.load_curves(out)
    assert direction == "minimize" and json.loads(out.read_text())["note"] == "test"
    assert [c.values for c in curves] == [(3.0, 2.0), (2.5, 1.0)] and [c.objective for c in curves] == [2.0, 1.0]


@pytest.mark.parametrize("spec", ["median:2", "median:a:1", "asha:1:3", "percentile:25:1"])
def test_a_malformed_pruner_spec_is_refused(replay_module, spec: str) -> None:
    with pytest.raises(ReprozooError, match=f"pruner '{spec}': expected one of median:N_STARTUP_TRIALS"):
        replay_module.parse_pruner(spec)


def test_a_file_that_is_not_a_curves_file_is_refused(replay_module, tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"curves": []}')
    with pytest.raises(ReprozooError, match=r"x.json: not a curves file written by `export` \(KeyError"):
        replay_module.load_curves(tmp_path / "x.json")


def test_a_study_that_skips_steps_is_not_exported(replay_module, tmp_path: Path) -> None:
    import optuna

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="every-other-epoch", storage=storage)
    trial = study.ask()
    trial.report(3.0, 0)
    trial.report(2.0, 2)
    study.tell(trial, 2.0)
    with pytest.raises(ReprozooError, match=r"every-other-epoch: trial 0 reported steps \[0, 2\], not one per epoch"):
        replay_module.export([(storage, "every-other-epoch")], tmp_path / "curves.json", note="")
    assert not (tmp_path / "curves.json").exists()
