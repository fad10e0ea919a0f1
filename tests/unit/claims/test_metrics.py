"""Table columns derived from per-sample values, eval report parsing and sample alignment."""

import math

import numpy as np
import pytest

from reprozoo.errors import ReprozooError
from reprozoo.stats.claims import claims_of
from reprozoo.stats.compare import compare
from reprozoo.stats.metrics import Undecidable
from reprozoo.stats.reports import alignment, parse_report

from .builders import DIAMETER, report, report_dict

CATALOGUE = claims_of("pose").metrics
PER_SAMPLE = {
    "npe": np.array([0.01, 0.03, 0.02, 0.5]),
    "rot_rad": np.radians([1.0, 4.0, 1.5, 30.0]),
    "trans_m": np.array([0.01, 0.04, 0.03, 0.2]),
    "add_m": np.array([0.003, 0.009, 0.012, 0.5]),  # diameter 0.2: 2 % = 0.004, 5 % = 0.01
    "proj_px": np.array([1.0, 4.9, 5.0, 80.0]),
    "pnp_ok": np.array([1.0, 1.0, 1.0, 0.0]),
}


@pytest.mark.parametrize(
    ("name", "expected"),
    [("npe", 0.14), ("ad", math.radians(36.5) / 4), ("acc2", 25.0), ("acc5", 75.0), ("add2", 25.0), ("add5", 50.0),
     ("proj2", 25.0), ("proj5", 50.0), ("pnp_failure_rate", 25.0)],
)
def test_columns_from_per_sample_values(name, expected):
    values = CATALOGUE[name].contributions(PER_SAMPLE, {"diameter": DIAMETER})
    assert values.mean() == pytest.approx(expected)


def test_a_relative_threshold_needs_its_fact():
    with pytest.raises(Undecidable, match="dataset fact 'diameter'"):
        CATALOGUE["add5"].contributions(PER_SAMPLE, {})


def test_a_missing_field_is_undecidable():
    with pytest.raises(Undecidable, match="'kpt_err_px' missing"):
        CATALOGUE["kpt_err_px"].contributions(PER_SAMPLE, {})


def test_run_metric_on_log_scale():
    metric = CATALOGUE["images_per_second"]
    assert metric.run_value({"train/images_per_second": math.e}) == pytest.approx(1.0)
    with pytest.raises(Undecidable, match="not logged"):
        metric.run_value({})


def test_alignment_reorders_by_sample_id():
    first = report("hrnet-lh", n=50)
    data = report_dict("hrnet-lh", n=50)
    order = np.random.default_rng(0).permutation(50)
    data["sample_ids"] = [data["sample_ids"][i] for i in order]
    data["per_sample"] = {k: [v[i] for i in order] for k, v in data["per_sample"].items()}
    shuffled = parse_report(data, "<shuffled>")
    index = alignment([first, shuffled])[1]
    assert np.array_equal(shuffled.per_sample["npe"][index], first.per_sample["npe"])


def test_different_test_samples_are_undecidable():
    with pytest.raises(Undecidable, match="different test samples"):
        compare(CATALOGUE["npe"], [report("a", n=50)], [report("b", n=40)], {}, confidence=0.95, resamples=200, seed=0)


def test_a_report_with_ragged_values_is_refused_in_one_line():
    data = report_dict("hrnet-lh", n=10)
    data["per_sample"]["npe"] = data["per_sample"]["npe"][:9]
    with pytest.raises(ReprozooError, match=r"<bad>: per_sample 'npe' does not have one value per sample id \(10\)"):
        parse_report(data, "<bad>")


def test_numbers_in_a_report_are_dataset_facts():
    data = report_dict("hrnet-lh", n=10)
    data["diameter"] = 0.3
    assert parse_report(data, "<r>").facts == {"diameter": 0.3}
