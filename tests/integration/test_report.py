"""`report`: one self-contained HTML page with claims, curves, figures, dataset validation and the registry."""

import base64

import pytest

from reprozoo.errors import ReprozooError
from reprozoo.stages.report import report
from reprozoo.stages.verify import verify

PNG = b"\x89PNG\r\n\x1a\n" + b"not-a-real-image"


def test_report_page_is_self_contained_and_logged(tracked, tmp_path):
    with pytest.raises(ReprozooError, match=r"claims/pose\.json: missing \(run `reprozoo verify pose` first\)"):
        report("pose", root=tracked.root)
    runs = {v: tracked.evaluated_run(v, quality=q) for v, q in (("hrnet-lp", 0.6), ("hrnet-lh", 1.0))}
    for step in range(4):
        tracked.client.log_metric(runs["hrnet-lh"], "val/kpt_err_px", 5.0 - step, step=step)
        tracked.client.log_metric(runs["hrnet-lp"], "val/kpt_err_px", 4.0 - step, step=step)
    figure = tmp_path / "test_keypoints.png"
    figure.write_bytes(PNG)
    tracked.client.log_artifact(runs["hrnet-lh"], str(figure), "figures")
    version = tracked.register("pose.toydrone-tello", runs["hrnet-lh"], variant="hrnet-lh")
    verify("pose", root=tracked.root)

    page, run_id = report("pose", root=tracked.root)

    html = page.read_text()
    assert page == tracked.root / "reports" / "pose.html"
    assert 'class="reproduced">reproduced</td><td>8/8 metrics reproduced' in html  # C1-tello in the claims table
    assert html.count("data:image/png;base64,") == 2  # one curves figure (toydrone-tello), one run figure
    assert base64.b64encode(PNG).decode() in html
    assert "128 / 24 / 300" in html and "passed:\n17 expectations, 0 failed" in html
    assert f"@candidate → version {version}" in html
    assert "src=\"http" not in html and "<script" not in html  # nothing fetched from elsewhere
    assert [a.path for a in tracked.client.list_artifacts(run_id, "report")] == ["report/pose.html"]
    again, same_run = report("pose", root=tracked.root)
    assert same_run == run_id  # one report run per paper, reused
