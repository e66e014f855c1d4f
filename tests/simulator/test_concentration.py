"""Concentration measures against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.concentration import (
    PowerProfile,
    gini,
    gini_and_nakamoto,
    nakamoto,
    power_profile,
    top_share,
)


@pytest.mark.parametrize(
    "values,expected",
    [
        ([1, 1, 1, 1], 0.0),
        ([0, 0, 0, 1], 0.75),  # 2*4/(4*1) - 5/4
        ([1, 2, 3, 4], 0.25),  # pairwise |differences| 20 / (2 * 16 * 2.5)
        ([4, 1, 3, 2], 0.25),  # order does not matter
        ([5], 0.0),
        ([0, 0], 0.0),
        ([], 0.0),
    ],
)
def test_gini(values: list[float], expected: float) -> None:
    assert gini(np.array(values, dtype=float)) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "values,expected",
    [
        ([5, 3, 1, 1], 1),  # 5 reaches half of 10 exactly
        ([4, 3, 2, 1], 2),  # 4 < 5 <= 7
        ([1, 2, 3, 4], 2),
        ([1, 1, 1, 1], 2),
        ([1, 1, 1], 2),  # 1 < 1.5 <= 2
        ([10], 1),
        ([0, 0], 0),
    ],
)
def test_nakamoto_is_the_fewest_holders_reaching_half(values: list[float], expected: int) -> None:
    assert nakamoto(np.array(values, dtype=float)) == expected


@pytest.mark.parametrize(
    "values,k,expected",
    [([4, 3, 2, 1], 1, 0.4), ([4, 3, 2, 1], 2, 0.7), ([1, 2, 3, 4], 10, 1.0), ([0, 0], 1, 0.0)],
)
def test_top_share(values: list[float], k: int, expected: float) -> None:
    assert top_share(np.array(values, dtype=float), k) == pytest.approx(expected)


@pytest.mark.parametrize("bad", [[-1.0, 2.0], [np.nan], [[1.0, 2.0]]])
def test_negative_or_non_finite_power_is_rejected(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="voting power"):
        gini(np.array(bad))


@pytest.mark.parametrize("seed", range(4))
def test_gini_and_nakamoto_from_one_sort_equal_each_alone(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = np.round(rng.pareto(0.8, size=1 + 500 * seed) * 1024) / 1024
    assert gini_and_nakamoto(values) == (gini(values), nakamoto(values))
    assert gini_and_nakamoto(np.zeros(3)) == (0.0, 0)


@pytest.mark.parametrize(
    "values,expected",
    [
        # 5 + 3 + 2 = 10: one holder reaches half; Gini 2 (1*2 + 2*3 + 3*5) / (3 * 10) - 4/3
        ([5, 3, 2], PowerProfile(top10_share=1.0, nakamoto=1, gini=0.2)),
        # 1..12 sum to 78; the top 10 hold 78 - 1 - 2 = 75; 12 + 11 + 10 + 9 = 42 >= 39
        (list(range(1, 13)), PowerProfile(top10_share=75 / 78, nakamoto=4, gini=143 / 468)),
        ([], PowerProfile(top10_share=0.0, nakamoto=0, gini=0.0)),
        ([0, 0, 0], PowerProfile(top10_share=0.0, nakamoto=0, gini=0.0)),
    ],
)
def test_profile_is_top10_share_nakamoto_and_gini(
    values: list[float], expected: PowerProfile
) -> None:
    # Gini of 1..12: 2 sum(i^2) / (12 sum(i)) - 13 / 12 = 1300 / 936 - 13 / 12 = 143 / 468
    got = power_profile(np.array(values, dtype=float))
    assert got.nakamoto == expected.nakamoto
    assert got.top10_share == pytest.approx(expected.top10_share, abs=1e-12)
    assert got.gini == pytest.approx(expected.gini, abs=1e-12)
