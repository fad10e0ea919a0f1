"""Where a stack lives (`<project>/.stack/`) and which loopback ports it uses (one base, fixed offsets)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_PORT_BASE = 18400
HOST = "127.0.0.1"
MLFLOW_BUCKET = "reprozoo-mlflow"
DVC_BUCKET = "reprozoo-dvc"
DB_USER = "reprozoo"
DATABASES = ("mlflow", "optuna")


@dataclass(frozen=True)
class Ports:
    """Loopback ports of one stack. SeaweedFS also listens on each of its ports + 10000 (gRPC)."""

    base: int
    postgres: int
    s3: int
    weed_master: int
    weed_volume: int
    weed_filer: int
    weed_admin: int
    mlflow: int
    dashboard: int

    @classmethod
    def from_base(cls, base: int) -> Ports:
        """Ports `base+32 … base+80`: PostgreSQL +32, S3 +33, SeaweedFS internals +34…+37, MLflow +50, dashboard +80."""
        if not 1024 <= base <= 55400:
            raise ValueError(f"port base {base}: choose 1024…55400 (SeaweedFS also uses port + 10000)")
        return cls(base=base, postgres=base + 32, s3=base + 33, weed_master=base + 34, weed_volume=base + 35, weed_filer=base + 36,
                   weed_admin=base + 37, mlflow=base + 50, dashboard=base + 80)

    def of(self, service: str) -> list[int]:
        """The ports service `service` binds (SeaweedFS's gRPC ports included)."""
        if service == "s3":
            weed = [self.s3, self.weed_master, self.weed_volume, self.weed_filer, self.weed_admin]
            return [*weed, *(p + 10000 for p in weed)]
        return [{"postgres": self.postgres, "mlflow": self.mlflow, "dashboard": self.dashboard}[service]]

    def all(self) -> list[int]:
        """Every port the stack binds."""
        return [port for service in ("postgres", "mlflow", "dashboard", "s3") for port in self.of(service)]


@dataclass(frozen=True)
class StackLayout:
    """The files of a stack under `root` (normally `<project>/.stack`)."""

    root: Path

    @property
    def state_file(self) -> Path:
        """pids, start times and commands of what `up` started (read by `down` and `status`)."""
        return self.root / "state.json"

    @property
    def settings_file(self) -> Path:
        """The port base chosen at the first `up` (kept so that later `up`s reuse the same addresses)."""
        return self.root / "settings.json"

    @property
    def env_file(self) -> Path:
        """Credentials and addresses, as `export NAME='value'` lines (mode 0600, git-ignored)."""
        return self.root / "stack.env"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pg_dir(self) -> Path:
        return self.root / "postgres"

    @property
    def pg_data(self) -> Path:
        return self.pg_dir / "data"

    @property
    def pg_socket_dir(self) -> Path:
        return self.pg_dir / "run"

    @property
    def s3_dir(self) -> Path:
        return self.root / "seaweedfs"

    @property
    def s3_config(self) -> Path:
        """SeaweedFS identities (the generated access key), mode 0600."""
        return self.root / "s3.json"

    def log(self, service: str) -> Path:
        return self.logs / f"{service}.log"

    def read_port_base(self, requested: int | None) -> int:
        """The port base: the one recorded at the first `up`, else `requested`, else the default. Raises ValueError
        when `requested` differs from the recorded one (the stack's data and clients are bound to its ports)."""
        recorded = json.loads(self.settings_file.read_text())["port_base"] if self.settings_file.is_file() else None
        if recorded is not None and requested is not None and requested != recorded:
            raise ValueError(f"{self.settings_file}: this stack uses port base {recorded}, not {requested} (`reprozoo stack down --purge` to start over)")
        return recorded or requested or DEFAULT_PORT_BASE

    def write_port_base(self, base: int) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.settings_file.write_text(json.dumps({"port_base": base, "ports": asdict(Ports.from_base(base))}, indent=1))
