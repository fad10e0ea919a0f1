"""Connect to the tracking store named by the config (embedded sqlite by default) and get a paper's experiment."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reprozoo.errors import ReprozooError

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def redact(value: str) -> str:
    """Remove credentials from URLs inside `value` (`scheme://user:secret@host` → `scheme://***@host`)."""
    return _USERINFO.sub(r"\g<scheme>***@", value)


def quiet_mlflow() -> None:
    """Environment defaults for non-interactive use: no telemetry, no artifact progress bars."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def absolute_sqlite(uri: str, root: Path) -> str:
    """`uri` with a relative sqlite path made absolute against the project root (its folder created)."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        db = root / uri.removeprefix("sqlite:///")
        db.parent.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{db}"
    return uri


@contextmanager
def sqlite_creation_lock(uri: str, timeout: float = 600.0) -> Iterator[None]:
    """Hold a file lock beside the sqlite database of `uri` (nothing for other URLs): processes that start together on
    a fresh project would otherwise create and migrate its schema at the same time and fail."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    from filelock import FileLock, Timeout

    lock = FileLock(f"{uri.removeprefix('sqlite:///')}.lock", timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise ReprozooError(f"{lock.lock_file}: another process has held it for {timeout:g} s while creating the "
                            "database; is a reprozoo command stuck?") from None
    try:
        yield
    finally:
        lock.release()


def tracking_uri(cfg, root: Path) -> str:
    """The configured tracking URI (`tracking.uri`), a relative sqlite path made absolute."""
    return absolute_sqlite(str(cfg.tracking.uri), root)


def check_server(uri: str, timeout: float = 10.0) -> None:
    """Raise a one-line ReprozooError when the MLflow server at `uri` does not answer its health check."""
    import requests

    try:
        response = requests.get(f"{uri.rstrip('/')}/health", timeout=timeout)
        if response.status_code == 200:
            return
        reason = f"HTTP {response.status_code}"
    except requests.RequestException as exc:
        reason = type(exc).__name__
    raise ReprozooError(f"MLflow server {redact(uri)}: not reachable ({reason}); start it with `reprozoo stack up` or set MLFLOW_TRACKING_URI")


def connect(cfg, root: Path) -> str:
    """Point MLflow at the configured store (checking that a server answers); returns the URI in use."""
    import mlflow

    quiet_mlflow()
    uri = tracking_uri(cfg, root)
    if uri.startswith(("http://", "https://")):
        check_server(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if uri.startswith("sqlite:"):
        with sqlite_creation_lock(uri):  # the first query of each store creates or migrates the schema
            mlflow.search_experiments(max_results=1)
            mlflow.search_registered_models(max_results=1)
    return uri


def experiment_id(cfg, root: Path, name: str) -> str:
    """Id of experiment `name`, created on first use (artifacts under `tracking.artifact_root` for a local store)."""
    import mlflow

    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    from mlflow.exceptions import MlflowException

    location = None
    if tracking_uri(cfg, root).startswith("sqlite:"):
        location = (root / str(cfg.tracking.artifact_root) / name).resolve().as_uri()
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except MlflowException:
        created = mlflow.get_experiment_by_name(name)  # another process created it since the lookup above
        if created is None:
            raise
        return created.experiment_id


def tracking_failure(exc: BaseException) -> str | None:
    """A one-line message when `exc` is the tracking server or its artifact store failing (else None): what the
    CLI prints instead of a traceback. The run itself is marked FAILED by the stage that created it."""
    import sys

    if "mlflow" not in sys.modules:
        return None
    from mlflow.exceptions import MlflowException

    if not isinstance(exc, MlflowException):
        return None
    import mlflow

    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return f"MLflow ({redact(mlflow.get_tracking_uri())}): {redact(first)[:400]} (the stage wrote nothing; its run, if any, is marked FAILED)"
