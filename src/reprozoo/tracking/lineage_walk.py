"""lineage: walk a registered model version back to what made it, and optionally restore that code and data.

    models:/<name>@<alias> (or /<version>) → model version → MLflow run → the run's composed config (config.yaml
    artifact) → git commit → the hashes dvc.lock records at that commit for the run's raw and processed data (beside
    the run's `dvc.data_hash` tag) → data validation result → sweep study/trial when the run came from a sweep.

`checkout` makes a git worktree of the commit and runs `dvc checkout` of that data there against the project's DVC
cache, so nothing is downloaded or copied twice.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from reprozoo.config import compose, project_root
from reprozoo.errors import ReprozooError
from reprozoo.tracking.lineage import locked_out_hash

MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))$")
SWEEP_TAGS = ("optuna.study", "optuna.trial")


@dataclass(frozen=True)
class DataLineage:
    """One dataset folder of the run and the md5 that the commit's dvc.lock records for it (None: not recorded)."""

    path: str
    locked: str | None


@dataclass(frozen=True)
class Lineage:
    """Everything between a model version and the code and data it was trained from."""

    name: str
    version: str
    aliases: tuple[str, ...]
    run_id: str
    run_name: str
    experiment: str
    tags: Mapping[str, str]
    config: str | None
    commit: str
    data: tuple[DataLineage, ...]

    @property
    def processed(self) -> DataLineage:
        return self.data[-1]


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def _checked(command: list[str], cwd: Path, what: str) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or f"exit status {done.returncode}").splitlines()[-1]
        raise ReprozooError(f"{what}: {last}")
    return done.stdout.strip()


def resolve(client, uri: str):
    """The model version a `models:/<name>@<alias>` or `models:/<name>/<version>` URI names."""
    from mlflow.exceptions import MlflowException

    match = MODEL_URI.match(uri)
    if not match:
        raise ReprozooError(f"'{uri}': expected models:/<name>@<alias> or models:/<name>/<version>")
    name = match["name"]
    try:
        if match["alias"]:
            return client.get_model_version_by_alias(name, match["alias"])
        return client.get_model_version(name, match["version"])
    except MlflowException as exc:
        raise ReprozooError(f"'{uri}': no such model version ({' '.join(str(exc).split())[:160]})") from exc


def _data_paths(config: str | None, tags: Mapping[str, str]) -> list[str]:
    """The run's raw and processed dataset folders, from its composed config (the project defaults otherwise)."""
    cfg = yaml.safe_load(config) if config else {}
    paths, dataset = cfg.get("paths", {}), cfg.get("dataset", {}).get("name", tags.get("dataset"))
    return [f"{paths.get('raw', 'data/raw')}/{dataset}", f"{paths.get('processed', 'data/processed')}/{dataset}"]


def walk(uri: str, *, root: Path | None = None) -> Lineage:
    """Follow `uri` back to its run, config, commit and data hashes."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from reprozoo.tracking import store

    root = root or project_root()
    store.connect(compose(root=root), root)
    client = MlflowClient()
    version = resolve(client, uri)
    run_id = version.run_id or version.tags.get("run_id")
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise ReprozooError(f"{uri}: run {run_id} is not in the tracking store") from exc
    tags = {**version.tags, **run.data.tags}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            config = Path(client.download_artifacts(run_id, "config.yaml", tmp)).read_text()
        except (MlflowException, OSError):
            config = None
    commit = tags.get("git.commit", "unknown")
    lock = _git(["show", f"{commit}:dvc.lock"], root)
    lock_text = lock.stdout if lock.returncode == 0 else ""
    data = tuple(DataLineage(path, locked_out_hash(lock_text, path) if lock_text else None) for path in _data_paths(config, tags))
    aliases = tuple(sorted(a for a, v in client.get_registered_model(version.name).aliases.items() if str(v) == str(version.version)))
    experiment = client.get_experiment(run.info.experiment_id).name
    return Lineage(version.name, str(version.version), aliases, run_id, run.info.run_name or "", experiment, tags, config, commit, data)


def describe(lineage: Lineage) -> str:
    """The lineage as the `reprozoo lineage` command prints it."""
    t = lineage.tags
    aliases = " ".join(f"@{a}" for a in lineage.aliases) or "no alias"
    run_tags = " · ".join(f"{k} {t[k]}" for k in ("paper", "variant", "dataset", "seed", "profile") if k in t)
    dirty = " — trained from uncommitted changes: the commit is not the exact code" if t.get("git.dirty") == "true" else ""
    tagged = t.get("dvc.data_hash", "none")
    lines = [
        f"model       {lineage.name} version {lineage.version} ({aliases})",
        f"run         {lineage.run_id} ({lineage.run_name}, experiment {lineage.experiment}): {run_tags}",
        f"params      hash {t.get('params.hash', 'unknown')}",
        f"git         commit {lineage.commit}{dirty}",
    ]
    for data in lineage.data:
        locked = f"md5 {data.locked} in dvc.lock at the commit" if data.locked else "not recorded in dvc.lock at the commit"
        if data is lineage.processed:
            locked += f"; at train time (run tag dvc.data_hash) {tagged}" + (" — same" if tagged == data.locked else " — differs")
        lines.append(f"data        {data.path}: {locked}")
    lines += [
        f"            manifest sha256 {t.get('data.manifest_sha256', 'unknown')}",
        f"validation  {t.get('validation.result', 'unknown')}",
    ]
    if any(k in t for k in SWEEP_TAGS):
        lines.append(f"sweep       study {t.get('optuna.study', '?')}, trial {t.get('optuna.trial', '?')}")
    config = lineage.config or "(no config.yaml artifact)\n"
    lines.append("config      the run's config.yaml:")
    lines += [f"    {line}" for line in config.rstrip("\n").splitlines()]
    return "\n".join(lines) + "\n"


def checkout(lineage: Lineage, dest: Path, *, root: Path | None = None) -> list[str]:
    """Restore the lineage's commit into a new git worktree `dest` and `dvc checkout` its data there.

    Returns the data paths restored (those the commit's dvc.lock records).
    """
    root, dest = root or project_root(), dest.resolve()
    if _git(["cat-file", "-e", f"{lineage.commit}^{{commit}}"], root).returncode != 0:
        raise ReprozooError(f"commit '{lineage.commit}' of run {lineage.run_id} is not in the repository at {root}")
    if dest.exists() and any(dest.iterdir()):
        raise ReprozooError(f"{dest}: exists and is not empty")
    targets = [d.path for d in lineage.data if d.locked]
    if not targets:
        raise ReprozooError(f"commit {lineage.commit[:12]}: its dvc.lock records none of {', '.join(d.path for d in lineage.data)}")
    _checked(["git", "worktree", "add", "--detach", str(dest), lineage.commit], root, "git worktree add")
    dvc = [sys.executable, "-m", "dvc"]
    cache = _checked([*dvc, "cache", "dir"], root, "dvc cache dir")
    _checked([*dvc, "cache", "dir", "--local", cache], dest, "dvc cache dir --local")
    _checked([*dvc, "checkout", *targets], dest, f"code restored in {dest}, but dvc checkout failed")
    return targets
