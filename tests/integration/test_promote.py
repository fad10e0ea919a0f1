"""`promote` against a real registry: first promotion, refusal, acceptance, and a forced promotion's audit tags."""

import pytest

from reprozoo.cli import main
from reprozoo.errors import ReprozooError
from reprozoo.tracking.promote import promote

NAME = "pose.toydrone-tello"


def _champion(tracked) -> str:
    return str(tracked.client.get_model_version_by_alias(NAME, "champion").version)


def _tags(tracked, version: str) -> dict:
    return tracked.client.get_model_version(NAME, version).tags


def test_promotion_is_gated_by_a_paired_bootstrap(tracked, monkeypatch, capsys):
    first = tracked.register(NAME, tracked.evaluated_run("hrnet-lh", seed=0), variant="hrnet-lh", seed=0)
    decision = promote(NAME, root=tracked.root)
    assert (decision.decision, _champion(tracked)) == ("promoted", first)
    assert _tags(tracked, first)["promotion.compared_to"] == "none (first champion)"
    assert "first candidate promoted without comparison" in _tags(tracked, first)["promotion.reason"]

    # As good as the champion (another seed of the same recipe): the interval straddles 0, so it is refused.
    same = tracked.register(NAME, tracked.evaluated_run("hrnet-lh", seed=1), variant="hrnet-lh", seed=1)
    monkeypatch.chdir(tracked.root)
    assert main(["promote", NAME]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"reprozoo: error: {NAME} version {same} not promoted to @champion: add5 ") and "≤ min_delta 0" in err
    assert "\n" not in err and _champion(tracked) == first
    refused = _tags(tracked, same)
    assert refused["promotion.decision"] == "refused" and refused["promotion.compared_to"] == first
    assert float(refused["promotion.ci_low"]) < 0 < float(refused["promotion.ci_high"])

    # Clearly better, with its eval report only on local disk (no eval/ artifact): promoted.
    better = tracked.register(NAME, tracked.evaluated_run("hrnet-lp", quality=0.6, log_artifact=False), variant="hrnet-lp")
    decision = promote(NAME, root=tracked.root)
    assert (decision.decision, _champion(tracked)) == ("promoted", better)
    accepted = _tags(tracked, better)
    assert float(accepted["promotion.improvement_low"]) > 0 and accepted["promotion.n_samples"] == "300"
    assert accepted["promotion.metric"] == "add5" and accepted["promotion.gate"] == "promoted"

    # A stricter gate from the command line refuses the same kind of gain.
    stricter = tracked.register(NAME, tracked.evaluated_run("hrnet-lp", seed=3, quality=0.6 * 0.9), variant="hrnet-lp", seed=3)
    with pytest.raises(ReprozooError, match=r"lower bound .* ≤ min_delta 30"):
        promote(NAME, min_delta=30.0, root=tracked.root)
    assert _champion(tracked) == better

    # --force needs a reason; with one, the override and who made it are recorded.
    with pytest.raises(ReprozooError, match="--force needs --reason"):
        promote(NAME, force=True, root=tracked.root)
    decision = promote(NAME, min_delta=30.0, force=True, reason="demo needs the  newest weights", root=tracked.root)
    assert (decision.decision, _champion(tracked)) == ("forced", stricter)
    forced = _tags(tracked, stricter)
    assert forced["promotion.decision"] == "forced" and forced["promotion.gate"] == "refused"
    assert forced["promotion.forced_reason"] == "demo needs the newest weights" and forced["promotion.by"]
    assert promote(NAME, root=tracked.root).decision == "unchanged"


def test_a_candidate_whose_data_failed_validation_is_refused(tracked):
    version = tracked.register(NAME, tracked.evaluated_run("hrnet-lh"), variant="hrnet-lh", validation="failed")
    with pytest.raises(ReprozooError, match="data validation result is 'failed'"):
        promote(NAME, root=tracked.root)
    assert _tags(tracked, version)["promotion.decision"] == "refused"


def test_unknown_model_and_metric_are_one_line_errors(tracked):
    with pytest.raises(ReprozooError, match="registered model 'pose.nope': not found"):
        promote("pose.nope", root=tracked.root)
    tracked.register(NAME, tracked.evaluated_run("hrnet-lh"), variant="hrnet-lh")
    with pytest.raises(ReprozooError, match="metric 'images_per_second': not a per-sample metric of paper 'pose'"):
        promote(NAME, metric="images_per_second", root=tracked.root)
