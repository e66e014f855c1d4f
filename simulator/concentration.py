"""How concentrated voting power is: top-k share, Nakamoto count and Gini coefficient.

Plain functions of a vector of non-negative voting powers (stakes, or the stakes of the agents
who voted). Which denominator a figure uses is the caller's choice: pass every agent's stake for
shares of total voting power, or only the voters' stakes for shares of the votes cast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PowerProfile", "gini", "gini_and_nakamoto", "nakamoto", "power_profile", "top_share"]

TOP_K = 10
"""The k of the top-k share a :class:`PowerProfile` reports (the published "10 largest holders")."""


def _power(values: np.ndarray) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or (x < 0).any() or not np.isfinite(x).all():
        raise ValueError("voting power: expected a 1-d array of finite non-negative values")
    return x


def top_share(values: np.ndarray, k: int) -> float:
    """Share of the total held by the ``k`` largest values (0 when the total is 0)."""
    x = _power(values)
    total = float(x.sum())
    if total == 0.0 or k <= 0:
        return 0.0
    if k >= len(x):
        return 1.0
    return float(np.partition(x, len(x) - k)[len(x) - k :].sum()) / total


def nakamoto(values: np.ndarray) -> int:
    """Fewest holders whose values together reach half the total (>= 1/2); 0 when it is 0."""
    x = _power(values)
    return _nakamoto_sorted(np.sort(x), float(x.sum()))


def _nakamoto_sorted(ascending: np.ndarray, total: float) -> int:
    if total == 0.0:
        return 0
    running = np.cumsum(ascending[::-1])
    running *= 2.0
    return int(np.searchsorted(running, total, side="left")) + 1


def gini(values: np.ndarray) -> float:
    """Gini coefficient: mean absolute difference over twice the mean (0 equal, -> 1 one holds all).

    With the values sorted ascending, ``x_1 <= ... <= x_n``:
    ``G = 2 sum_i i x_i / (n sum_i x_i) - (n + 1) / n``; 0 when the total is 0.
    """
    return _gini_sorted(np.sort(_power(values)))


def _gini_sorted(x: np.ndarray) -> float:
    n, total = len(x), float(x.sum())
    if n == 0 or total == 0.0:
        return 0.0
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float(2.0 * np.dot(ranks, x) / (n * total) - (n + 1) / n)


def gini_and_nakamoto(values: np.ndarray) -> tuple[float, int]:
    """:func:`gini` and :func:`nakamoto` of the same values, from one sort."""
    x = _power(values)
    ascending = np.sort(x)
    return _gini_sorted(ascending), _nakamoto_sorted(ascending, float(x.sum()))


@dataclass(frozen=True)
class PowerProfile:
    """The three measures of one vector of voting powers."""

    top10_share: float
    """Share of the total held by the 10 largest values (1 when there are at most 10)."""
    nakamoto: int
    gini: float


def power_profile(values: np.ndarray) -> PowerProfile:
    """Top-10 share, Nakamoto count and Gini coefficient of ``values``, from one sort.

    Each equals its own function's result: :func:`top_share` (k = 10), :func:`nakamoto`,
    :func:`gini`.
    """
    x = _power(values)
    ascending = np.sort(x)
    total = float(x.sum())
    top = 0.0
    if total > 0.0:
        top = 1.0 if len(x) <= TOP_K else float(ascending[len(x) - TOP_K :].sum()) / total
    return PowerProfile(
        top10_share=top,
        nakamoto=_nakamoto_sorted(ascending, total),
        gini=_gini_sorted(ascending),
    )
