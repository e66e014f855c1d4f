"""Report statistics: intervals against reference values, sensitivity on known functions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sweep_controller.analysis.stats import (
    first_order_index,
    group_indices,
    mean_ci,
    quantile_bins,
    spearman,
    wilson_ci,
)


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [  # reference values of the Wilson score interval at 95% (z = 1.959964)
        (0, 10, 0.0, 0.2775327),
        (10, 10, 0.7224673, 1.0),
        (5, 10, 0.2365931, 0.7634069),
        (1, 20, 0.0088814, 0.2361311),
        (80, 100, 0.7111708, 0.8666331),
    ],
)
def test_wilson_interval(successes: int, n: int, low: float, high: float) -> None:
    est = wilson_ci(successes, n)
    assert est.value == successes / n and est.n == n
    assert est.low == pytest.approx(low, abs=1e-6) and est.high == pytest.approx(high, abs=1e-6)


def test_wilson_of_nothing_is_nan() -> None:
    assert math.isnan(wilson_ci(0, 0).value)


def test_mean_interval_matches_scipy() -> None:
    x = np.array([0.2, 0.5, 0.4, 0.9, 0.1, 0.3])
    est = mean_ci(x)
    low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert (est.value, est.n) == (pytest.approx(x.mean()), 6)
    assert (est.low, est.high) == (pytest.approx(low), pytest.approx(high))


def test_mean_interval_edge_cases() -> None:
    one = mean_ci(np.array([3.0]))
    assert one.value == 3.0 and math.isnan(one.low) and math.isnan(one.high)
    assert mean_ci(np.array([np.nan, 2.0, 4.0])).value == 3.0
    assert mean_ci(np.array([])).n == 0


def test_group_indices() -> None:
    groups = group_indices(np.array([0.3, 0.1, 0.3, 0.2, 0.1]))
    assert [(v, idx.tolist()) for v, idx in groups] == [(0.1, [1, 4]), (0.2, [3]), (0.3, [0, 2])]
    strings = group_indices(np.array(["b", "a", "b"]))
    assert [v for v, _ in strings] == ["a", "b"]


def test_quantile_bins_are_equal_count() -> None:
    x = np.random.default_rng(1).random(100)
    bins = quantile_bins(x, 4)
    assert np.bincount(bins).tolist() == [25, 25, 25, 25]
    assert x[bins == 0].max() < x[bins == 1].min()


def test_first_order_index_on_known_functions() -> None:
    rng = np.random.default_rng(7)
    x1, x2 = rng.random(4000), rng.random(4000)
    y = 4 * x1 + 1 * x2  # Var contributions 16/12 and 1/12: S1 = 16/17, S2 = 1/17
    s1 = first_order_index(quantile_bins(x1, 20), y)
    s2 = first_order_index(quantile_bins(x2, 20), y)
    assert s1 == pytest.approx(16 / 17, abs=0.02) and s2 == pytest.approx(1 / 17, abs=0.02)
    noise = first_order_index(quantile_bins(x1, 20), rng.random(4000))
    assert noise < 0.01  # the small-sample correction removes the bias of 19 bins
    grid = np.repeat([0.1, 0.2, 0.3], 5)
    assert first_order_index(grid, grid * 10) == pytest.approx(1.0)
    assert math.isnan(first_order_index(grid, np.ones(15)))  # y does not vary


def test_spearman() -> None:
    x = np.arange(10.0)
    assert spearman(x, x**3) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
    assert math.isnan(spearman(x, np.ones(10)))


@pytest.mark.parametrize("n", range(1, 200))
def test_wilson_interval_holds_its_estimate_at_zero_and_all(n: int) -> None:
    """At 0 or n successes the interval ends at the estimate (rounding must not cross it)."""
    for successes in (0, n):
        est = wilson_ci(successes, n)
        assert est.low <= est.value <= est.high
