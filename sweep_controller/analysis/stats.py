"""Small statistics for sweep reports: intervals across replicates and first-order sensitivity.

A sweep point is run a few times with different seeds, so every plotted value is an estimate:
means get a Student-t interval, proportions (pass rate) a Wilson score interval, which stays
inside [0, 1] and is sensible at 0 or n successes. A t-interval of a few replicates can reach
past what the quantity can be (a share below 0 or above 1, a count below 0): :func:`mean_ci`
clips it to the quantity's range on both sides when given one, the one place intervals are
clipped. Sensitivity of an outcome to a parameter is
the first-order index ``Var(E[Y | X]) / Var(Y)``, estimated as a correlation ratio over groups of
runs that share the parameter's value (grids) or fall in the same quantile bin (sampled designs),
with the usual small-sample correction (epsilon squared), plus Spearman's rank correlation;
:func:`stratified_bootstrap` gives either an interval by resampling runs within their groups.
Pure functions of arrays; randomness comes in as a generator; no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Estimate",
    "first_order_index",
    "group_indices",
    "mean_ci",
    "quantile_bins",
    "spearman",
    "stratified_bootstrap",
    "wilson_ci",
]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval (NaN bounds when it cannot be computed) and n."""

    value: float
    low: float
    high: float
    n: int


def mean_ci(
    values: np.ndarray,
    confidence: float = 0.95,
    *,
    bounds: tuple[float, float] = (-math.inf, math.inf),
) -> Estimate:
    """Mean and Student-t interval of ``values`` (NaNs dropped); no interval below n = 2.

    The interval is clipped to ``bounds``, the range the mean can take, on both sides (and
    never excludes the mean itself).
    """
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n < 2:
        return Estimate(mean, math.nan, math.nan, n)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * float(x.std(ddof=1)) / math.sqrt(n)
    low, high = bounds
    return Estimate(mean, min(mean, max(low, mean - half)), max(mean, min(high, mean + half)), n)


def wilson_ci(successes: int, n: int, confidence: float = 0.95) -> Estimate:
    """Proportion ``successes / n`` with its Wilson score interval."""
    from scipy import stats

    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # at p = 0 or 1 the bound is p itself; rounding must not put it on the wrong side of p
    low, high = min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))
    return Estimate(p, low, high, n)


def group_indices(keys: np.ndarray) -> list[tuple[object, np.ndarray]]:
    """Distinct values of ``keys`` in sorted order, each with the positions holding it."""
    keys = np.asarray(keys)
    uniques, inverse = np.unique(keys, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(uniques) + 1))
    return [(uniques[i].item(), order[bounds[i] : bounds[i + 1]]) for i in range(len(uniques))]


def quantile_bins(x: np.ndarray, bins: int) -> np.ndarray:
    """Bin number (0 .. bins-1) of each value of ``x``, by its rank (equal-count bins)."""
    x = np.asarray(x, dtype=np.float64)
    ranks = np.argsort(np.argsort(x, kind="stable"), kind="stable")
    return np.minimum(ranks * bins // max(len(x), 1), bins - 1)


def first_order_index(groups: np.ndarray, y: np.ndarray) -> float:
    """Share of ``y``'s variance explained by the group means (epsilon squared, clipped to [0, 1]).

    ``groups`` labels each run (a parameter value or a bin). NaN when ``y`` does not vary or
    there are not more runs than groups.
    """
    y = np.asarray(y, dtype=np.float64)
    keep = ~np.isnan(y)
    y, groups = y[keep], np.asarray(groups)[keep]
    n = len(y)
    parts = group_indices(groups)
    k = len(parts)
    total = float(((y - y.mean()) ** 2).sum())
    if n <= k or k < 2 or total <= 0:
        return math.nan
    between = sum(len(idx) * (float(y[idx].mean()) - float(y.mean())) ** 2 for _, idx in parts)
    within = total - between
    corrected = (between - (k - 1) * within / (n - k)) / total
    return min(1.0, max(0.0, corrected))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (NaN when either side is constant)."""
    from scipy import stats

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    keep = ~(np.isnan(x) | np.isnan(y))
    if keep.sum() < 3 or np.ptp(x[keep]) == 0 or np.ptp(y[keep]) == 0:
        return math.nan
    return float(stats.spearmanr(x[keep], y[keep]).statistic)


def stratified_bootstrap(
    statistic: Callable[[np.ndarray], float],
    strata: np.ndarray,
    rng: np.random.Generator,
    *,
    resamples: int = 200,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of ``statistic`` over resamples of the runs within each stratum.

    ``statistic`` takes the positions of a resample (with repeats) and returns a number;
    ``strata`` labels each run. Each resample draws, within every stratum, as many runs as it
    has, with replacement, so every resample has the same strata and sizes. NaN resamples are
    dropped; (NaN, NaN) when none is left.
    """
    parts = [idx for _, idx in group_indices(strata)]
    values = np.empty(resamples)
    for b in range(resamples):
        picked = np.concatenate([idx[rng.integers(0, len(idx), len(idx))] for idx in parts])
        values[b] = statistic(picked)
    values = values[~np.isnan(values)]
    if not len(values):
        return math.nan, math.nan
    tail = (1 - confidence) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)
