"""Production mode with the real servers: `reprozoo stack up` (PostgreSQL, SeaweedFS S3, MLflow server, optuna-dashboard)
in a copy of the repository, then what a team does with it — `dvc repro` against the server, `dvc push` and a fresh
clone's `dvc pull`, a 2-worker sweep on PostgreSQL, the registered model loaded from S3 through the server, the MLflow UI
in headless Chromium — and what happens when S3 goes down or PostgreSQL restarts mid-sweep.

One stack serves the whole module (starting it takes ~40 s); tests run in file order and build on each other.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RUN_KEY = "pose-hrnet-lh-tello"
MODEL = "pose.toydrone-tello"
FAST = ["model.widths=[8,16]", "model.stem_channels=8", "+trainer.limit_train_batches=3", "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
pytestmark = pytest.mark.stack


@dataclass
class Stack:
    work: Path          # the project (a committed copy of the working tree)
    env: dict[str, str]  # a client's environment: PATH, PYTHONPATH and the stack's exports
    state: dict          # .stack/state.json after `up`

    def run(self, *args: str, cwd: Path | None = None, check: bool = True, extra: dict[str, str] | None = None,
            timeout: float = 900) -> subprocess.CompletedProcess:
        done = subprocess.run(list(args), cwd=cwd or self.work, env={**self.env, **(extra or {})}, capture_output=True, text=True,
                              timeout=timeout)
        if check:
            assert done.returncode == 0, f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    @property
    def ports(self) -> dict[str, int]:
        return json.loads((self.work / ".stack" / "settings.json").read_text())["ports"]

    def pg_url(self, database: str) -> str:
        return f"postgresql+psycopg2://reprozoo@127.0.0.1:{self.ports['postgres']}/{database}"


def _free_port_base() -> int:
    """A port base whose every stack port (gRPC included) is free on 127.0.0.1."""
    from reprozoo.stack.layout import Ports

    for _ in range(50):
        base = random.randrange(20000, 40000, 100)
        ports = Ports.from_base(base).all()
        free = True
        for port in ports:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    free = False
                    break
        if free:
            return base
    raise RuntimeError("no free port range")


def _copy_tree(work: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for rel in files:
        if (REPO / rel).is_file():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, work / rel)


@pytest.fixture(scope="module")
def stack() -> Stack:
    # PostgreSQL runs as the `postgres` user when we are root: the project must be world-traversable (pytest's
    # tmp_path is 0700), so it lives in its own 0755 directory
    outer = Path(tempfile.mkdtemp(prefix="reprozoo-stack-"))
    outer.chmod(0o755)
    work = outer / "repo"
    _copy_tree(work)
    params = yaml.safe_load((work / "params.yaml").read_text())
    params.update(profile="smoke", tracking="server", papers=["pose"], datasets={"toydrone-tello": {"paper": "pose"}},
                  runs={RUN_KEY: params["runs"][RUN_KEY]})
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONPATH": str(work / "src"),
           "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@localhost"}
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "REPROZOO_ROOT", "REPROZOO_SWEEP_STORAGE", "PGPASSWORD",
                 "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3", "MLFLOW_S3_ENDPOINT_URL"):
        env.pop(name, None)
    handle = Stack(work, env, {})
    handle.run("git", "init", "-q")
    handle.run("git", "add", "-A")
    handle.run("git", "commit", "-qm", "snapshot")
    handle.run("reprozoo", "stack", "up", "--port-base", str(_free_port_base()), timeout=400)
    exports = handle.run("reprozoo", "stack", "env").stdout
    handle.env.update(line.removeprefix("export ").replace("'", "").split("=", 1) for line in exports.splitlines() if line.startswith("export "))
    handle.state = json.loads((work / ".stack" / "state.json").read_text())
    yield handle
    handle.run("reprozoo", "stack", "down", check=False)
    shutil.rmtree(outer, ignore_errors=True)


@pytest.fixture(scope="module")
def repro(stack: Stack) -> Stack:
    """`dvc repro` of the one-run smoke pipeline against the server, then the results committed."""
    stack.run("dvc", "repro")
    stack.run("git", "add", "-A")
    stack.run("git", "commit", "-qm", "repro")
    return stack


def _secrets(stack: Stack) -> list[str]:
    return [stack.env[name] for name in ("PGPASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")]


def test_up_binds_loopback_keeps_secrets_private_and_reports_health(stack: Stack) -> None:
    import psutil

    status = stack.run("reprozoo", "stack", "status").stdout
    assert [line.split()[:2] for line in status.splitlines()] == [[s, "healthy"] for s in ("postgres", "s3", "mlflow", "dashboard")]
    listening = set()
    for record in stack.state.values():
        leader = psutil.Process(record["pid"])
        for process in [leader, *leader.children(recursive=True)]:
            listening |= {c.laddr.ip for c in process.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
    assert listening == {"127.0.0.1"}
    env_file = stack.work / ".stack" / "stack.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stack.run("git", "check-ignore", ".stack/stack.env", ".dvc/config.local").stdout.split() == [".stack/stack.env", ".dvc/config.local"]
    tracked = (stack.work / ".dvc" / "config").read_text()
    local = (stack.work / ".dvc" / "config.local").read_text()
    assert stack.env["AWS_SECRET_ACCESS_KEY"] in local and not any(secret in tracked for secret in _secrets(stack))
    # a second `up` reuses the running processes
    stack.run("reprozoo", "stack", "up")
    assert json.loads((stack.work / ".stack" / "state.json").read_text()) == stack.state


def test_repro_tracks_runs_on_the_server_with_artifacts_in_s3(repro: Stack) -> None:
    import boto3
    from mlflow import MlflowClient

    record = json.loads((repro.work / "reports" / "registry" / "pose" / "hrnet-lh" / "toydrone-tello.json").read_text())
    client = MlflowClient(repro.env["MLFLOW_TRACKING_URI"])
    run = client.get_run(record["run_id"])
    assert run.info.status == "FINISHED" and run.info.artifact_uri.startswith("mlflow-artifacts:")
    version = client.get_model_version_by_alias(MODEL, "candidate")
    assert version.run_id == record["run_id"] and version.tags["git.commit"] != "unknown"
    s3 = boto3.client("s3", endpoint_url=repro.env["AWS_ENDPOINT_URL_S3"], aws_access_key_id=repro.env["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=repro.env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="reprozoo-mlflow", Prefix="artifacts/").get("Contents", [])]
    assert any(k.endswith(f"{record['run_id']}/artifacts/config.yaml") for k in keys)
    assert any("/model" in k or "models/" in k for k in keys)
    # credentials never reach MLflow: not in params, tags, or the logged config
    logged = " ".join([*run.data.params.values(), *run.data.tags.values(), *version.tags.values(),
                       Path(client.download_artifacts(run.info.run_id, "config.yaml", str(repro.work / ".stack"))).read_text()])
    assert not any(secret in logged for secret in _secrets(repro))


def test_registered_model_loads_from_s3_in_a_fresh_process(repro: Stack) -> None:
    code = ("import mlflow, torch\n"
            f"model = mlflow.pytorch.load_model('models:/{MODEL}@candidate')\n"
            f"spec = mlflow.models.get_model_info('models:/{MODEL}@candidate').signature.inputs.to_dict()[0]['tensor-spec']['shape']\n"
            "out = model(torch.zeros(2, *spec[1:]))\n"
            "out = out[-1] if isinstance(out, (list, tuple)) else out\n"
            "print(list(out.shape))\n")
    # only the server's address: artifacts come through its proxy, without S3 credentials on the client
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "MLFLOW_TRACKING_URI": repro.env["MLFLOW_TRACKING_URI"],
           "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    shape = json.loads(done.stdout.strip().splitlines()[-1])
    assert shape[0] == 2 and shape[1] == 9  # batch, the 9 keypoint heatmaps


def test_dvc_push_then_a_fresh_clone_pulls_to_a_clean_status(repro: Stack) -> None:
    repro.run("dvc", "push")
    clone = repro.work.parent / "clone"
    repro.run("git", "clone", "-q", str(repro.work), str(clone))
    # a teammate: the remote's address in the clone's local config, the keys from the stack's env exports
    repro.run("dvc", "remote", "add", "--local", "-d", "stack", "s3://reprozoo-dvc/cache", cwd=clone)
    repro.run("dvc", "remote", "modify", "--local", "stack", "endpointurl", repro.env["AWS_ENDPOINT_URL_S3"], cwd=clone)
    repro.run("dvc", "pull", cwd=clone)
    status = repro.run("dvc", "status", cwd=clone).stdout
    assert "Data and pipelines are up to date" in status, status
    for rel in ("models/pose/hrnet-lh/toydrone-tello", "reports/metrics/pose/hrnet-lh/toydrone-tello.json", "reports/claims/pose.md"):
        assert (clone / rel).exists(), rel
    assert (clone / "reports/metrics/pose/hrnet-lh/toydrone-tello.json").read_bytes() == \
        (repro.work / "reports/metrics/pose/hrnet-lh/toydrone-tello.json").read_bytes()


def _study(stack: Stack, name: str):
    import optuna

    storage = optuna.storages.RDBStorage(stack.pg_url("optuna"), engine_kwargs={"connect_args": {"password": stack.env["PGPASSWORD"]}})
    return optuna.load_study(study_name=name, storage=storage)


def test_two_worker_sweep_on_postgres(repro: Stack) -> None:
    repro.run("reprozoo", "sweep", "pose/hrnet-lh", "--dataset", "toydrone-tello", "--space", "smoke", "--trials", "4", "--workers", "2",
              "--study", "two-workers", *FAST)
    study = _study(repro, "two-workers")
    states = [t.state.name for t in study.trials]
    assert len(states) == 4 and "RUNNING" not in states and states.count("FAIL") == 0
    assert len({t.user_attrs["worker.pid"] for t in study.trials}) == 2  # both workers ran trials
    # the dashboard serves the same database
    import requests

    studies = requests.get(f"http://127.0.0.1:{repro.ports['dashboard']}/api/studies", timeout=10).json()["study_summaries"]
    assert "two-workers" in {s["study_name"] for s in studies}


def test_sweep_survives_a_postgres_restart_with_its_budget(repro: Stack) -> None:
    command = ["reprozoo", "sweep", "pose/hrnet-lh", "--dataset", "toydrone-tello", "--space", "smoke", "--trials", "6",
               "--study", "pg-restart", *FAST]
    sweep = subprocess.Popen(command, cwd=repro.work, env=repro.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if sum(t.state.name == "COMPLETE" for t in _study(repro, "pg-restart").trials) >= 1:
                break
        except Exception:  # the study may not exist yet
            pass
        time.sleep(1)
    else:
        sweep.kill()
        pytest.fail("the sweep completed no trial in 300 s")
    repro.run("reprozoo", "stack", "down", "postgres")
    time.sleep(3)
    repro.run("reprozoo", "stack", "up", "postgres")
    output = sweep.communicate(timeout=600)[0]
    if sweep.returncode != 0:  # resuming is the documented answer: the budget counts across re-runs
        output += repro.run(*command).stdout
    states = [t.state.name for t in _study(repro, "pg-restart").trials]
    assert states.count("COMPLETE") + states.count("PRUNED") == 6, (states, output[-3000:])
    assert "RUNNING" not in states


def test_s3_down_while_logging_gives_a_clear_error_and_loses_nothing(repro: Stack) -> None:
    from mlflow import MlflowClient

    command = ["reprozoo", "train", "pose/hrnet-lh", "--dataset", "toydrone-tello", *FAST]
    client = MlflowClient(repro.env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("pose").experiment_id
    before = {r.info.run_id for r in client.search_runs([experiment])}
    repro.run("reprozoo", "stack", "down", "s3")
    try:
        failed = repro.run(*command, check=False, extra={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    finally:
        repro.run("reprozoo", "stack", "up", "s3")
    lines = failed.stderr.strip().splitlines()
    assert failed.returncode == 2 and lines[-1].startswith("reprozoo: error: MLflow (") and "Traceback" not in failed.stderr
    new = [r for r in client.search_runs([experiment]) if r.info.run_id not in before]
    assert len(new) == 1 and new[0].info.status == "FAILED"  # visible as failed, never as a finished run without artifacts
    again = repro.run(*command)
    run_id = again.stdout.strip().split()[-1]
    assert client.get_run(run_id).info.status == "FINISHED"
    assert "config.yaml" in {a.path for a in client.list_artifacts(run_id)}


def test_mlflow_ui_shows_the_candidate_alias_in_chromium(repro: Stack) -> None:
    from playwright.sync_api import sync_playwright

    screenshot = repro.work / "reports" / "ui" / "registered-model.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{repro.env['MLFLOW_TRACKING_URI']}/#/models/{MODEL}")
            alias = page.get_by_text("candidate").first
            alias.wait_for(timeout=90_000)
            assert "candidate" in alias.inner_text()
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000


def test_down_stops_exactly_the_recorded_processes(stack: Stack) -> None:
    import psutil

    state = json.loads((stack.work / ".stack" / "state.json").read_text())
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stack.run("reprozoo", "stack", "down")
        assert all(not psutil.pid_exists(r["pid"]) or psutil.Process(r["pid"]).status() == psutil.STATUS_ZOMBIE for r in state.values())
        assert bystander.poll() is None
        status = stack.run("reprozoo", "stack", "status", check=False)
        assert status.returncode == 1 and all(line.split()[1] == "stopped" for line in status.stdout.splitlines())
    finally:
        bystander.kill()
