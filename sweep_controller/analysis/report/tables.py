"""The tables of a report: the sweep's summary, per-point estimates and the sensitivity ranking.

Tables are plain rows of strings (:class:`Table`), built from the collected runs and the report's
measures, so the pages can render them as Markdown or HTML without knowing what they hold. The
sensitivity rows (first-order index and Spearman's rho of each measure for each parameter) are
computed here and drawn as a figure by ``figures``; Sobol indices, computed in
``sweep_controller.analysis.sensitivity``, are only laid out here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from sweep_controller.analysis.quantities import format_number, format_share
from sweep_controller.analysis.report.data import ReportData
from sweep_controller.analysis.report.measures import (
    MEASURES,
    MEASURES_BY_COLUMN,
    Measure,
    estimate,
    format_estimate,
    format_interval,
    format_value,
)
from sweep_controller.analysis.sensitivity import SobolIndices
from sweep_controller.analysis.stats import (
    Estimate,
    first_order_index,
    group_indices,
    spearman,
    stratified_bootstrap,
)

__all__ = [
    "MAX_POINT_ROWS",
    "SENSITIVITY_RESAMPLES",
    "Sensitivity",
    "Table",
    "point_table",
    "sensitivity_rows",
    "sensitivity_table",
    "sobol_table",
    "summary_table",
]

MAX_POINT_ROWS = 100
"""Sweeps with more points get no per-point table."""
SENSITIVITY_RESAMPLES = 200
"""Bootstrap resamples behind each sensitivity interval."""
SENSITIVITY_STREAM = 0x53454E53  # "SENS": the bootstrap's stream, apart from every run's


@dataclass(frozen=True)
class Table:
    """A table as strings: a header row and body rows."""

    head: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Sensitivity:
    """How much one measure depends on one parameter, each number with its 95% interval."""

    parameter: str
    column: str
    first_order: Estimate
    spearman: Estimate


def summary_table(data: ReportData) -> Table:
    """What was swept and collected, and the overall estimate of every measure."""
    c, spec, cols = data.collected, data.spec, data.cols
    rows = [
        ("sweep", data.name),
        ("method", str(spec.method)),
        ("swept parameters", ", ".join(c.swept) or "none"),
        ("points", str(spec.n_points)),
        ("replicates", str(spec.replicates)),
        ("runs collected", f"{c.n_rows} of {spec.n_runs}"),
        ("tasks collected", f"{len(c.tasks_read)} of {spec.n_tasks}"),
    ]
    for measure in (MEASURES[0], Measure("passed_initial"), *MEASURES[1:]):
        est = estimate(measure, cols[measure.column])
        label = ("" if measure.rate else "mean ") + measure.quantity.axis_label
        rows.append((f"{label} [95% CI]", format_estimate(measure, est)))
    return Table(("", ""), tuple(rows))


def point_table(data: ReportData) -> Table | None:
    """Mean and interval of the first four measures at every point; None above the row limit."""
    cols = data.cols
    points = group_indices(cols["point_index"])
    if len(points) > MAX_POINT_ROWS:
        return None
    swept, shown = data.collected.swept, MEASURES[:4]
    head = ("point", *swept, "runs", *(m.quantity.axis_label for m in shown))
    body = []
    for point, idx in points:
        cells = [str(point), *(format_value(cols[n][idx[0]].item()) for n in swept)]
        cells.append(str(len(idx)))
        cells += [format_estimate(m, estimate(m, cols[m.column][idx])) for m in shown]
        body.append(tuple(cells))
    return Table(head, tuple(body))


def sensitivity_rows(
    data: ReportData, *, resamples: int = SENSITIVITY_RESAMPLES, seed: int | None = None
) -> list[Sensitivity]:
    """The sensitivity of every measure to every swept parameter, with bootstrap intervals.

    Each interval is the 95% percentile interval of the index over ``resamples`` resamples of
    the runs within each group of the parameter (its value, or its bin), widened to contain the
    estimate itself. The resamples are seeded from ``seed`` (default: the sweep's seed), one
    stream per parameter and measure, so the rows do not depend on which others are computed.
    """
    base = data.spec.seed if seed is None else seed
    rows = []
    for a, axis in enumerate(data.axes):
        name = axis[0]
        groups = np.asarray(data.groups(name))
        x = data.cols[name]
        ordinal = not data.categorical(name)
        for m, measure in enumerate(MEASURES):
            y = np.asarray(data.cols[measure.column], dtype=float)
            rng = np.random.default_rng(np.random.SeedSequence([base, SENSITIVITY_STREAM, a, m]))
            s1 = _bootstrapped(partial(_first_order, groups, y), groups, rng, resamples)
            rho = (
                _bootstrapped(partial(_spearman, x, y), groups, rng, resamples)
                if ordinal
                else Estimate(math.nan, math.nan, math.nan, len(y))
            )
            rows.append(Sensitivity(name, measure.column, s1, rho))
    return rows


def _first_order(groups: np.ndarray, y: np.ndarray, runs: np.ndarray) -> float:
    return first_order_index(groups[runs], y[runs])


def _spearman(x: np.ndarray, y: np.ndarray, runs: np.ndarray) -> float:
    return spearman(x[runs], y[runs])


def _bootstrapped(
    statistic: Callable[[np.ndarray], float],
    groups: np.ndarray,
    rng: np.random.Generator,
    resamples: int,
) -> Estimate:
    """``statistic`` of all runs, with its stratified bootstrap interval (NaN: none)."""
    n = len(groups)
    value = statistic(np.arange(n))
    if math.isnan(value):
        return Estimate(math.nan, math.nan, math.nan, n)
    low, high = stratified_bootstrap(statistic, groups, rng, resamples=resamples)
    if math.isnan(low):
        return Estimate(value, math.nan, math.nan, n)
    return Estimate(value, min(low, value), max(high, value), n)


def sensitivity_table(rows: list[Sensitivity]) -> Table:
    """Sensitivity rows by measure, the most influential parameter first."""
    order = {m.column: k for k, m in enumerate(MEASURES)}
    ranked = sorted(rows, key=lambda r: (order[r.column], -np.nan_to_num(r.first_order.value)))
    body = tuple(
        (r.parameter, MEASURES_BY_COLUMN[r.column].label, format_interval(r.first_order),
         format_interval(r.spearman))
        for r in ranked
    )  # fmt: skip
    head = ("parameter", "outcome", "first-order index [95% CI]", "Spearman rho [95% CI]")
    return Table(head, body)


def sobol_table(indices: SobolIndices) -> Table:
    """Sobol indices by measure, the parameter with the largest total index first."""
    order = {m.column: k for k, m in enumerate(MEASURES)}

    def pm(value: float, conf: float) -> str:
        if math.isnan(value):
            return "n/a"
        text = format_number(value, 2)
        return f"{text} ± {format_number(conf, 2)}" if not math.isnan(conf) else text

    body = []
    for entry in sorted(indices.outcomes, key=lambda o: order.get(o.outcome, len(order))):
        measure = MEASURES_BY_COLUMN.get(entry.outcome)
        label = measure.label if measure is not None else entry.outcome
        noise = format_share(entry.noise_share)
        found = entry.indices
        if found is None:
            body.append(("all", label, "n/a", "n/a", noise, entry.note))
            continue
        ranked = sorted(
            range(len(indices.parameters)),
            key=lambda j: (
                -np.nan_to_num(found.st[j] if not math.isnan(found.st[j]) else found.s1[j])
            ),
        )
        for j in ranked:
            body.append(
                (indices.parameters[j], label, pm(found.s1[j], found.s1_conf[j]),
                 pm(found.st[j], found.st_conf[j]), noise, entry.note)
            )  # fmt: skip
    level = format_share(indices.confidence)
    head = ("parameter", "outcome", f"S1 ± {level}", f"ST ± {level}", "noise share", "note")
    return Table(head, tuple(body))
