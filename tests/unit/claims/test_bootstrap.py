"""The intervals: the paired bootstrap against scipy and a closed form, its seed resampling, and Welch's interval."""

import numpy as np
import pytest
from scipy import stats

from reprozoo.stats.bootstrap import paired_bootstrap, welch


@pytest.fixture
def paired():
    """Per-sample values of two variants on the same 400 samples (B is A plus a shift and noise)."""
    rng = np.random.default_rng(7)
    a = rng.gamma(2.0, 1.0, 400)
    return a, a + 0.3 + rng.normal(0.0, 0.5, 400)


def test_one_seed_matches_scipy_bootstrap(paired):
    a, b = paired
    ours = paired_bootstrap(a[None], b[None], confidence=0.95, resamples=4000, seed=1)
    ref = stats.bootstrap((a, b), lambda x, y, axis=-1: (x - y).mean(axis=axis), paired=True, vectorized=True,
                          n_resamples=4000, method="percentile", confidence_level=0.95, rng=np.random.default_rng(2)).confidence_interval
    half = (ref.high - ref.low) / 2
    assert ours.estimate == pytest.approx((a - b).mean())
    assert ours.low == pytest.approx(ref.low, abs=0.08 * half)
    assert ours.high == pytest.approx(ref.high, abs=0.08 * half)


def test_one_seed_matches_the_normal_closed_form(paired):
    a, b = paired
    d = a - b
    half = stats.norm.ppf(0.975) * d.std(ddof=1) / np.sqrt(len(d))
    ours = paired_bootstrap(a, b, resamples=4000, seed=3)
    assert ours.high - ours.low == pytest.approx(2 * half, rel=0.08)
    assert (ours.low + ours.high) / 2 == pytest.approx(d.mean(), abs=0.1 * half)


def test_is_deterministic_and_pairs_the_samples(paired):
    a, b = paired
    first, again = paired_bootstrap(a, b, seed=5), paired_bootstrap(a, b, seed=5)
    assert (first.low, first.high) == (again.low, again.high)
    unpaired = stats.bootstrap((a, b), lambda x, y, axis=-1: x.mean(axis=axis) - y.mean(axis=axis), paired=False,
                               vectorized=True, n_resamples=2000, method="percentile", rng=np.random.default_rng(0)).confidence_interval
    assert first.high - first.low < 0.5 * (unpaired.high - unpaired.low)  # pairing removes the shared per-sample spread


def test_seed_resampling_widens_the_interval_when_seeds_disagree(paired):
    a, b = paired
    seeds_a = np.stack([a - 0.4, a, a + 0.4])  # three seeds of A that differ by a constant
    one = paired_bootstrap(a, b, seed=0)
    three = paired_bootstrap(seeds_a, b, seed=0)
    assert three.estimate == pytest.approx(one.estimate)
    assert three.high - three.low > 2 * (one.high - one.low)


def test_rejects_misaligned_inputs():
    with pytest.raises(ValueError, match="same non-zero number of samples"):
        paired_bootstrap(np.zeros((1, 3)), np.zeros((1, 4)))


def test_welch_matches_the_textbook_formula():
    a, b = np.array([10.0, 11.0, 12.5]), np.array([8.0, 8.5])
    va, vb = a.var(ddof=1) / 3, b.var(ddof=1) / 2
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 1)
    half = stats.t.ppf(0.975, df) * np.sqrt(va + vb)
    ours = welch(a, b, confidence=0.95)
    assert ours.estimate == pytest.approx(a.mean() - b.mean())
    assert (ours.low, ours.high) == pytest.approx((ours.estimate - half, ours.estimate + half))
    assert 0 < ours.p_value < 0.05


def test_welch_needs_two_seeds_a_side_and_some_variance():
    assert welch(np.array([1.0]), np.array([1.0, 2.0])) is None
    assert welch(np.array([1.0, 1.0]), np.array([2.0, 2.0])) is None
