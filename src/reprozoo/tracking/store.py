"""Connect to the tracking store named by the config (embedded sqlite by default) and get a paper's experiment."""

from __future__ import annotations

import os
import re
from pathlib import Path

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def redact(value: str) -> str:
    """Remove credentials from URLs inside `value` (`scheme://user:secret@host` → `scheme://***@host`)."""
    return _USERINFO.sub(r"\g<scheme>***@", value)


def quiet_mlflow() -> None:
    """Environment defaults for non-interactive use: no telemetry, no artifact progress bars."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def tracking_uri(cfg, root: Path) -> str:
    """The tracking URI with a relative sqlite path made absolute against the project root."""
    uri = str(cfg.tracking.uri)
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        db = root / uri.removeprefix("sqlite:///")
        db.parent.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{db}"
    return uri


def connect(cfg, root: Path) -> str:
    """Point MLflow at the configured store; returns the URI in use."""
    import mlflow

    quiet_mlflow()
    uri = tracking_uri(cfg, root)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def experiment_id(cfg, root: Path, name: str) -> str:
    """Id of experiment `name`, created on first use (artifacts under `tracking.artifact_root` for a local store)."""
    import mlflow

    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    location = None
    if tracking_uri(cfg, root).startswith("sqlite:"):
        location = (root / str(cfg.tracking.artifact_root) / name).resolve().as_uri()
    return mlflow.create_experiment(name, artifact_location=location)
