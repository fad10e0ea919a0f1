"""`reprozoo ui` serves the MLflow UI over the project's store, on 127.0.0.1 only."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ui_serves_mlflow_on_loopback(project: Path) -> None:
    port = _free_port()
    env = {**os.environ, "REPROZOO_ROOT": str(project), "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)  # the embedded store of the project, not a server named by the environment
    server = subprocess.Popen([sys.executable, "-m", "reprozoo.cli", "ui", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or still starting
                time.sleep(1)
        else:
            raise AssertionError("MLflow UI did not become healthy within 120 s")
        page = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and "mlflow" in page.text.lower()
        experiments = requests.get(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search", params={"max_results": 10}, timeout=10).json()
        assert [e["name"] for e in experiments["experiments"]] == ["Default"]  # the project's fresh sqlite store
        assert (project / "mlruns" / "mlflow.db").is_file()
        procs = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
        listening = {c.laddr.ip for p in procs for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
        assert listening == {"127.0.0.1"}
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
