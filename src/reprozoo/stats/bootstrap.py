"""Confidence intervals for the difference between two variants.

`paired_bootstrap`: the variants were scored on the same test samples (aligned by sample id), possibly with several
seeds each. One replicate draws the test samples with replacement (the same draw for both variants: paired) and, for
each variant independently, its seeds with replacement; the statistic is mean(A) − mean(B) over the drawn seeds and
samples. With one seed per variant this is the ordinary paired bootstrap of the mean per-sample difference.
Percentile interval.

`welch`: Welch's t interval on the per-seed values (seed means), for ≥ 2 seeds per variant: it measures the
seed-to-seed variation that a bootstrap over a handful of seeds underestimates.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

_CHUNK = 128  # replicates per vectorised block (memory: 3 × chunk × n_samples floats)


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval; `p_value` only for Welch."""

    estimate: float
    low: float
    high: float
    confidence: float
    method: str
    p_value: float | None = None

    def scaled(self, factor: float) -> Interval:
        """The interval of `factor` × the statistic (a negative factor swaps the bounds)."""
        low, high = sorted((self.low * factor, self.high * factor))
        return Interval(self.estimate * factor, low, high, self.confidence, self.method, self.p_value)


def _seed_weights(rng: np.random.Generator, n_seeds: int, size: int) -> np.ndarray:
    """[size, n_seeds] weights of a with-replacement draw of seeds (each row sums to 1)."""
    if n_seeds == 1:
        return np.ones((size, 1))
    return rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=size) / n_seeds


def paired_bootstrap(a: np.ndarray, b: np.ndarray, *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> Interval:
    """Interval of mean(a) − mean(b) for per-sample values a [seeds_a, n] and b [seeds_b, n] (columns aligned).

    Deterministic for a given `seed`.
    """
    a, b = np.atleast_2d(np.asarray(a, dtype=float)), np.atleast_2d(np.asarray(b, dtype=float))
    n = a.shape[1]
    if b.shape[1] != n or n == 0:
        raise ValueError(f"paired bootstrap needs the same non-zero number of samples (got {n} and {b.shape[1]})")
    rng = np.random.default_rng(seed)
    stats = np.empty(resamples)
    for start in range(0, resamples, _CHUNK):
        size = min(_CHUNK, resamples - start)
        diff = _seed_weights(rng, a.shape[0], size) @ a - _seed_weights(rng, b.shape[0], size) @ b  # [size, n]
        picks = rng.integers(0, n, size=(size, n))
        stats[start : start + size] = np.take_along_axis(diff, picks, axis=1).mean(axis=1)
    alpha = 1.0 - confidence
    low, high = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    method = f"paired bootstrap ({n} samples × {a.shape[0]}/{b.shape[0]} seeds, {resamples} resamples)"
    return Interval(float(a.mean() - b.mean()), float(low), float(high), confidence, method)


def welch(a: np.ndarray, b: np.ndarray, *, confidence: float = 0.95) -> Interval | None:
    """Welch's interval of mean(a) − mean(b) over per-seed values; None with < 2 seeds a side or no variance at all."""
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2 or (a.var() == 0 and b.var() == 0):
        return None
    with warnings.catch_warnings():  # near-identical seeds: scipy warns of precision loss; the interval is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(a, b, equal_var=False)
    ci = result.confidence_interval(confidence)
    method = f"Welch t over seed means ({len(a)}/{len(b)} seeds, df {result.df:.1f})"
    return Interval(float(a.mean() - b.mean()), float(ci.low), float(ci.high), confidence, method, float(result.pvalue))
