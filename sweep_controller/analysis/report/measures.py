"""The measures a report plots and tabulates, and how each is estimated over a group of runs.

Every figure and table of a report shows the same few measures of the runs (pass rate, how often
the cascade changed the outcome, final weighted yes share, share of agents flipped, flips per run,
cascade rounds run), each a column of the collected results. A measure is a column with a short
title; its label, unit, range and number format are the column's
:class:`~sweep_controller.analysis.quantities.Quantity`. A rate (a yes/no outcome) is estimated
with a Wilson interval, any other measure with a Student-t interval clipped to its range, so
figures and tables cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sweep_controller.analysis.quantities import Kind, Quantity, format_number, quantity
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
    """One plotted measure of runs: its results column and the title of its panel."""

    column: str
    title: str = ""

    @property
    def quantity(self) -> Quantity:
        """What the column is: label, unit, range, format."""
        return quantity(self.column)

    @property
    def label(self) -> str:
        """The panel title: the given one, else the quantity's label."""
        return self.title or self.quantity.label

    @property
    def rate(self) -> bool:
        """A yes/no outcome, whose mean over runs is a rate (Wilson interval)."""
        return self.quantity.kind is Kind.RATE

    @property
    def limits(self) -> tuple[float, float]:
        """The range the measure's mean can take."""
        return self.quantity.low, self.quantity.high

    def format(self, value: float) -> str:
        """``value`` in the measure's format."""
        return self.quantity.format(value)


MEASURES: tuple[Measure, ...] = (
    Measure("passed"),
    Measure("outcome_changed_by_cascade"),
    Measure("yes_share_weighted_final"),
    Measure("agents_flipped_share"),
    Measure("flips_total"),
    Measure("rounds_run"),
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
    """The measure's estimate over some runs: Wilson for rates, Student-t (clipped to the
    measure's range on both sides) for means."""
    if measure.rate:
        return wilson_ci(int(np.count_nonzero(values)), len(values))
    return mean_ci(values, bounds=measure.limits)


def format_value(value: object) -> str:
    """A parameter value as shown in tables and ticks (floats to 4 significant digits; 0 as 0)."""
    if isinstance(value, float):
        return "0" if value == 0 else f"{value:.4g}"
    return str(value)


def format_estimate(measure: Measure, est: Estimate) -> str:
    """``value [low, high]`` in the measure's format; ``n/a`` without runs."""
    return format_interval(est, measure.format)


def format_interval(est: Estimate, show: Callable[[float], str] | None = None) -> str:
    """``value [low, high]``, each printed by ``show`` (a quantity's or measure's ``format``;
    default two decimals); ``n/a`` without runs, no interval below two."""
    show = show or (lambda v: format_number(v, 2))
    if math.isnan(est.value):
        return "n/a"
    text = show(est.value)
    if not math.isnan(est.low):
        text += f" [{show(est.low)}, {show(est.high)}]"
    return text
