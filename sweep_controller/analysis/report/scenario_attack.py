"""The report section of the governance-attack scenario (docs/model.md, section 11.3).

Its question: how often does an attack flip a proposal as its budget grows, and what is the
smallest budget that flips a proposal that would otherwise fail (or pass), with and without a
quorum? A run is *eligible* when the outcome it gives without the attack differs from the attack's
target (the attacker has something to flip; every run of an ``auto`` target is), and the attack
*succeeds* when it flips it (``attack_succeeded``). The figure draws the success rate among
eligible runs against the swept attack resource (the budget first; else the borrowed share or
the sybil count), one panel per direction (fail to pass, pass to fail) and one line per value of
the other swept parameters (the quorum first), with Wilson intervals. The smallest resource at
which success reaches 50% and 95% is read off the same points: the estimate is the first grid
value (or bin) whose rate reaches the level; its interval runs from the first value whose upper
95% bound reaches it to the first whose lower bound does.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sweep_controller.analysis.quantities import format_share, parameter_label
from sweep_controller.analysis.report.data import ReportData
from sweep_controller.analysis.report.figures import Plot, _save, share_axis
from sweep_controller.analysis.report.measures import format_value
from sweep_controller.analysis.report.pages import Section
from sweep_controller.analysis.report.tables import Table
from sweep_controller.analysis.stats import Estimate, group_indices, wilson_ci

__all__ = ["LEVELS", "RESOURCES", "Crossing", "attack_section", "crossing"]

RESOURCES: dict[str, str] = {
    name: parameter_label(name)
    for name in ("attack_budget", "attack_borrowed_share", "attack_sybils")
}
"""The attack's resources, in the order the x axis is chosen from, with their axis labels."""
LEVELS = (0.5, 0.95)
"""Success rates whose smallest resource the section reads off."""
MAX_CURVES = 8
"""Lines per panel; further swept parameters are pooled."""
MAX_TICKS = 12
"""A resource with at most this many values has them as its ticks."""
DIRECTIONS = (("pass", "would fail, attacked to pass"), ("fail", "would pass, attacked to fail"))


@dataclass(frozen=True)
class Crossing:
    """Where a success curve first reaches ``level``, read off its points (increasing x).

    The rate is assumed not to fall as the resource grows. Where a point's 95% upper bound is
    below the level, the crossing lies above that point; where a lower bound reaches it, at or
    below. So the crossing lies in ``(below, at_most]``.
    """

    level: float
    value: float | None
    """The first x whose success rate is at least ``level``; None if none is."""
    below: float | None
    """The last x before the first whose upper bound reaches ``level`` (None: the first point's
    does; if none does, the largest x)."""
    at_most: float | None
    """The first x whose 95% lower bound reaches ``level``; None if none does."""

    def text(self) -> str:
        """``0.05 in (0.02, 0.1]``; ``> 0.2`` or ``<= 0.1`` where an end of it is open."""
        value = "not reached" if self.value is None else format_value(float(self.value))
        if self.below is None and self.at_most is None:
            return value
        if self.below is None:
            return f"{value} (<= {format_value(float(self.at_most or 0))})"
        if self.at_most is None:
            return f"{value} (> {format_value(float(self.below))})"
        return (
            f"{value} in ({format_value(float(self.below))}, {format_value(float(self.at_most))}]"
        )


def crossing(x: Sequence[float], ests: Sequence[Estimate], level: float) -> Crossing:
    """Where the success estimates ``ests`` at increasing ``x`` first reach ``level``."""
    xs = [float(v) for v in x]

    def first(values: list[float]) -> int | None:
        return next((k for k, v in enumerate(values) if v >= level), None)

    value = first([e.value for e in ests])
    upper = first([e.high for e in ests])
    lower = first([e.low for e in ests])
    below = xs[-1] if upper is None else (xs[upper - 1] if upper > 0 else None)
    return Crossing(
        level,
        None if value is None else xs[value],
        below if xs else None,
        None if lower is None else xs[lower],
    )


@dataclass(frozen=True)
class _Curve:
    direction: str
    label: str
    x: np.ndarray
    ests: list[Estimate]

    @property
    def eligible(self) -> int:
        return sum(e.n for e in self.ests)


def attack_section(data: ReportData, out_dir: Path) -> Section | None:
    """The attack-success section, or None when no run of the sweep has an attack."""
    cols = data.cols
    if "attack_succeeded" not in cols:
        return None
    swept = data.collected.swept
    resource = next((name for name in RESOURCES if name in swept), None)
    target = cols["attack_resolved_target"]
    eligible = (target != "") & (cols["attack_passed_without"] != (target == "pass"))
    lines, pooled = _line_groups(data, resource)
    if resource is None:
        x_groups = [(math.nan, np.arange(len(target)))]
    else:
        x_groups = _x_groups(data, resource)
    curves = []
    for wanted, title in DIRECTIONS:
        chosen = eligible & (target == wanted)
        if not chosen.any():
            continue
        for label, members in lines:
            ests, xs = [], []
            for centre, idx in x_groups:
                runs = idx[chosen[idx] & members[idx]]
                if len(runs):
                    xs.append(centre)
                    ests.append(wilson_ci(int(np.count_nonzero(cols["attack_succeeded"][runs])),
                                          len(runs)))  # fmt: skip
            if ests:
                curves.append(_Curve(title, label, np.asarray(xs), ests))
    if not curves:
        return Section(
            "Governance attack",
            text="No run had an outcome to flip (every run without the attack already gave the "
            "attack's target).",
        )
    table = _table(curves, resource)
    text = _answer(curves, resource, pooled)
    plots = () if resource is None else (_figure(data, curves, resource, pooled, out_dir),)
    return Section("Governance attack", text=text, table=table, plots=plots)


def _x_groups(data: ReportData, name: str) -> list[tuple[float, np.ndarray]]:
    """Runs by the resource's value (grid) or quantile bin (sampled), each at its median value."""
    x = np.asarray(data.cols[name], dtype=float)
    return [(float(np.median(x[idx])), idx) for _, idx in group_indices(data.groups(name))]


def _line_groups(
    data: ReportData, resource: str | None
) -> tuple[list[tuple[str, np.ndarray]], list[str]]:
    """One group of runs per combination of the other swept parameters (quorum first) that a
    line can show, and the swept parameters pooled instead."""
    n = len(data.cols["attack_resolved_target"])
    names = [axis[0] for axis in data.axes if resource not in axis]
    names.sort(key=lambda name: name != "quorum")
    shown: list[str] = []
    count = 1
    for name in names:
        values = len(np.unique(data.cols[name]))
        if (data.binned(name)) or count * values > MAX_CURVES:
            continue
        shown.append(name)
        count *= values
    pooled = [name for name in names if name not in shown]
    if not shown:
        return [("all runs", np.ones(n, dtype=bool))], pooled
    parts = [group_indices(data.cols[name]) for name in shown]
    lines = []
    for combo in itertools.product(*parts):
        members = np.ones(n, dtype=bool)
        for _, idx in combo:
            inside = np.zeros(n, dtype=bool)
            inside[idx] = True
            members &= inside
        if members.any():
            label = ", ".join(
                f"{name} = {format_value(value)}"
                for name, (value, _) in zip(shown, combo, strict=True)
            )
            lines.append((label, members))
    return lines, pooled


def _table(curves: list[_Curve], resource: str | None) -> Table:
    name = resource or "resource"
    head = (
        "proposal",
        "curve",
        "eligible runs",
        f"success at the largest {name} (95% CI)",
        *(f"smallest {name} with success >= {format_share(level)} (interval)" for level in LEVELS),
    )
    rows = []
    for c in curves:
        last = c.ests[-1]
        rate = f"{format_share(last.value)} [{format_share(last.low)}, {format_share(last.high)}]"
        reached = [crossing(list(c.x), c.ests, level).text() for level in LEVELS]
        rows.append((c.direction, c.label, str(c.eligible), rate, *reached))
    return Table(head, tuple(rows))


def _answer(curves: list[_Curve], resource: str | None, pooled: list[str]) -> str:
    """The section's answer in sentences, computed from the curves."""
    if resource is None:
        return (
            "Attack success among the runs whose outcome without the attack differs from the "
            "target (no attack resource is swept, so there is no curve): see the table."
        )
    parts = []
    for c in curves:
        half, most = (crossing(list(c.x), c.ests, level) for level in LEVELS)
        parts.append(
            f"{c.direction} ({c.label}, {c.eligible} runs): 50% at {half.text()}, "
            f"95% at {most.text()}"
        )
    pooled_text = f" Pooled over {', '.join(pooled)}." if pooled else ""
    return (
        f"Smallest {resource} at which the attack flips at least half (95%) of the proposals it "
        "could flip: the first swept value whose success rate reaches the level, and the "
        "interval the crossing lies in (above the last value whose 95% upper bound is below the "
        "level, at most the first whose lower bound reaches it): "
        + "; ".join(parts)
        + "."
        + pooled_text
    )


def _figure(
    data: ReportData, curves: list[_Curve], resource: str, pooled: list[str], out: Path
) -> Plot:
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    directions = [title for _, title in DIRECTIONS if any(c.direction == title for c in curves)]
    fig = Figure(figsize=(6.0 * len(directions), 4.4), layout="constrained")
    axes = fig.subplots(1, len(directions), squeeze=False).ravel()
    labels = sorted({c.label for c in curves}, key=[c.label for c in curves].index)
    cmap = colormaps["viridis"]
    colour = {
        label: ("C0" if len(labels) == 1 else cmap(0.1 + 0.8 * k / (len(labels) - 1)))
        for k, label in enumerate(labels)
    }
    x_all = np.asarray(data.cols[resource], dtype=float)
    for ax, title in zip(axes, directions, strict=True):
        mine = [c for c in curves if c.direction == title]
        for k, c in enumerate(mine):
            _errorbar(ax, _dodged(c.x, k - (len(mine) - 1) / 2, x_all), c.ests, colour[c.label],
                      f"{c.label} ({c.eligible} runs)")  # fmt: skip
        for level in LEVELS:
            ax.axhline(level, color="0.5", lw=0.8, ls=":")
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel(RESOURCES[resource])
        ax.set_ylabel("attack success (% of eligible runs)")
        share_axis(ax)
        ax.set_title(f"proposals that {title}")
        ax.grid(alpha=0.3)
        _scale(ax, x_all)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{data.name}: attack success against {resource} (95% Wilson intervals)")
    file = "scenario-attack.png"
    _save(fig, out / file)
    caption = (
        "Share of the eligible runs (those whose outcome without the attack is not the target) "
        f"in which the attack flipped the outcome, against {resource}; dotted lines at 50% and "
        "95%. Bars: 95% Wilson intervals."
        + (f" Pooled over {', '.join(pooled)}." if pooled else "")
        + (" Points are equal-count bins of the runs." if data.binned(resource) else "")
    )
    return Plot(file, f"Attack success against {resource}", caption)


def _scale(ax: Any, x: np.ndarray) -> None:
    """Log x when the values span more than a factor of 20, symmetric log when 0 is among them;
    the values of a grid of a few values as the ticks."""
    positive = x[x > 0]
    if len(positive) and positive.max() / positive.min() > 20:
        if (x <= 0).any():
            ax.set_xscale("symlog", linthresh=float(positive.min()), linscale=0.5)
            ax.set_xlim(-0.4 * float(positive.min()), 1.5 * float(positive.max()))
        else:
            ax.set_xscale("log")
    values = np.unique(x)
    if len(values) <= MAX_TICKS:
        ax.set_xticks(values, [format_value(float(v)) for v in values], fontsize=8)
        ax.minorticks_off()


def _dodged(x: np.ndarray, step: float, x_all: np.ndarray) -> np.ndarray:
    """``x`` moved sideways by ``step`` times 1% of its span (log span on a wide range)."""
    positive = x_all[x_all > 0]
    if step == 0 or not len(positive):
        return x
    if positive.max() / positive.min() > 20:
        return np.asarray(x * math.exp(step * 0.01 * math.log(positive.max() / positive.min())))
    return np.asarray(x + step * 0.01 * float(np.ptp(x_all)))


def _errorbar(ax: Any, x: np.ndarray, ests: list[Estimate], colour: Any, label: str) -> None:
    values = np.asarray([e.value for e in ests])
    low = np.asarray([e.value - e.low for e in ests])
    high = np.asarray([e.high - e.value for e in ests])
    ax.errorbar(x, values, yerr=[low, high], fmt="o-", ms=4, lw=1.4, capsize=3, color=colour,
                label=label)  # fmt: skip
