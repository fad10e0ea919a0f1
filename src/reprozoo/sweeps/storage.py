"""Optuna storage from a URL: any SQLAlchemy URL (sqlite, PostgreSQL) with heartbeats, or `journal:<file>`.

Killed workers: with an RDB storage a trial whose heartbeat stops is failed after the grace period (by any worker of
the study); on this host a trial whose recorded worker process is gone is failed at once (both storages).
Failed trials are retried with the same parameters (RetryHeartbeatStaleTrialCallback).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

HEARTBEAT_SECONDS = 5
GRACE_SECONDS = 20
MAX_RETRY = 2
WORKER_HOST, WORKER_PID = "worker.host", "worker.pid"


def configured_url(cfg, root: Path) -> str:
    """The tracking config's `sweep_storage` (sqlite beside the embedded MLflow store, or the stack's PostgreSQL)."""
    from reprozoo.tracking.store import absolute_sqlite

    return absolute_sqlite(str(cfg.tracking.sweep_storage), root)


def open_storage(url: str):
    """An Optuna storage for `url` (`journal:<path>` or an SQLAlchemy URL)."""
    from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
    from optuna.storages.journal import JournalFileBackend

    if url.startswith("journal:"):
        path = Path(url.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    from reprozoo.tracking.store import sqlite_creation_lock

    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    with sqlite_creation_lock(url):  # RDBStorage creates its tables on first open
        return RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=GRACE_SECONDS,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
        )


def mark_worker(trial) -> None:
    """Record which process runs `trial` (so a dead local worker's trial can be recognised)."""
    trial.set_user_attr(WORKER_HOST, socket.gethostname())
    trial.set_user_attr(WORKER_PID, os.getpid())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_dead_local_trials(study) -> list[int]:
    """Fail RUNNING trials whose worker ran on this host and is gone, and queue a retry of each; returns their numbers."""
    from optuna.trial import TrialState

    host = socket.gethostname()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = trial.user_attrs
        if attrs.get(WORKER_HOST) == host and WORKER_PID in attrs and not _alive(int(attrs[WORKER_PID])):
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            study.enqueue_trial(trial.params, user_attrs={"retried_from": trial.number}, skip_if_exists=False)
            failed.append(trial.number)
    return failed
