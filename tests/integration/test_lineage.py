"""`lineage`: from a registered version back to commit and data, and `--checkout` restoring both, in a real git + DVC
repository (the tracked fixture's root, made one) with a real sqlite MLflow store."""

import subprocess
import sys

import pytest

from reprozoo.cli import main
from reprozoo.errors import ReprozooError
from reprozoo.tracking.lineage import locked_out_hash
from reprozoo.tracking.lineage_walk import checkout, describe, walk

DATA = "data/processed/tiny"
MAKE_DATA = f"""import pathlib
out = pathlib.Path("{DATA}")
out.mkdir(parents=True, exist_ok=True)
(out / "values.txt").write_text(pathlib.Path("version.txt").read_text())
"""
CONFIG = "paper: pose\ndataset:\n  name: tiny\npaths:\n  raw: data/raw\n  processed: data/processed\n"


def _run(*command, cwd):
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True)


def _commit_data(repo, content: str) -> str:
    """Write `content` through the DVC stage, commit, and return the commit."""
    (repo / "version.txt").write_text(content)
    _run(sys.executable, "-m", "dvc", "repro", "-q", cwd=repo)
    _run("git", "add", "-A", cwd=repo)
    _run("git", "commit", "-q", "-m", content, cwd=repo)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tracked, monkeypatch):
    for key, value in {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
                       "GIT_COMMITTER_EMAIL": "t@example.com", "DVC_NO_ANALYTICS": "1"}.items():
        monkeypatch.setenv(key, value)
    root = tracked.root
    (root / ".gitignore").write_text("/mlruns/\n")
    (root / "make_data.py").write_text(MAKE_DATA)
    (root / "dvc.yaml").write_text(f"stages:\n  tiny:\n    cmd: {sys.executable} make_data.py\n    deps: [make_data.py, version.txt]\n    outs: [{DATA}]\n")
    _run("git", "init", "-q", cwd=root)
    _run(sys.executable, "-m", "dvc", "init", "-q", cwd=root)
    (root / ".dvc" / "config").write_text("[core]\n    analytics = false\n    check_update = false\n")
    return root


def test_lineage_walks_back_and_checks_out_the_same_data(tracked, repo, tmp_path, capsys, monkeypatch):
    commit = _commit_data(repo, "first data\n")
    data_hash = locked_out_hash((repo / "dvc.lock").read_text(), DATA)
    tags = {"git.commit": commit, "git.dirty": "false", "dvc.data_hash": data_hash, "dataset": "tiny", "variant": "hrnet-lh",
            "seed": "0", "params.hash": "0123456789abcdef", "validation.result": "passed", "optuna.study": "beta", "optuna.trial": "7"}
    run_id = tracked.client.create_run(tracked.experiment_id, run_name="hrnet-lh/seed0", tags=tags).info.run_id
    tracked.client.log_text(run_id, CONFIG, "config.yaml")
    version = tracked.register("pose.tiny", run_id, variant="hrnet-lh", dataset="tiny")
    tracked.client.set_registered_model_alias("pose.tiny", "champion", version)
    _commit_data(repo, "second data\n")  # the workspace moves on

    lineage = walk("models:/pose.tiny@champion", root=repo)
    assert (lineage.version, lineage.aliases, lineage.run_id, lineage.commit) == (version, ("candidate", "champion"), run_id, commit)
    assert lineage.processed.path == DATA and lineage.processed.locked == data_hash
    text = describe(lineage)
    assert f"git         commit {commit}" in text and f"{DATA}: md5 {data_hash} in dvc.lock at the commit" in text and "— same" in text
    assert "sweep       study beta, trial 7" in text and "validation  passed" in text and "\n      name: tiny\n" in text

    monkeypatch.chdir(repo)
    worktree = tmp_path / "restored"
    assert main(["lineage", "models:/pose.tiny/1", "--checkout", str(worktree)]) == 0
    assert (worktree / DATA / "values.txt").read_text() == "first data\n"
    assert (worktree / "version.txt").read_text() == "first data\n"
    assert (repo / DATA / "values.txt").read_text() == "second data\n"  # the workspace is untouched
    assert capsys.readouterr().out.rstrip().endswith(f"checked out commit {commit[:12]} in {worktree} with {DATA}")

    with pytest.raises(ReprozooError, match="exists and is not empty"):
        checkout(lineage, worktree, root=repo)
    with pytest.raises(ReprozooError, match=r"'models:/pose\.tiny@nope': no such model version"):
        walk("models:/pose.tiny@nope", root=repo)
    with pytest.raises(ReprozooError, match="expected models:/<name>@<alias> or models:/<name>/<version>"):
        walk("runs:/abc/model", root=repo)
