"""`tracked`: a temporary reprozoo project with a real sqlite MLflow store, runs, eval reports and registered versions.

Creating (migrating) an MLflow sqlite store takes seconds, so one is made per session and copied for each test.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import make_project
from tests.unit.claims.builders import DIAMETER, write_report


@pytest.fixture(scope="session")
def mlflow_template(request, tmp_path_factory) -> Path:
    """An empty, migrated sqlite MLflow store, kept in pytest's cache between sessions (a migration takes ~10 s)."""
    import mlflow
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir(f"mlflow-{mlflow.__version__}-store") if cache is not None else tmp_path_factory.mktemp("mlflow")
    path = folder / "template.db"
    if not path.is_file():
        fresh = tmp_path_factory.mktemp("mlflow-new") / "template.db"
        SqlAlchemyStore(f"sqlite:///{fresh}", str(fresh.parent / "artifacts"))
        staged = folder / f".template-{os.getpid()}.db"
        shutil.copy(fresh, staged)
        os.replace(staged, path)  # atomic: a concurrent session sees a whole file or none
    return path


@dataclass
class TrackedProject:
    """A project root (the real pipelines/, smoke profile) with its own tracking store and helpers to fill it."""

    root: Path
    client: object
    experiment_id: str

    @property
    def eval_root(self) -> Path:
        return self.root / "reports" / "eval" / "pose"

    def evaluated_run(self, variant: str, *, seed: int = 0, dataset: str = "toydrone-tello", log_artifact: bool = True, **kwargs) -> str:
        """A run of `variant` with a constructed eval report in reports/eval (and as the run's eval/ artifact)."""
        run_id = self.client.create_run(self.experiment_id, run_name=f"{variant}/seed{seed}", tags={"variant": variant}).info.run_id
        path = write_report(self.eval_root, variant, seed=seed, dataset=dataset, run_id=run_id, **kwargs)
        if log_artifact:
            self.client.log_artifact(run_id, str(path), "eval")
        return run_id

    def register(self, name: str, run_id: str, *, variant: str, seed: int = 0, dataset: str = "toydrone-tello", validation: str = "passed") -> str:
        """A version of `name` for `run_id` with register's lineage tags, aliased `candidate`; returns the version."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(name)
        except MlflowException:
            pass  # already registered
        tags = {"run_id": run_id, "paper": "pose", "variant": variant, "dataset": dataset, "seed": str(seed), "validation.result": validation}
        version = self.client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id, tags=tags).version
        self.client.set_registered_model_alias(name, "candidate", version)
        return str(version)


@pytest.fixture
def tracked(tmp_path, monkeypatch, mlflow_template) -> TrackedProject:
    import mlflow
    from mlflow import MlflowClient

    root = make_project(tmp_path / "tracked")
    db = root / "mlruns" / "mlflow.db"
    db.parent.mkdir(parents=True)
    shutil.copy(mlflow_template, db)
    for dataset in ("toydrone-tello", "toydrone-m2ed"):
        processed = root / "data" / "processed" / dataset
        processed.mkdir(parents=True)
        info = {"name": dataset, "diameter": DIAMETER, "splits": {"train": 128, "val": 24, "test": 300}, "n_raw": 460, "n_filtered": 8,
                "manifest_sha256": "ab" * 32, "validation": {"success": True, "evaluated_expectations": 17, "failed_expectations": 0, "failures": []}}
        (processed / "dataset.json").write_text(json.dumps(info))
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(uri, uri)
    experiment = client.create_experiment("pose", artifact_location=(root / "mlruns" / "artifacts" / "pose").as_uri())
    return TrackedProject(root, client, experiment)
