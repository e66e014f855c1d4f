"""The measures a report plots and tabulates, and how each is estimated over a group of runs.

Every figure and table of a report shows the same few measures of the runs (pass rate, how often
the cascade changed the outcome, final weighted yes share, share of agents flipped, flips per run,
cascade rounds run), each a column of
the collected results. A measure knows its label, whether it is a proportion of runs (estimated
with a Wilson interval) or a mean (Student-t, clipped to the range the measure can take), and
how to print its value, so figures and tables cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sweep_controller.analysis.stats import Estimate, mean_ci, wilson_ci

__all__ = [
    "HEATMAP_MEASURES",
    "MEASURES",
    "MEASURES_BY_COLUMN",
    "Measure",
    "estimate",
    "format_estimate",
    "format_interval",
    "format_value",
]


@dataclass(frozen=True)
class Measure:
    """One plotted measure of runs: its results column, label, and whether it is a proportion."""

    column: str
    label: str
    rate: bool = False
    fmt: str = ".2f"

    @property
    def limits(self) -> tuple[float, float]:
        """The range the measure's mean can take: shares in [0, 1], counts at least 0."""
        if self.rate or "share" in self.column:
            return 0.0, 1.0
        return 0.0, math.inf


MEASURES: tuple[Measure, ...] = (
    Measure("passed", "pass rate", rate=True, fmt=".0%"),
    Measure("outcome_changed_by_cascade", "outcome changed by the cascade", rate=True, fmt=".0%"),
    Measure("yes_share_weighted_final", "final weighted yes share"),
    Measure("agents_flipped_share", "share of agents flipped"),
    Measure("flips_total", "flips per run", fmt=".1f"),
    Measure("rounds_run", "cascade rounds run", fmt=".1f"),
)
MEASURES_BY_COLUMN = {m.column: m for m in MEASURES}
HEATMAP_MEASURES = (
    "passed",
    "outcome_changed_by_cascade",
    "flips_total",
    "yes_share_weighted_final",
    "agents_flipped_share",
)
"""Columns drawn in each heatmap figure, one panel each."""


def estimate(measure: Measure, values: np.ndarray) -> Estimate:
    """The measure's estimate over some runs: Wilson for rates, Student-t for means.

    A t-interval of a few replicates can reach past what the measure can be (a share below 0);
    the interval is clipped to the measure's range.
    """
    if measure.rate:
        return wilson_ci(int(np.count_nonzero(values)), len(values))
    est = mean_ci(values)
    low, high = measure.limits
    return Estimate(est.value, max(est.low, low), min(est.high, high), est.n)


def format_value(value: object) -> str:
    """A parameter value as shown in tables and ticks (floats to 4 significant digits)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_estimate(measure: Measure, est: Estimate) -> str:
    """``value [low, high]`` in the measure's format; ``n/a`` without runs."""
    return format_interval(est, measure.fmt)


def format_interval(est: Estimate, fmt: str) -> str:
    """``value [low, high]`` in format ``fmt``; ``n/a`` without runs, no interval below two."""
    if math.isnan(est.value):
        return "n/a"
    text = format(est.value, fmt)
    if not math.isnan(est.low):
        text += f" [{format(est.low, fmt)}, {format(est.high, fmt)}]"
    return text
