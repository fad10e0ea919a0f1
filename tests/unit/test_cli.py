"""The CLI: light imports for --help, one-line errors for mistakes, credentials redacted."""

from __future__ import annotations

import subprocess
import sys

from reprozoo.cli import main
from reprozoo.tracking.store import redact

HEAVY = ("torch", "lightning", "mlflow", "great_expectations", "ot", "torchmetrics", "pandas", "hydra", "cv2")


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from reprozoo.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: main(['--help'])\n"
        "    except SystemExit: pass\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_unknown_variant_is_one_line(capsys, project, monkeypatch) -> None:
    monkeypatch.setenv("REPROZOO_ROOT", str(project))
    assert main(["train", "pose/missing", "--dataset", "toydrone-tello"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("reprozoo: error: variant 'pose/missing'")


def test_download_dataset_without_url_is_refused(capsys, project, monkeypatch) -> None:
    monkeypatch.setenv("REPROZOO_ROOT", str(project))
    monkeypatch.delenv("REPROZOO_UAVA_URL", raising=False)
    assert main(["fetch", "uava-tello"]) == 2
    assert "dataset.url and dataset.sha256 must be set" in capsys.readouterr().err
    assert not (project / "data" / "raw" / "uava-tello").exists()


def test_redact_removes_credentials() -> None:
    assert redact("postgresql+psycopg2://mlflow:s3cret@127.0.0.1:5432/db") == "postgresql+psycopg2://***@127.0.0.1:5432/db"
    assert redact("sqlite:///mlruns/mlflow.db") == "sqlite:///mlruns/mlflow.db"
