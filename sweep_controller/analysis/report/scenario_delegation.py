"""The report's delegation section: how delegation changes concentration and cascade size.

The scenario's question (docs/model.md 11.2): as more holders delegate their voting power, how
concentrated is the power cast (top-10 share, Nakamoto count) and how large is the cascade (flips,
agents flipped)? The section draws each measure against ``delegation_rate``, one line per value
of the next swept axis (``delegation_mode`` when it is swept), each point a mean over its runs
with a 95% Student-t interval, with the same runs' concentration without delegation as a dashed
reference; then it states the answer computed from the runs, and tabulates the means.

A run at ``delegation_rate`` 0 does not delegate and records no top-10 share; its top-10 share
is that of the stake cast without delegation, which every delegating run records for its own
population (the population does not depend on the rate), so the point at rate 0 pools those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sweep_controller.analysis.quantities import format_number, format_share, quantity
from sweep_controller.analysis.report.data import ReportData
from sweep_controller.analysis.report.figures import (
    MAX_LINES,
    Plot,
    _colours,
    _dodge,
    _errorbar,
    _new_figure,
    _save,
    share_axis,
)
from sweep_controller.analysis.report.measures import format_value
from sweep_controller.analysis.report.pages import Section
from sweep_controller.analysis.report.tables import Table
from sweep_controller.analysis.stats import Estimate, group_indices, mean_ci

__all__ = ["delegation_section"]

RATE = "delegation_rate"
FILE = "scenario-delegation.png"


@dataclass(frozen=True)
class _Panel:
    column: str
    title: str
    baseline: str | None = None
    """Column of the same measure without delegation (drawn dashed)."""

    @property
    def share(self) -> bool:
        """The panel shows a share (printed as a percentage)."""
        return quantity(self.column).percent


PANELS: tuple[_Panel, ...] = (
    _Panel("top10_share_cast", "top-10 share of the voting power cast", "top10_share_cast_without"),
    _Panel("nakamoto_cast", "Nakamoto count of the voting power cast", "nakamoto_cast_without"),
    _Panel("stake_turnout_share", "voting power cast / total", "stake_turnout_share_without"),
    _Panel("flips_total", "cascade: flips per run"),
    _Panel("agents_flipped_total", "cascade: agents flipped per run"),
    _Panel("turnout_share", "voters / agents"),
)


@dataclass(frozen=True)
class _Point:
    """One plotted point: a line's runs at one delegation rate."""

    line: object
    rate: float
    runs: np.ndarray
    """Positions of its runs in the columns."""


def delegation_section(data: ReportData, out_dir: Path) -> Section | None:
    """The delegation section, or None when the sweep does not use delegation."""
    if "top10_share_cast" not in data.cols:
        return None
    rates = _rates(data)
    other = _line_axis(data)
    lines = group_indices(data.cols[other]) if other else [(None, np.arange(len(rates)))]
    points = [
        _Point(line, float(np.median(rates[idx])), idx)
        for line, members in lines
        for _, idx in _rate_groups(data, rates, members)
    ]
    if not points:
        return None
    plot = _figure(data, points, other, out_dir)
    return Section(
        "Delegation",
        text=_answer(data, points, other),
        table=_table(data, points, other),
        plots=(plot,),
    )


def _rates(data: ReportData) -> np.ndarray:
    if RATE in data.cols:
        return np.asarray(data.cols[RATE], dtype=np.float64)
    return np.full(len(data.cols["run_index"]), data.spec.simulator.delegation_rate)


def _line_axis(data: ReportData) -> str | None:
    """``delegation_mode`` when swept, else the first other grid axis with few values."""
    if data.sampled:
        return None
    names = [axis[0] for axis in data.axes if RATE not in axis]
    names.sort(key=lambda name: name != "delegation_mode")
    for name in names:
        if len(np.unique(data.cols[name])) <= MAX_LINES:
            return name
    return None


def _rate_groups(
    data: ReportData, rates: np.ndarray, members: np.ndarray
) -> list[tuple[object, np.ndarray]]:
    """The runs of one line grouped by rate (binned when the design is sampled)."""
    keys = data.groups(RATE) if RATE in data.cols else rates
    return [(key, members[idx]) for key, idx in group_indices(np.asarray(keys)[members])]


def _estimate(data: ReportData, column: str, runs: np.ndarray, share: bool) -> Estimate:
    q = quantity(column)
    return mean_ci(np.asarray(data.cols[column], dtype=np.float64)[runs], bounds=(q.low, q.high))


def _line_runs(points: list[_Point], line: object) -> np.ndarray:
    return np.concatenate([p.runs for p in points if p.line == line])


def _value(
    data: ReportData, panel: _Panel, point: _Point, points: list[_Point], *, baseline: bool = False
) -> Estimate:
    """A panel's estimate at a point (or of its baseline column, the same runs without
    delegation); at rate 0 a top-10 share is the line's pooled baseline."""
    column = panel.baseline if baseline and panel.baseline is not None else panel.column
    if point.rate == 0 and panel.column == "top10_share_cast":
        return _estimate(data, "top10_share_cast_without", _line_runs(points, point.line), True)
    return _estimate(data, column, point.runs, panel.share)


def _paired(data: ReportData, panel: _Panel, point: _Point) -> Estimate:
    """Mean difference, with delegation minus without, over the same runs (t interval)."""
    assert panel.baseline is not None
    cols, runs = data.cols, point.runs
    with_ = np.asarray(cols[panel.column], dtype=np.float64)[runs]
    return mean_ci(with_ - np.asarray(cols[panel.baseline], dtype=np.float64)[runs])


def _figure(data: ReportData, points: list[_Point], other: str | None, out_dir: Path) -> Plot:
    fig, axes = _new_figure(len(PANELS))
    line_values = list(dict.fromkeys(p.line for p in points))
    colours = _colours(len(line_values))
    for ax, panel in zip(axes, PANELS, strict=True):
        for k, (line, colour) in enumerate(zip(line_values, colours, strict=True)):
            mine = [p for p in points if p.line == line]
            x = _dodge(np.array([p.rate for p in mine]), k - (len(line_values) - 1) / 2, log=False)
            label = "with delegation" if other is None else f"{other} = {format_value(line)}"
            _errorbar(ax, x, [_value(data, panel, p, points) for p in mine], colour, label)
            if panel.baseline is not None:
                base = [_value(data, panel, p, points, baseline=True).value for p in mine]
                ax.plot(x, base, ls="--", lw=1.2, color=colour, alpha=0.8,
                        label="same runs without delegation" if k == 0 else None)  # fmt: skip
        ax.set_title(panel.title)
        ax.set_xlabel("delegation_rate (share of non-delegates)")
        ax.set_ylabel(quantity(panel.column).axis_label)
        if panel.share:
            share_axis(ax)
        ax.grid(alpha=0.3)
        low, high = ax.get_ylim()
        ax.set_ylim(max(low, 0.0), min(high, 1.02) if panel.share else high)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{data.name}: concentration and cascade size against delegation_rate")
    _save(fig, out_dir / FILE)
    caption = (
        "Each point: the mean over the runs at that delegation rate"
        + ("" if other is None else f" and {other}")
        + ", with its 95% Student-t interval. Dashed: the same runs without delegation (the "
        "stake each holder would cast for itself). At rate 0 nobody delegates and no top-10 "
        "share is recorded; the point there is the line's runs without delegation, pooled."
    )
    return Plot(FILE, "Concentration and cascade size against delegation rate", caption)


def _fmt(est: Estimate, share: bool) -> str:
    if math.isnan(est.value):
        return "n/a"
    return format_share(est.value) if share else format_number(est.value, 1)


def _interval(est: Estimate, share: bool) -> str:
    text = _fmt(est, share)
    if math.isnan(est.low):
        return text
    low, high = (_fmt(Estimate(bound, 0, 0, 0), share) for bound in (est.low, est.high))
    return f"{text} [{low}, {high}]"


def _moves(before: Estimate, after: Estimate) -> str:
    """How a mean moves between two estimates, judged by their 95% intervals."""
    if any(math.isnan(v) for v in (before.low, before.high, after.low, after.high)):
        return "changes"
    if after.low > before.high:
        return "rises"
    if after.high < before.low:
        return "falls"
    return "does not move beyond the intervals"


def _points_text(est: Estimate, scale: float) -> str:
    """A mean difference and its interval, e.g. ``+4.1 [+2, +6.2]`` (times ``scale``)."""
    if math.isnan(est.value):
        return "n/a"
    text = f"{est.value * scale:+.2g}"
    if not math.isnan(est.low):
        text += f" [{est.low * scale:+.2g}, {est.high * scale:+.2g}]"
    return text


def _direction(est: Estimate) -> str:
    """Whether a paired difference's interval lies above, below or around 0."""
    if math.isnan(est.low):
        return "changes"
    if est.low > 0:
        return "rises"
    if est.high < 0:
        return "falls"
    return "does not move beyond its interval"


def _answer(data: ReportData, points: list[_Point], other: str | None) -> str:
    """The answer to the scenario's question, in sentences computed from the runs.

    Concentration is compared within runs (with minus without delegation: the same population
    and draws); the cascade between the lowest and the highest rate.
    """
    top10, nakamoto, flips, flipped = (PANELS[i] for i in (0, 1, 3, 4))
    sentences: list[str] = []
    for line in dict.fromkeys(p.line for p in points):
        mine = sorted((p for p in points if p.line == line), key=lambda p: p.rate)
        low, high = mine[0], mine[-1]
        if high.rate == low.rate:
            continue
        top, nak = _paired(data, top10, high), _paired(data, nakamoto, high)
        with_top = _value(data, top10, high, points)
        without_top = _value(data, top10, high, points, baseline=True)
        with_nak = _value(data, nakamoto, high, points)
        without_nak = _value(data, nakamoto, high, points, baseline=True)
        f0, f1 = (_value(data, flips, p, points) for p in (low, high))
        a0, a1 = (_value(data, flipped, p, points) for p in (low, high))
        cascade = {"rises": "grows", "falls": "shrinks"}.get(_moves(f0, f1), _moves(f0, f1))
        where = "" if other is None else f" with {other} {format_value(line)}"
        sentences.append(
            f"At delegation_rate {high.rate:g}{where}, the top-10 share of the voting power cast "
            f"{_direction(top)}: {_fmt(with_top, True)} against {_fmt(without_top, True)} for "
            f"the same runs without delegation ({_points_text(top, 100)} points, 95% interval); "
            f"the Nakamoto count {_direction(nak)}: {_fmt(with_nak, False)} against "
            f"{_fmt(without_nak, False)} ({_points_text(nak, 1)}). The cascade {cascade}: "
            f"{_fmt(f0, False)} flips and {_fmt(a0, False)} agents flipped per run at rate "
            f"{low.rate:g}, {_fmt(f1, False)} and {_fmt(a1, False)} at {high.rate:g}."
        )
    if not sentences:
        return "The sweep holds one delegation rate; sweep delegation_rate to see its effect."
    return " ".join(sentences)


def _table(data: ReportData, points: list[_Point], other: str | None) -> Table:
    head = (
        *(() if other is None else (other,)),
        "delegation_rate",
        "runs",
        "top-10 share cast",
        "without",
        "Nakamoto",
        "without",
        "power cast / total",
        "flips per run",
        "agents flipped",
    )
    rows: list[tuple[str, ...]] = []
    for p in points:
        cells: list[Any] = [] if other is None else [format_value(p.line)]
        top = _value(data, PANELS[0], p, points)
        cells += [
            f"{p.rate:g}",
            str(len(p.runs)),
            _interval(top, True),
            _fmt(_value(data, PANELS[0], p, points, baseline=True), True),
            _interval(_value(data, PANELS[1], p, points), False),
            _fmt(_value(data, PANELS[1], p, points, baseline=True), False),
            _interval(_value(data, PANELS[2], p, points), True),
            _interval(_value(data, PANELS[3], p, points), False),
            _interval(_value(data, PANELS[4], p, points), False),
        ]
        rows.append(tuple(cells))
    return Table(head, tuple(rows))
