"""`dvc exp run -S profile=smoke` (what `make repro PROFILE=smoke` runs) in a temporary copy of the repository.

The copy keeps the real dvc.yaml and configs but a shorter run list: one scratch run (hrnet-lh) and one run that
fine-tunes it through the differentiable PnP layer (hrnet-lm), on the Tello dataset, then verify. Every stage kind,
the fine-tuning dependency and the claims stage are exercised; the full list's timing is in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
E2E_RUNS = ("pose-hrnet-lh-tello", "pose-hrnet-lm-tello")
pytestmark = pytest.mark.e2e


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def repro(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], subprocess.CompletedProcess]:
    """A copy of the working tree (tracked + untracked, not ignored), committed, after one smoke `dvc exp run`."""
    work = tmp_path_factory.mktemp("e2e") / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for rel in files:
        if (REPO / rel).is_file():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, work / rel)
    bin_dir = str(Path(sys.executable).parent)
    # PYTHONPATH: the stages must run the copy's code, not the editable install's source tree
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(work / "src"), "MLFLOW_DISABLE_TELEMETRY": "true",
           "GIT_AUTHOR_NAME": "e2e", "GIT_AUTHOR_EMAIL": "e2e@localhost", "GIT_COMMITTER_NAME": "e2e", "GIT_COMMITTER_EMAIL": "e2e@localhost"}
    env.pop("REPROZOO_ROOT", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["runs"] = {k: params["runs"][k] for k in E2E_RUNS}
    params["datasets"] = {d: params["datasets"][d] for d in {r["dataset"] for r in params["runs"].values()}}
    params["papers"] = sorted({r["paper"] for r in params["runs"].values()})
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _run(["git", "init", "-q"], work, env)
    _run(["git", "add", "-A"], work, env)
    _run(["git", "commit", "-qm", "snapshot"], work, env)
    first = _run(["dvc", "exp", "run", "-S", "profile=smoke"], work, env)
    return work, env, first


def _versions(work: Path, env: dict[str, str], name: str) -> dict:
    """Every version of registered model `name`: {version: {"tags": ..., "aliases": [...], "run_id": ...}}."""
    code = (
        "import json, mlflow\n"
        "mlflow.set_tracking_uri('sqlite:///mlruns/mlflow.db')\n"
        "c = mlflow.MlflowClient()\n"
        f"vs = [c.get_model_version({name!r}, v.version) for v in c.search_model_versions(\"name = '{name}'\")]\n"  # search omits aliases
        "print(json.dumps({v.version: {'tags': v.tags, 'aliases': list(v.aliases), 'run_id': v.run_id} for v in vs}))\n"
    )
    return json.loads(_run([sys.executable, "-c", code], work, env).stdout.strip().splitlines()[-1])


def test_pipeline_registers_every_run_with_lineage(repro) -> None:
    work, env, _ = repro
    params = yaml.safe_load((work / "params.yaml").read_text())
    assert params["profile"] == "smoke"
    head = _run(["git", "rev-parse", "HEAD"], work, env).stdout.strip()
    lock = yaml.safe_load((work / "dvc.lock").read_text())["stages"]
    newest: dict[str, int] = {}
    for key, run in params["runs"].items():
        record = json.loads((work / "reports" / "registry" / run["paper"] / run["variant"] / f"{run['dataset']}.json").read_text())
        metrics = json.loads((work / "reports" / "metrics" / run["paper"] / run["variant"] / f"{run['dataset']}.json").read_text())
        assert metrics["mean"] and all(math.isfinite(v) for v in metrics["mean"].values()), key
        version = _versions(work, env, record["name"])[str(record["version"])]
        assert run["variant"] in version["aliases"]  # models:/<paper>.<dataset>@<variant>
        tags = version["tags"]
        assert tags["run_id"] == record["run_id"] == version["run_id"]
        processed = next(o["md5"] for o in lock[f"preprocess@{run['dataset']}"]["outs"] if o["path"] == f"data/processed/{run['dataset']}")
        assert tags["dvc.data_hash"] == processed
        assert tags["validation.result"] == "passed" and len(tags["params.hash"]) == 16
        assert tags["paper"] == run["paper"] and tags["variant"] == run["variant"] and tags["profile"] == "smoke"
        assert tags["git.commit"] == head  # dvc exp run works on top of HEAD; the experiment lives under refs/exps
        newest[record["name"]] = max(newest.get(record["name"], 0), record["version"])
    for name, version in newest.items():  # `candidate` sits on each task's newest registration
        with_candidate = [v for v, info in _versions(work, env, name).items() if "candidate" in info["aliases"]]
        assert with_candidate == [str(version)]


def test_verify_decides_the_claims(repro) -> None:
    work, _, _ = repro
    claims = json.loads((work / "reports" / "claims" / "pose.json").read_text())
    summary = json.loads((work / "reports" / "claims" / "pose-summary.json").read_text())
    verdicts = [c["verdict"] for c in claims["claims"]]
    assert verdicts and set(verdicts) <= {"reproduced", "contradicted", "inconclusive"}
    assert sum(v for k, v in summary.items() if k in ("reproduced", "contradicted", "inconclusive")) == len(verdicts)


def test_registered_model_loads_in_a_fresh_process(repro) -> None:
    work, env, _ = repro
    code = (
        "import mlflow, numpy as np, torch\n"
        "mlflow.set_tracking_uri('sqlite:///mlruns/mlflow.db')\n"
        "model = mlflow.pytorch.load_model('models:/pose.toydrone-tello@candidate')\n"
        "out = model(torch.rand(3, 3, 96, 128))\n"
        "print(tuple(out.shape), bool(torch.isfinite(out).all()))\n"
    )
    out = _run([sys.executable, "-c", code], work, env).stdout.strip().splitlines()[-1]
    assert out == "(3, 9, 2) True"


def test_second_repro_does_nothing(repro) -> None:
    work, env, _ = repro
    status = _run(["dvc", "status"], work, env).stdout
    assert "up to date" in status
    second = _run(["dvc", "repro"], work, env).stdout
    assert "Running stage" not in second and "up to date" in second
