"""Detached server processes and their records: start, recognise by pid + start time, stop exactly what was started.

A record is kept in `.stack/state.json`. A pid alone could be reused by an unrelated process after a crash, so a
record also holds the process's start time; `down` signals a pid only while both still match.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from reprozoo.errors import ReprozooError


class StackError(ReprozooError):
    """A stack service could not be started, reached or stopped (the message names the service and its log)."""


@dataclass(frozen=True)
class ProcessRecord:
    """One started server. `group`: the pid leads its own process group (stop signals the whole group)."""

    pid: int
    create_time: float
    command: list[str]
    stop_signal: int = int(signal.SIGTERM)
    group: bool = True


def record_for(pid: int, command: Sequence[str], *, stop_signal: int = signal.SIGTERM, group: bool = True) -> ProcessRecord:
    import psutil

    return ProcessRecord(pid, psutil.Process(pid).create_time(), list(command), int(stop_signal), group)


def spawn(command: Sequence[str], *, log: Path, env: dict[str, str], cwd: Path | None = None) -> ProcessRecord:
    """Start `command` in a new session (it outlives this process), output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        process = subprocess.Popen(list(command), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                   start_new_session=True)
    return record_for(process.pid, command)


def is_running(record: ProcessRecord) -> bool:
    """The recorded process still exists (same pid and start time) and is not a zombie."""
    import psutil

    try:
        process = psutil.Process(record.pid)
        return abs(process.create_time() - record.create_time) < 0.5 and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop(record: ProcessRecord, *, timeout: float = 30.0) -> None:
    """Signal the recorded process (its group when it leads one), wait, and SIGKILL what is left after `timeout`."""
    import psutil

    if not is_running(record):
        return
    members = [psutil.Process(record.pid)]
    if record.group:
        members += [p for p in psutil.process_iter() if _pgid(p.pid) == record.pid and p.pid != record.pid]
    for member in members:
        try:
            member.send_signal(record.stop_signal)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(members, timeout=timeout)
    for member in alive:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, log: Path | None = None,
               alive: Callable[[], bool] | None = None) -> None:
    """Poll `check` until it returns True; raise StackError naming `what` (and the last line of `log`) on timeout or
    as soon as `alive` says the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if alive is not None and not alive():
            raise StackError(f"{what} exited during start-up{_last_line(log)}")
        time.sleep(0.25)
    raise StackError(f"{what} not healthy after {timeout:.0f} s{_last_line(log)}")


def _last_line(log: Path | None) -> str:
    if log is None or not log.is_file():
        return ""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return f"; see {log} (last line: {lines[-1].strip()[:200]})" if lines else f"; see {log}"


def load_state(path: Path) -> dict[str, ProcessRecord]:
    if not path.is_file():
        return {}
    return {name: ProcessRecord(**value) for name, value in json.loads(path.read_text()).items()}


def save_state(path: Path, state: dict[str, ProcessRecord]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_suffix(".tmp")
    staged.write_text(json.dumps({name: asdict(record) for name, record in state.items()}, indent=1))
    os.replace(staged, path)
