"""`reprozoo sweep` with the real Optuna storage, Lightning pruning and MLflow: budget, resume after SIGKILL,
two workers on one study, divergence pruned with its reason, parent/child runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow import MlflowClient

from reprozoo.stages.fetch import fetch
from reprozoo.stages.preprocess import preprocess
from reprozoo.sweeps.runner import sweep
from tests.conftest import make_project

# keep each trial to a few seconds: a narrow net and 3 training batches per epoch
FAST = ["model.widths=[8,16]", "model.stem_channels=8", "+trainer.limit_train_batches=3", "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("sweep") / "project")
    fetch("toydrone-tello", root=root, progress=False)
    preprocess("toydrone-tello", root=root)
    (root / "mlruns").mkdir()
    (root / "pipelines" / "sweep" / "diverge.yaml").write_text(yaml.safe_dump({
        "objective": {"metric": "val/kpt_err_px", "direction": "minimize"},
        # Adam at this rate turns the loss NaN at the second step (at 1e12 the batch norms keep the activations finite
        # and the heatmap loss bounded: the net is wrecked, not NaN)
        "params": {"optim.lr": {"type": "categorical", "choices": [1.0e30]}},
        "sampler": {"name": "random", "seed": 0}, "pruner": {"name": "none"},
    }))
    return root


def _study(root: Path, name: str, url: str | None = None) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=url or f"sqlite:///{root / 'mlruns' / 'optuna.db'}")


def _states(study: optuna.Study) -> list[str]:
    return [t.state.name for t in study.get_trials(deepcopy=False)]


def _distinct_points(trials: list) -> int:
    """How many different parameter points `trials` hold."""
    return len({tuple(sorted(t.params.items())) for t in trials})


def test_four_trials_with_mlflow_parent_and_children(root: Path) -> None:
    summary = sweep("pose/hrnet-lh", "toydrone-tello", space="smoke", trials=4, study_name="four", overrides=FAST, root=root)
    assert summary.complete + summary.pruned == 4 and summary.failed == 0
    study = _study(root, "four")
    assert sorted(_states(study)).count("RUNNING") == 0 and len(study.trials) == 4
    client = MlflowClient(f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
    parent = client.get_run(summary.parent_run_id)
    assert parent.data.tags["optuna.study"] == "four" and parent.info.status == "FINISHED"
    children = client.search_runs([parent.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{summary.parent_run_id}'")
    assert sorted(int(r.data.tags["optuna.trial"]) for r in children) == [0, 1, 2, 3]
    for child in children:
        assert child.data.tags["optuna.state"] in ("COMPLETE", "PRUNED")
        assert "optim.lr" in child.data.params and "val/kpt_err_px" in child.data.metrics
    artifacts = {a.path for a in client.list_artifacts(summary.parent_run_id, "study")}
    assert {"study/optimization_history.png", "study/trials.csv", "study/best_params.yaml"} <= artifacts
    best = yaml.safe_load(summary.best_file.read_text())
    assert best["best_value"] == pytest.approx(study.best_value) and best["runs"]["<run>"]["overrides"]["optim"]["lr"] == study.best_params["optim.lr"]


def test_diverging_trial_is_pruned_with_its_reason(root: Path) -> None:
    summary = sweep("pose/hrnet-lh", "toydrone-tello", space="diverge", trials=1, study_name="diverge", overrides=FAST, root=root)
    assert summary.pruned == 1 and summary.complete == 0
    trial = _study(root, "diverge").trials[0]
    assert trial.state.name == "PRUNED" and "loss is nan" in trial.user_attrs["pruned_reason"]


def _command(root: Path, study: str, trials: int, url: str, workers: int = 1, epochs: int = 2) -> list[str]:
    return [sys.executable, "-m", "reprozoo.cli", "sweep", "pose/hrnet-lh", "--dataset", "toydrone-tello", "--space", "smoke",
            "--trials", str(trials), "--study", study, "--storage", url, "--workers", str(workers), *FAST, f"trainer.max_epochs={epochs}"]


@pytest.mark.parametrize("backend", ["sqlite", "journal"])
def test_killed_worker_then_rerun_ends_with_exactly_the_budget(root: Path, backend: str) -> None:
    url = f"sqlite:///{root / 'mlruns' / 'optuna.db'}" if backend == "sqlite" else f"journal:{root / 'mlruns' / 'optuna.journal'}"
    study_name = f"killed-{backend}"
    env = {**os.environ, "REPROZOO_ROOT": str(root)}
    # trials of 12 short epochs (~0.3 s each): the kill lands after a trial's first epoch, well before its last
    command = _command(root, study_name, 3, url, epochs=12)
    worker = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    storage = url if backend == "sqlite" else __import__("reprozoo.sweeps.storage", fromlist=["open_storage"]).open_storage(url)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait until a trial runs, has recorded its worker and reported an epoch
        try:
            if any(t.state.name == "RUNNING" and "worker.pid" in t.user_attrs and t.intermediate_values
                   for t in _study(root, study_name, storage).trials):
                break
        except KeyError:  # the study does not exist yet
            pass
        time.sleep(0.1)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    assert "RUNNING" in _states(_study(root, study_name, storage))
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    states = _states(_study(root, study_name, storage))
    assert "RUNNING" not in states
    assert states.count("COMPLETE") + states.count("PRUNED") == 3
    assert states.count("FAIL") == 1  # the killed trial, retried with the same parameters
    retried = [t for t in _study(root, study_name, storage).trials if "retried_from" in t.user_attrs]
    failed = [t for t in _study(root, study_name, storage).trials if t.state.name == "FAIL"]
    assert len(retried) == 1 and retried[0].params == failed[0].params
    # the re-run's seeded sampler does not restart its stream: besides the retry, no point is drawn twice
    finished = [t for t in _study(root, study_name, storage).trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert _distinct_points(finished) == len(finished)


def test_two_workers_on_one_study_lose_nothing(root: Path) -> None:
    url = f"sqlite:///{root / 'mlruns' / 'optuna.db'}"
    env = {**os.environ, "REPROZOO_ROOT": str(root)}
    done = subprocess.run(_command(root, "two-workers", 4, url, workers=2), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    study = _study(root, "two-workers")
    states = _states(study)
    assert "RUNNING" not in states and "FAIL" not in states
    finished = states.count("COMPLETE") + states.count("PRUNED")
    assert 4 <= finished <= 5  # each worker stops once the budget is taken; one may already be inside a trial
    hosts = {t.user_attrs["worker.pid"] for t in study.trials}
    assert len(hosts) == 2  # both processes ran trials
    assert _distinct_points(study.trials) == len(states)  # the workers drew different points
    client = MlflowClient(f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("pose").experiment_id], filter_string="tags.`optuna.study` = 'two-workers'")
    assert len([r for r in runs if "optuna.trial" in r.data.tags]) == len(states)  # one MLflow child run per trial, none lost


def test_study_is_readable_by_the_optuna_cli_and_dashboard(root: Path) -> None:
    import json
    import socket

    import requests

    sweep("pose/hrnet-lh", "toydrone-tello", space="smoke", trials=1, study_name="readable", overrides=FAST, root=root)
    url = f"sqlite:///{root / 'mlruns' / 'optuna.db'}"
    bin_dir = Path(sys.executable).parent
    listed = subprocess.run([bin_dir / "optuna", "trials", "--storage", url, "--study-name", "readable", "-f", "json"], capture_output=True, text=True, check=True)
    trials = json.loads(listed.stdout)
    assert len(trials) == 1 and "optim.lr" in trials[0]["params"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dashboard = subprocess.Popen([bin_dir / "optuna-dashboard", url, "--host", "127.0.0.1", "--port", str(port)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                studies = requests.get(f"http://127.0.0.1:{port}/api/studies", timeout=5).json()["study_summaries"]
                break
            except (requests.RequestException, ValueError):
                assert time.monotonic() < deadline, "optuna-dashboard did not answer within 60 s"
                time.sleep(0.5)
        assert "readable" in {s["study_name"] for s in studies}
    finally:
        os.killpg(dashboard.pid, signal.SIGTERM)
        dashboard.wait(timeout=30)
