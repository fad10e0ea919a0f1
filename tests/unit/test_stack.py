"""`reprozoo stack` without its servers: ports, the private env file, process records that never signal a stranger,
and refusals that leave nothing behind. The real servers are exercised in tests/integration/test_stack.py."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reprozoo.cli import main
from reprozoo.stack import manager
from reprozoo.stack.layout import Ports, StackLayout
from reprozoo.stack.processes import ProcessRecord, StackError, is_running, load_state, save_state, spawn, stop
from reprozoo.stack.secrets import Credentials, client_environment, read_env_file, s3_identities, write_env_file


def test_ports_are_distinct_and_leave_room_for_seaweedfs_grpc() -> None:
    ports = Ports.from_base(20000)
    assert (ports.postgres, ports.s3, ports.mlflow, ports.dashboard) == (20032, 20033, 20050, 20080)
    every = ports.all()
    assert len(every) == len(set(every)) == 13 and ports.s3 + 10000 in every and max(every) <= 65535
    for bad in (80, 60000):
        with pytest.raises(ValueError, match=f"port base {bad}"):
            Ports.from_base(bad)


def test_port_base_is_fixed_at_the_first_up(tmp_path: Path) -> None:
    layout = StackLayout(tmp_path / ".stack")
    assert layout.read_port_base(None) == 18400
    layout.write_port_base(21000)
    assert layout.read_port_base(None) == layout.read_port_base(21000) == 21000
    with pytest.raises(ValueError, match="uses port base 21000, not 22000"):
        layout.read_port_base(22000)


def test_env_file_is_private_round_trips_and_keeps_secrets_out_of_urls(tmp_path: Path) -> None:
    credentials = Credentials.generate()
    assert credentials != Credentials.generate()
    environment = client_environment(credentials, Ports.from_base(20000))
    path = tmp_path / ".stack" / "stack.env"
    old_umask = os.umask(0)  # even with a permissive umask the file is owner-only
    try:
        write_env_file(path, environment)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_env_file(path) == environment
    secrets = (credentials.pg_password, credentials.s3_access_key, credentials.s3_secret_key)
    urls = [value for value in environment.values() if "://" in value]
    assert len(urls) == 4 and not any(secret in url for url in urls for secret in secrets)
    assert credentials.s3_secret_key in s3_identities(credentials)
    # the file is valid shell: sourcing it exports the same values
    shown = subprocess.run(["bash", "-c", f"source {path} && printf '%s\\n' \"$PGPASSWORD\" \"$MLFLOW_TRACKING_URI\""],
                           capture_output=True, text=True, check=True).stdout.split()
    assert shown == [credentials.pg_password, environment["MLFLOW_TRACKING_URI"]]


def test_env_file_with_a_foreign_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "stack.env"
    path.write_text("# comment\nexport A='1'\nrm -rf /\n")
    with pytest.raises(ValueError, match=r"stack.env:3: not an `export NAME='value'` line"):
        read_env_file(path)


@pytest.fixture
def sleeper(tmp_path: Path):
    """A detached process group: a shell that started a child, both sleeping (like a server and its workers)."""
    record = spawn(["bash", "-c", "sleep 60 & wait"], log=tmp_path / "sleeper.log", env=dict(os.environ))
    time.sleep(0.3)
    yield record
    stop(record, timeout=2)


def _children(pid: int) -> list[int]:
    import psutil

    return [child.pid for child in psutil.Process(pid).children(recursive=True)]


def test_stop_ends_the_whole_group_it_started(sleeper: ProcessRecord) -> None:
    import psutil

    children = _children(sleeper.pid)
    assert is_running(sleeper) and children
    stop(sleeper, timeout=5)
    assert not is_running(sleeper)
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in children)


def test_stop_never_signals_a_reused_pid(sleeper: ProcessRecord) -> None:
    stranger = ProcessRecord(sleeper.pid, sleeper.create_time - 3600, sleeper.command)  # same pid, another start time
    assert not is_running(stranger)
    stop(stranger, timeout=1)
    assert is_running(sleeper)


def test_state_file_round_trips(tmp_path: Path, sleeper: ProcessRecord) -> None:
    path = tmp_path / ".stack" / "state.json"
    save_state(path, {"s3": sleeper})
    assert load_state(path) == {"s3": sleeper} and not path.with_suffix(".tmp").exists()


def test_up_refuses_a_busy_port_and_writes_nothing(tmp_path: Path) -> None:
    base = 23100
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", Ports.from_base(base).mlflow))
        squatter.listen()
        with pytest.raises(StackError, match=f"port\\(s\\) {base + 50} already in use"):
            manager.up(tmp_path, ["mlflow"], port_base=base)
    assert not (tmp_path / ".stack").exists()


def test_cli_errors_are_one_line_and_status_without_a_stack_is_stopped(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "config.yaml").write_text("defaults: []\n")
    monkeypatch.setenv("REPROZOO_ROOT", str(tmp_path))
    assert main(["stack", "up", "--port-base", "80"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["reprozoo: error: port base 80: choose 1024…55400 (SeaweedFS also uses port + 10000)"]
    assert main(["stack", "down", "nosuch"]) == 2
    assert "unknown service nosuch" in capsys.readouterr().err
    assert main(["stack", "env"]) == 2
    assert "no stack here yet" in capsys.readouterr().err
    assert main(["stack", "status"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [[name, "stopped"] for name in ("postgres", "s3", "mlflow", "dashboard")]
    assert not (tmp_path / ".stack").exists()


def test_help_lists_the_stack_actions() -> None:
    out = subprocess.run([sys.executable, "-m", "reprozoo.cli", "stack", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and all(action in out.stdout for action in ("up", "down", "status", "env", "--port-base", "--purge"))
