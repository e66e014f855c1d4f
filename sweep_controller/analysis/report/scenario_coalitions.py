"""The report's whale-coalition section: at what coalition size does the outcome stop depending
on everyone else? (docs/model.md, section 11.1)

The agents outside the largest whale bloc can change the outcome through two channels: their votes
(unless the bloc alone casts more than half the stake and the quorum) and their influence on the
bloc's members in the influence rounds (unless the bloc keeps its round-0 vote). A run in which
both are closed is one the largest bloc dictates: its outcome is the bloc's round-0 vote whatever
anyone else does. The section plots, against the coalition size, how often the largest bloc
dictates the outcome, how often it decides the tally alone, how often the outcome is its round-0
vote (which also happens when the others merely agree with it) and how often the influence rounds
changed the outcome, each with a Wilson interval; and it reads the answer off the data: the
smallest size from which the largest bloc dictates the outcome in at least ``AGREEMENT`` of the
runs, at that size and every larger one.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from sweep_controller.analysis.quantities import format_share, parameter_label
from sweep_controller.analysis.report.data import ReportData
from sweep_controller.analysis.report.figures import Plot, _save, share_axis
from sweep_controller.analysis.report.measures import (
    Measure,
    estimate,
    format_estimate,
    format_value,
)
from sweep_controller.analysis.report.pages import Section
from sweep_controller.analysis.report.tables import Table
from sweep_controller.analysis.stats import Estimate, group_indices

__all__ = ["AGREEMENT", "COALITION_MEASURES", "coalition_section"]

AGREEMENT = 0.95
"""Share of runs whose outcome must be the largest bloc's round-0 vote for the outcome to count
as no longer depending on everyone else."""

DICTATES = Measure("largest_bloc_dictates")
FOLLOWS = Measure("outcome_follows_largest_bloc")
DECISIVE = Measure("largest_bloc_decisive")
CHANGED = Measure("outcome_changed_by_cascade", "outcome changed by the influence rounds")
SHARE = Measure("largest_bloc_stake_share")
COALITION_MEASURES: tuple[Measure, ...] = (DICTATES, DECISIVE, FOLLOWS, CHANGED, SHARE)
"""The section's measures (the table's columns); the figure has a panel for each but the last."""
PANELS = COALITION_MEASURES[:4]
MAX_LINES = 6


def coalition_section(data: ReportData, out_dir: Path) -> Section | None:
    """The whale-coalition section, or None when no run of the sweep has coalitions on."""
    cols = data.cols
    if "largest_bloc_members" not in cols:
        return None
    on = np.asarray(cols["largest_bloc_members"]) >= 1  # coalitions on and some whale voted
    if not on.any():
        return None
    size = _sizes(data)
    groups = _size_groups(data, size, on)
    lines = _lines(data, on)
    estimates = {
        label: {m.column: [_estimate(m, cols, idx, members) for _, idx in groups]
                for m in COALITION_MEASURES}
        for label, members in lines
    }  # fmt: skip
    x = np.asarray([_position(size, cols, idx) for _, idx in groups])
    plot = _figure(data, x, estimates, out_dir)
    answers = [_answer(label, [g for g, _ in groups], est) for label, est in estimates.items()]
    text = (
        "Question: at what coalition size does the outcome stop depending on everyone else? "
        "The largest bloc is the whale bloc (or independent whale) that cast the most stake. It "
        "decides the tally alone when it cast more than half the stake cast and at least the "
        "quorum (then nobody else's vote can change the outcome), and it dictates the outcome "
        "when, besides, it ends on its round-0 vote (then nobody else's influence on its members "
        "changed it either). Criterion: the largest bloc dictates the outcome in at least "
        f"{format_share(AGREEMENT)} of the runs, at that size and every larger one. Answer: "
        + " ".join(answers)
    )
    return Section("Whale coalitions", text=text, table=_table(groups, estimates), plots=(plot,))


def _sizes(data: ReportData) -> np.ndarray:
    """The coalition size of every run: the swept value, or the spec's fixed one."""
    if "coalition_size" in data.cols:
        return np.asarray(data.cols["coalition_size"], dtype=float)
    return np.full(data.collected.n_rows, float(data.spec.simulator.coalition_size))


def _size_groups(
    data: ReportData, size: np.ndarray, on: np.ndarray
) -> list[tuple[object, np.ndarray]]:
    """Runs with coalitions grouped by coalition size (quantile bins for sampled designs)."""
    keys = data.groups("coalition_size") if "coalition_size" in data.cols else size
    groups = group_indices(np.asarray(keys)[on])
    where = np.flatnonzero(on)
    out = [(value, where[idx]) for value, idx in groups]
    if "coalition_size" in data.cols and data.binned("coalition_size"):
        out = [(float(np.median(size[idx])), idx) for _, idx in out]
    # size 0 is "no limit": largest of all
    return sorted(out, key=lambda g: math.inf if g[0] == 0 else float(g[0]))  # type: ignore[arg-type]


def _position(size: np.ndarray, cols: dict[str, np.ndarray], idx: np.ndarray) -> float:
    """Where a group sits on the x axis: its size; "no limit" (0) at its largest bloc's mean."""
    value = float(np.median(size[idx]))
    if value == 0:
        return float(np.mean(cols["largest_bloc_members"][idx]))
    return value


def _lines(data: ReportData, on: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """One line per value of the first other swept axis with few values; else one line."""
    for axis in data.axes:
        name = axis[0]
        if name == "coalition_size" or data.binned(name):
            continue
        values = group_indices(np.asarray(data.cols[name])[on])
        if 1 < len(values) <= MAX_LINES:
            mask_of = np.asarray(data.cols[name])
            return [(f"{name} = {format_value(v)}", mask_of == v) for v, _ in values]
        break
    return [("all runs", np.ones(len(on), dtype=bool))]


def _estimate(
    measure: Measure, cols: dict[str, np.ndarray], idx: np.ndarray, members: np.ndarray
) -> Estimate:
    return estimate(measure, np.asarray(cols[measure.column])[idx[members[idx]]])


def _answer(label: str, sizes: list[object], est: dict[str, list[Estimate]]) -> str:
    """The answer read off one line's estimates."""
    shown = [_size_text(s) for s in sizes]
    dictates, decisive = est[DICTATES.column], est[DECISIVE.column]
    reached = _first_from_which(dictates)
    if reached is None:
        best = max(range(len(dictates)), key=lambda k: _value(dictates[k]))
        head = (
            f"{label}: not reached up to size {shown[-1]}; the largest bloc dictates the outcome "
            f"in at most {format_estimate(DICTATES, dictates[best])} of the runs (size "
            f"{shown[best]})."
        )
    else:
        head = (
            f"{label}: from size {shown[reached]} on (there the largest bloc dictates the "
            f"outcome in {format_estimate(DICTATES, dictates[reached])} of the runs)."
        )
    alone = _first_from_which(decisive)
    votes = (
        f" It decides the tally alone in at least {format_share(AGREEMENT)} of the runs from size "
        f"{shown[alone]} on ({format_estimate(DECISIVE, decisive[alone])})."
        if alone is not None
        else f" It decides the tally alone in fewer than {format_share(AGREEMENT)} of the runs at "
        "every size."
    )
    top = len(sizes) - 1
    follows, changed = est[FOLLOWS.column][top], est[CHANGED.column][top]
    largest = (
        f" At size {shown[top]} the outcome is its round-0 vote in "
        f"{format_estimate(FOLLOWS, follows)} of the runs and the influence rounds changed the "
        f"outcome in {format_estimate(CHANGED, changed)}."
    )
    return head + votes + largest


def _first_from_which(ests: list[Estimate]) -> int | None:
    """The first group from which every estimate is at least ``AGREEMENT``, or None."""
    first = None
    for k in range(len(ests) - 1, -1, -1):
        if _value(ests[k]) < AGREEMENT:
            break
        first = k
    return first


def _value(est: Estimate) -> float:
    return -1.0 if math.isnan(est.value) else est.value


def _size_text(size: object) -> str:
    return "0 (no limit)" if size == 0 else format_value(size)


def _table(
    groups: list[tuple[object, np.ndarray]], estimates: dict[str, dict[str, list[Estimate]]]
) -> Table:
    head = ("line", "coalition size", "runs", *(m.quantity.axis_label for m in COALITION_MEASURES))
    rows = []
    for label, est in estimates.items():
        for k, (size, _) in enumerate(groups):
            cells = [format_estimate(m, est[m.column][k]) for m in COALITION_MEASURES]
            rows.append((label, _size_text(size), str(est[FOLLOWS.column][k].n), *cells))
    return Table(head, tuple(rows))


def _figure(
    data: ReportData, x: np.ndarray, estimates: dict[str, dict[str, list[Estimate]]], out: Path
) -> Plot:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.5, 7.2), layout="constrained")
    axes = fig.subplots(2, 2, squeeze=False).ravel()
    log_x = bool(len(x) > 1 and x.min() > 0 and x.max() / x.min() >= 10)
    colours = [f"C{k % 10}" for k in range(len(estimates))]
    for ax, measure in zip(axes, PANELS, strict=True):
        for k, ((label, est), colour) in enumerate(zip(estimates.items(), colours, strict=True)):
            shift = (k - (len(estimates) - 1) / 2) * 0.015
            xs = x * math.exp(shift) if log_x else x + shift * float(np.ptp(x) or 1.0)
            _errorbar(ax, xs, est[measure.column], colour, label)
        ax.set_ylim(-0.03, 1.03)
        ax.set_ylabel("% of runs")
        share_axis(ax)
        if measure is not CHANGED:
            ax.axhline(AGREEMENT, color="0.4", ls="--", lw=1)
        if log_x:
            ax.set_xscale("log")
            ax.set_xticks(x, _tick_labels(x))
            ax.minorticks_off()
        ax.set_xlabel(parameter_label("coalition_size"))
        ax.set_title(measure.label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(
        f"{data.name}: does the outcome still depend on anyone outside the largest whale bloc? "
        "(95% intervals)"
    )
    file = "coalitions.png"
    _save(fig, out / file)
    caption = (
        "Against the coalition size (most whales per bloc, in preference order; 1: every whale "
        "on its own), the share of runs in which the largest bloc dictates the outcome (decides "
        "the tally alone and keeps its round-0 vote), decides the tally alone (more than half "
        "the stake cast, and at least the quorum), casts the round-0 vote the outcome agrees "
        "with, and the share whose outcome the influence rounds changed. Dashed: "
        f"{format_share(AGREEMENT)}. Bars: 95% Wilson intervals; size 0 (no limit) is drawn at its "
        "largest bloc's mean number of whales."
    )
    return Plot(file, "Whale coalitions: the outcome against the coalition size", caption)


def _tick_labels(x: np.ndarray, *, spacing: float = 1.45) -> list[str]:
    """Labels of log-axis ticks at ``x`` (ascending); a tick closer than ``spacing`` times the
    previous labelled one stays unlabelled, so labels never overlap."""
    labels, last = [], -math.inf
    for value in x:
        if value >= last * spacing:
            labels.append(f"{value:g}")
            last = value
        else:
            labels.append("")
    return labels


def _errorbar(ax: Any, x: np.ndarray, ests: list[Estimate], colour: str, label: str) -> None:
    values = np.asarray([e.value for e in ests])
    low = np.asarray([0.0 if math.isnan(e.low) else e.value - e.low for e in ests])
    high = np.asarray([0.0 if math.isnan(e.high) else e.high - e.value for e in ests])
    ax.errorbar(x, values, yerr=[low, high], fmt="o-", ms=4, lw=1.4, capsize=3, color=colour,
                label=label)  # fmt: skip
