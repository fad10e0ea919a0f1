"""`verify` on a project with real MLflow runs and constructed eval reports: the three reports and the run tags."""

import json

from reprozoo.cli import main
from reprozoo.stages.verify import verify


def test_verify_writes_reports_and_tags_runs(tracked, monkeypatch, capsys):
    lp = tracked.evaluated_run("hrnet-lp", quality=0.6)
    lh = tracked.evaluated_run("hrnet-lh", quality=1.0)
    worse = tracked.evaluated_run("higherhrnet-lh", quality=1.6)

    result = verify("pose", root=tracked.root)

    claims = {c["id"]: c for c in result["claims"]}
    assert claims["C1-tello"]["verdict"] == "reproduced"
    assert claims["C3"]["verdict"] == "contradicted"  # HigherHRNet made clearly worse here
    assert claims["C2-tello"]["verdict"] == "inconclusive"
    assert claims["C2-tello"]["reason"] == "missing runs: hrnet-lm on toydrone-tello"
    add5 = next(m for m in claims["C1-tello"]["metrics"] if m["metric"] == "add5")
    assert add5["paper"] == {"a": 50.53, "b": 43.31, "delta": add5["paper"]["delta"], "verdict": "reproduced"}
    assert add5["ours"]["ci"][0] > 1.0 and add5["ours"]["n_samples"] == 300

    out = tracked.root / "reports" / "claims"
    summary = json.loads((out / "pose-summary.json").read_text())
    assert summary["reproduced"] == 1 and summary["contradicted"] == 1 and summary["total"] == 12
    assert summary["claims"]["C1-tello"] == 1 and summary["claims"]["C3"] == -1 and summary["claims"]["C4-m2ed"] == 0
    markdown = (out / "pose.md").read_text()
    assert "## C1-tello: reproduced" in markdown and "| ADD5 | higher | 50.53 | 43.31 | +7.22 |" in markdown

    tags = {run: tracked.client.get_run(run).data.tags for run in (lp, lh, worse)}
    assert tags[lp]["claim.C1-tello"] == "reproduced" and tags[lh]["claim.C3"] == "contradicted"
    assert tags[lh]["claim.C2-tello"] == "inconclusive"  # involved, though its partner is missing
    assert "claim.C1-tello" not in tags[worse]

    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.chdir(tracked.root)
    assert main(["verify", "pose"]) == 0  # the CLI, as dvc runs it: the same files again (dvc repro stays idempotent)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert capsys.readouterr().out.startswith("pose: 1 reproduced, 1 contradicted, 10 inconclusive")
