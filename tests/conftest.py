"""Shared fixtures: a throw-away project root (the real pipelines/ config, smoke profile) and a smoke ToyDrone dataset."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@pytest.fixture(autouse=True)
def _isolated_mlflow_env():
    """`mlflow.set_tracking_uri` exports MLFLOW_TRACKING_URI; restore it after each test so that no test (or the
    subprocesses it starts) inherits another test's store."""
    saved = {name: os.environ.get(name) for name in MLFLOW_ENV}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def make_project(path: Path, profile: str = "smoke") -> Path:
    """A project root at `path` with the repository's pipelines/ and a params.yaml selecting `profile`."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "pipelines", path / "pipelines")
    (path / "params.yaml").write_text(f"profile: {profile}\n")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


@pytest.fixture(scope="session")
def smoke_raw_tello(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/raw/toydrone-tello of the smoke profile, generated once per session (do not modify: copy it)."""
    from reprozoo.stages.fetch import fetch

    root = make_project(tmp_path_factory.mktemp("session") / "project")
    return fetch("toydrone-tello", root=root, progress=False)


@pytest.fixture
def project_with_raw(project: Path, smoke_raw_tello: Path) -> Path:
    """A project whose data/raw/toydrone-tello is a private copy of the session's smoke dataset."""
    shutil.copytree(smoke_raw_tello, project / "data" / "raw" / "toydrone-tello")
    return project
