"""Lineage of a run: the code commit, the processed data's hash in dvc.lock, the config's hash, validation result."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from reprozoo.config import params_hash


def git_commit(root: Path) -> tuple[str, bool]:
    """(HEAD commit or "unknown", whether the work tree has uncommitted changes to tracked files)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return commit, dirty


def dvc_locked_hash(root: Path, output: Path) -> str | None:
    """The md5 that `dvc.lock` records for the stage output `output` (relative to root), if any."""
    lock = root / "dvc.lock"
    if not lock.is_file():
        return None
    rel = output.relative_to(root).as_posix() if output.is_absolute() else output.as_posix()
    return locked_out_hash(lock.read_text(), rel)


def locked_out_hash(lock_text: str, rel: str) -> str | None:
    """The md5 that a dvc.lock's text records for the stage output at `rel` (a posix path from the repo root), if any."""
    stages = (yaml.safe_load(lock_text) or {}).get("stages", {})
    for stage in stages.values():
        for out in stage.get("outs", []):
            if out.get("path", "").rstrip("/") == rel.rstrip("/"):
                return out.get("md5")
    return None


def lineage_tags(cfg, root: Path, processed_dir: Path) -> dict[str, str]:
    """Tags that identify where a run came from (see DESIGN.md, tracking conventions)."""
    commit, dirty = git_commit(root)
    info = json.loads((processed_dir / "dataset.json").read_text())
    return {
        "paper": str(cfg.paper),
        "variant": str(cfg.variant.name),
        "dataset": str(cfg.dataset.name),
        "profile": str(cfg.profile.name),
        "seed": str(cfg.seed),
        "git.commit": commit,
        "git.dirty": str(dirty).lower(),
        "dvc.data_hash": dvc_locked_hash(root, processed_dir) or "unlocked",
        "data.manifest_sha256": info["manifest_sha256"],
        "params.hash": params_hash(cfg),
        "validation.result": "passed" if info["validation"]["success"] else "failed",
    }
