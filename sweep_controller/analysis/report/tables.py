"""The tables of a report: the sweep's summary, per-point estimates and the sensitivity ranking.

Tables are plain rows of strings (:class:`Table`), built from the collected runs and the report's
measures, so the pages can render them as Markdown or HTML without knowing what they hold. The
sensitivity rows (first-order index and Spearman's rho of each measure for each parameter) are
computed here and drawn as a figure by ``figures``; Sobol indices, computed in
``sweep_controller.analysis.sensitivity``, are only laid out here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sweep_controller.analysis.report.data import ReportData
from sweep_controller.analysis.report.measures import (
    MEASURES,
    MEASURES_BY_COLUMN,
    estimate,
    format_estimate,
    format_value,
)
from sweep_controller.analysis.sensitivity import SobolIndices
from sweep_controller.analysis.stats import first_order_index, group_indices, spearman, wilson_ci

__all__ = [
    "MAX_POINT_ROWS",
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


@dataclass(frozen=True)
class Table:
    """A table as strings: a header row and body rows."""

    head: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Sensitivity:
    """How much one measure depends on one parameter."""

    parameter: str
    column: str
    first_order: float
    spearman: float


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
    all_runs = np.arange(c.n_rows)
    for column in ("passed", "passed_initial"):
        label = "pass rate" if column == "passed" else "pass rate before influence"
        est = wilson_ci(int(np.count_nonzero(cols[column][all_runs])), c.n_rows)
        rows.append((f"{label} (95% CI)", format_estimate(MEASURES_BY_COLUMN["passed"], est)))
    for measure in MEASURES[1:]:
        est = estimate(measure, cols[measure.column])
        label = f"{measure.label} (95% CI)" if measure.rate else f"mean {measure.label}"
        rows.append((label, format_estimate(measure, est)))
    return Table(("", ""), tuple(rows))


def point_table(data: ReportData) -> Table | None:
    """Mean and interval of the first four measures at every point; None above the row limit."""
    cols = data.cols
    points = group_indices(cols["point_index"])
    if len(points) > MAX_POINT_ROWS:
        return None
    swept, shown = data.collected.swept, MEASURES[:4]
    head = ("point", *swept, "runs", *(m.label for m in shown))
    body = []
    for point, idx in points:
        cells = [str(point), *(format_value(cols[n][idx[0]].item()) for n in swept)]
        cells.append(str(len(idx)))
        cells += [format_estimate(m, estimate(m, cols[m.column][idx])) for m in shown]
        body.append(tuple(cells))
    return Table(head, tuple(body))


def sensitivity_rows(data: ReportData) -> list[Sensitivity]:
    """The sensitivity of every measure to every swept parameter."""
    rows = []
    for axis in data.axes:
        name = axis[0]
        groups = data.groups(name)
        for measure in MEASURES:
            y = np.asarray(data.cols[measure.column], dtype=float)
            rho = math.nan if data.categorical(name) else spearman(data.cols[name], y)
            rows.append(Sensitivity(name, measure.column, first_order_index(groups, y), rho))
    return rows


def sensitivity_table(rows: list[Sensitivity]) -> Table:
    """Sensitivity rows by measure, the most influential parameter first."""
    order = {m.column: k for k, m in enumerate(MEASURES)}

    def number(value: float, fmt: str) -> str:
        return "n/a" if math.isnan(value) else format(value, fmt)

    ranked = sorted(rows, key=lambda r: (order[r.column], -np.nan_to_num(r.first_order)))
    body = tuple(
        (r.parameter, MEASURES_BY_COLUMN[r.column].label, number(r.first_order, ".2f"),
         number(r.spearman, "+.2f"))
        for r in ranked
    )  # fmt: skip
    return Table(("parameter", "outcome", "first-order index", "Spearman rho"), body)


def sobol_table(indices: SobolIndices) -> Table:
    """Sobol indices by measure, the parameter with the largest total index first."""
    order = {m.column: k for k, m in enumerate(MEASURES)}

    def pm(value: float, conf: float) -> str:
        if math.isnan(value):
            return "n/a"
        return f"{value:.2f} ± {conf:.2f}" if not math.isnan(conf) else f"{value:.2f}"

    body = []
    for entry in sorted(indices.outcomes, key=lambda o: order.get(o.outcome, len(order))):
        measure = MEASURES_BY_COLUMN.get(entry.outcome)
        label = measure.label if measure is not None else entry.outcome
        noise = "n/a" if math.isnan(entry.noise_share) else f"{entry.noise_share:.2f}"
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
    level = f"{indices.confidence:.0%}"
    head = ("parameter", "outcome", f"S1 ± {level}", f"ST ± {level}", "noise share", "note")
    return Table(head, tuple(body))
