"""Commands started together on a fresh project (two `reprozoo sweep`s, a sweep beside `dvc repro`) create the embedded
MLflow store, the paper's experiment and the Optuna database at the same moment: none may fail on the race."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

PROCESSES = 4

OPEN_EVERYTHING = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from omegaconf import OmegaConf
    from reprozoo.sweeps import storage
    from reprozoo.tracking import store

    root, go = Path(sys.argv[1]), Path(sys.argv[2])
    cfg = OmegaConf.create({"tracking": {"uri": "sqlite:///mlruns/mlflow.db", "artifact_root": "mlruns/artifacts",
                                         "sweep_storage": "sqlite:///mlruns/optuna.db"}})
    while not go.exists():
        time.sleep(0.005)
    store.connect(cfg, root)
    print(store.experiment_id(cfg, root, "pose"))
    storage.open_storage(storage.configured_url(cfg, root))
""")


def test_processes_starting_together_on_a_fresh_store_all_succeed(tmp_path: Path) -> None:
    go = tmp_path / "go"
    workers = [subprocess.Popen([sys.executable, "-c", OPEN_EVERYTHING, str(tmp_path), str(go)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(PROCESSES)]
    time.sleep(3)  # every interpreter has imported and waits at the barrier
    go.touch()
    results = [(worker.wait(timeout=300), *worker.communicate()) for worker in workers]
    failures = [err.strip().splitlines()[-1] for code, _, err in results if code != 0]
    assert not failures, failures
    experiment_ids = {out.strip() for _, out, _ in results}
    assert len(experiment_ids) == 1, experiment_ids  # one experiment, the same id for all
    assert (tmp_path / "mlruns" / "optuna.db").is_file()


def test_a_creation_lock_held_too_long_is_a_one_line_error(tmp_path: Path) -> None:
    import pytest
    from filelock import FileLock

    from reprozoo.errors import ReprozooError
    from reprozoo.tracking.store import sqlite_creation_lock

    db = tmp_path / "mlflow.db"
    with FileLock(f"{db}.lock"):  # held by "another process"
        with pytest.raises(ReprozooError, match=r"mlflow.db.lock: another process has held it for 0.2 s"):
            with sqlite_creation_lock(f"sqlite:///{db}", timeout=0.2):
                pass
    with sqlite_creation_lock(f"sqlite:///{db}", timeout=0.2):
        assert (tmp_path / "mlflow.db.lock").exists()
