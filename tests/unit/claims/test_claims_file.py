"""The claims-file format: the pose paper's file loads; broken files give one line naming file, claim and field."""

from pathlib import Path

import pytest
import yaml

from reprozoo.errors import ReprozooError
from reprozoo.papers import get_paper
from reprozoo.stats.claims import claims_of, load_claims

POSE = Path(get_paper("pose").claims_file)


def test_pose_claims_cover_the_papers_claims():
    claims = claims_of("pose")
    assert [c.id for c in claims.claims] == [
        "C1-tello", "C1-m2ed", "C2-tello", "C2-m2ed", "C3", "C3b", "C4-tello", "C4-m2ed", "C5-tello", "C5-m2ed", "C6-tello", "C6-m2ed",
    ]
    c3b = next(c for c in claims.claims if c.id == "C3b")
    assert (c3b.a, c3b.b, c3b.dataset, c3b.direction, c3b.require) == ("higherhrnet-lh", "hrnet-lh", "toydrone-m2ed", "not_better", 8)
    assert c3b.published.b["add5"] == 91.37 and c3b.min_effect["add5"] == 1.0
    c6 = claims.claims[-1]
    assert c6.metrics == ("images_per_second",) and c6.min_effect == {"images_per_second": 2.0}


def _broken(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(POSE.read_text())
    edit(data)
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _claim(data, claim_id):
    return next(c for c in data["claims"] if c["id"] == claim_id)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: _claim(d, "C2-m2ed")["compare"].update(direction="bettr"), r"claim C2-m2ed: field compare\.direction: 'bettr' is not one of"),
        (lambda d: _claim(d, "C3")["compare"].pop("metrics"), r"claim C3: field compare\.metrics: missing"),
        (lambda d: _claim(d, "C3")["published"]["a"]["values"].pop("ad"), r"claim C3: field published\.a\.values: missing: ad"),
        (lambda d: _claim(d, "C1-tello")["compare"]["metrics"].append("add7"), r"claim C1-tello: field compare\.metrics: unknown metric 'add7'"),
        (lambda d: _claim(d, "C4-m2ed")["decision"].update(require=9), r"claim C4-m2ed: field decision\.require: 9 exceeds the 8"),
        (lambda d: _claim(d, "C5-tello")["compare"].update(split="val"), r"claim C5-tello: field compare\.split: 'val' is not one of"),
        (lambda d: _claim(d, "C6-m2ed").update(decision={}), r"claim C6-m2ed: field decision\.min_effect\.images_per_second: missing"),
        (lambda d: _claim(d, "C1-m2ed").update(id="C1-tello"), r"claim C1-tello: field id: duplicate"),
        (lambda d: d["claims"][1].pop("id"), r"claim #2: field id: missing"),
        (lambda d: d["metrics"]["npe"].update(run_metric="x"), r"field metrics\.npe: needs exactly one of mean, percent_below, run_metric"),
        (lambda d: d["decision"].update(confidence=1.5), r": field decision\.confidence: 1\.5 is greater than or equal to"),
    ],
)
def test_errors_name_file_claim_and_field(tmp_path, edit, message):
    path = _broken(tmp_path, edit)
    with pytest.raises(ReprozooError, match=message) as caught:
        load_claims(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


def test_invalid_yaml_is_one_line(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text("claims: [\n  - id: C1\n")
    with pytest.raises(ReprozooError, match=r"claims\.yaml: invalid YAML") as caught:
        load_claims(path)
    assert "\n" not in str(caught.value)


def test_a_file_of_another_paper_is_refused():
    with pytest.raises(ReprozooError, match=r"field paper: 'pose' but the file belongs to paper 'topogan'"):
        load_claims(POSE, "topogan")
