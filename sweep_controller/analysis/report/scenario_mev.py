"""The report's MEV-aware voting section: when does extractable value change outcomes?

Every run with extractors carries its honest counterfactual (docs/model.md 11.4), so each run
says whether the extractable value changed its outcome and what that cost the voters in honest,
stake-weighted welfare. The section plots, against the extractable value (``mev_value``; or the
share of extractors, or the first swept parameter), the share of runs whose outcome differs from
the honest one (Wilson intervals), the mean welfare loss and the mean share of the stake cast
whose vote the value changed (Student-t intervals), one line per value of a second parameter,
and reads off where outcomes start to change: where the non-decreasing fit of the share of
changed outcomes first reaches ``THRESHOLD`` (interpolated between the swept values that bracket
it).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from sweep_controller.analysis.quantities import format_share, parameter_label, quantity
from sweep_controller.analysis.report.data import ReportData
from sweep_controller.analysis.report.figures import (
    MAX_LINES,
    Plot,
    _colours,
    _dodge,
    _errorbar,
    _new_figure,
    _save,
    _wrapped,
    share_axis,
)
from sweep_controller.analysis.report.measures import format_interval, format_value
from sweep_controller.analysis.report.pages import Section
from sweep_controller.analysis.report.tables import Table
from sweep_controller.analysis.stats import Estimate, group_indices, mean_ci, wilson_ci

__all__ = ["THRESHOLD", "increasing_fit", "mev_section", "onset"]

THRESHOLD = 0.05
"""Share of runs with a changed outcome at which outcomes are said to start to change."""
FILE = "scenario-mev.png"
PANELS = ("outcome_changed_by_mev", "mev_pass_change", "welfare_loss", "mev_stake_changed_share")
"""The figure's panels, left to right."""
WELFARE = quantity("welfare_loss")


def mev_section(data: ReportData, out_dir: Path) -> Section | None:
    """The section, or None when no run of the sweep had extractors."""
    if "outcome_changed_by_mev" not in data.cols:
        return None
    x_name = _x_axis(data)
    line_name = _line_axis(data, x_name)
    x = np.asarray(data.param(x_name), dtype=float)
    log = _log_like(x)
    lines = group_indices(data.param(line_name)) if line_name else [(None, np.arange(len(x)))]
    fig, axes = _new_figure(4, cols=4, size=(4.2, 3.6))
    colours = _colours(len(lines))
    table_rows: list[tuple[str, ...]] = []
    answers: list[str] = []
    changed, loss = data.cols["outcome_changed_by_mev"], data.cols["welfare_loss"]
    moved, shift = data.cols["mev_stake_changed_share"], data.cols["mev_pass_change"]
    for k, ((line_value, members), colour) in enumerate(zip(lines, colours, strict=True)):
        points = group_indices(x[members])
        xs = np.asarray([value for value, _ in points], dtype=float)
        runs = [members[idx] for _, idx in points]
        rates = [wilson_ci(int(np.count_nonzero(changed[r])), len(r)) for r in runs]
        shifts = [_mean(shift[r], "mev_pass_change") for r in runs]
        losses = [_mean(loss[r], "welfare_loss") for r in runs]
        shares = [_mean(moved[r], "mev_stake_changed_share") for r in runs]
        label = None if line_name is None else f"{line_name} = {format_value(line_value)}"
        shifted = _spread_out(xs, k - (len(lines) - 1) / 2, log)
        for ax, ests in zip(axes, (rates, shifts, losses, shares), strict=True):
            _errorbar(ax, shifted, ests, colour, label)
        where = "" if line_name is None else f"at {line_name} = {format_value(line_value)}, "
        answers.append(where + _answer(x_name, xs, rates))
        for value, rate, up, lo, share in zip(xs, rates, shifts, losses, shares, strict=True):
            table_rows.append(
                (*(() if line_name is None else (format_value(line_value),)),
                 format_value(float(value)), str(rate.n), format_interval(rate, format_share),
                 format_interval(up, format_share), format_interval(lo, WELFARE.format),
                 format_interval(share, format_share))
            )  # fmt: skip
    _label(axes, x_name, log, float(x[x > 0].min()) if log else 1.0)
    if line_name is not None:
        axes[0].legend(fontsize=7, loc="best")
    fig.suptitle(f"{data.name}: extractable value against the honest counterfactual (95% CIs)")
    _save(fig, out_dir / FILE)
    head = (*(() if line_name is None else (line_name,)), x_name, "runs",
            "outcome differs from honest", "pass rate change", "welfare loss",
            "stake cast whose vote changed")  # fmt: skip
    plot = Plot(
        FILE,
        f"Outcome against the honest counterfactual, by {x_name}",
        "Left: share of runs whose outcome differs from the same run with every extractable value "
        f"zero (Wilson 95% intervals; dotted: {format_share(THRESHOLD)}). Second: the pass rate "
        "minus "
        "the honest pass rate (mean of passed - passed_honest; changes both ways cancel, so "
        "this is the value's net push). Third: mean welfare loss, the honest stake-weighted "
        "welfare of the honest outcome minus that of the realised one, as a share of the welfare "
        "at stake (negative: the value happened to improve it). Right: mean share of the stake "
        "cast whose round-0 vote the value changed. Means with Student-t 95% intervals.",
    )
    text = (
        "When does extractable value change outcomes? "
        + "; ".join(a[0].upper() + a[1:] if i == 0 else a for i, a in enumerate(answers))
        + f". Outcomes are said to start to change where at least {format_share(THRESHOLD)} of "
        "runs differ "
        "from their honest counterfactual, read off the non-decreasing least-squares fit of "
        "those shares (interpolated between the swept values that bracket it). Once one vote "
        "differs, the random_fraction schedule's draws go to other agents, so a few outcomes "
        "differ either way by chance; the change in the pass rate is the net effect. Overall, "
        + _overall(changed, shift, loss)
        + "."
    )
    return Section(
        "MEV-aware voting: when does extractable value change outcomes?",
        text=text,
        table=Table(head, tuple(table_rows)),
        plots=(plot,),
    )


def _x_axis(data: ReportData) -> str:
    """mev_value if it varies, else mev_share, else the first swept parameter, else mev_value."""
    for name in ("mev_value", "mev_share"):
        if len(np.unique(data.param(name))) > 1:
            return name
    numeric = [a[0] for a in data.axes if not data.categorical(a[0])]
    return numeric[0] if numeric else "mev_value"


def _line_axis(data: ReportData, x_name: str) -> str | None:
    """The parameter drawn as separate lines: the other MEV one or a swept one (<= MAX_LINES)."""
    names = [n for n in ("mev_share", "mev_value") if n != x_name]
    names += [a[0] for a in data.axes if a[0] not in (x_name, *names)]
    for name in names:
        if 1 < len(np.unique(data.param(name))) <= MAX_LINES:
            return name
    return None


def increasing_fit(values: list[float], weights: list[int]) -> list[float]:
    """The non-decreasing sequence closest to ``values`` in weighted least squares (pool adjacent
    violators): the shares of changed outcomes with the sampling noise that makes them dip
    between neighbouring values removed (more value can only move extractors' votes toward it)."""
    blocks: list[list[float]] = []  # [mean, weight, length]
    for value, weight in zip(values, weights, strict=True):
        blocks.append([value, float(max(weight, 1)), 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m1, w1, n1), (m2, w2, n2) = blocks[-2], blocks.pop()
            blocks[-1] = [(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2]
    return [mean for mean, _, length in blocks for _ in range(int(length))]


def onset(xs: np.ndarray, rates: list[float], threshold: float = THRESHOLD) -> float | None:
    """Where ``rates`` (at increasing ``xs``) first reach ``threshold``: linear interpolation
    between the two values that bracket it; ``xs[0]`` if the first already does; None if none."""
    for i, rate in enumerate(rates):
        if rate >= threshold:
            if i == 0:
                return float(xs[0])
            x0, x1, r0 = float(xs[i - 1]), float(xs[i]), rates[i - 1]
            return x0 + (x1 - x0) * (threshold - r0) / (rate - r0)
    return None


def _answer(x_name: str, xs: np.ndarray, rates: list[Estimate]) -> str:
    values = [r.value for r in rates]
    at = onset(xs, increasing_fit(values, [r.n for r in rates]))
    top = int(np.argmax(values))
    peak = f"the most is {format_interval(rates[top], format_share)} at {x_name} = "
    peak += format_value(float(xs[top]))
    if at is None:
        return (
            f"outcomes stay below {format_share(THRESHOLD)} changed up to {x_name} = "
            f"{format_value(float(xs[-1]))} ({peak})"
        )
    return f"outcomes start to change at {x_name} ≈ {at:.3g} ({peak})"


def _overall(changed: np.ndarray, shift: np.ndarray, loss: np.ndarray) -> str:
    rate = wilson_ci(int(np.count_nonzero(changed)), len(changed))
    up, down = np.count_nonzero(shift > 0) / len(shift), np.count_nonzero(shift < 0) / len(shift)
    welfare = WELFARE
    mean_loss = _mean(loss, "welfare_loss")
    return (
        f"{format_interval(rate, format_share)} of {rate.n} runs differ from their honest "
        f"counterfactual ({format_share(up)} made to pass, {format_share(down)} made to fail), "
        f"at a mean welfare loss of {format_interval(mean_loss, welfare.format)}"
    )


def _spread_out(x: np.ndarray, step: float, log: bool) -> np.ndarray:
    """Points of line ``step`` moved sideways a little (1% of the span; on a log axis, of its
    log span, keeping 0 at 0), so that the lines' intervals do not hide each other."""
    positive = x[x > 0]
    if not log or len(positive) < 2:
        return _dodge(x, step, log=False)
    span = math.log(float(positive.max()) / float(positive.min()))
    return np.asarray(x * math.exp(step * 0.01 * span))


def _mean(values: np.ndarray, column: str) -> Estimate:
    """Mean of ``values`` of outcome ``column``, its interval clipped to the outcome's range."""
    q = quantity(column)
    return mean_ci(values, bounds=(q.low, q.high))


def _log_like(x: np.ndarray) -> bool:
    """Swept values spanning 20x or more are drawn on a symmetric log axis (0 stays linear)."""
    positive = x[x > 0]
    return len(positive) > 1 and float(positive.max() / positive.min()) >= 20


def _label(axes: Any, x_name: str, log: bool, linthresh: float) -> None:
    unit = parameter_label(x_name)
    titles = (
        "outcome differs from honest",
        "pass rate minus honest pass rate",
        "welfare loss",
        "stake cast whose vote changed",
    )
    for ax, title, column in zip(axes, titles, PANELS, strict=True):
        ax.set_title(title)
        ax.set_xlabel(unit)
        ax.set_ylabel(_wrapped(quantity(column).axis_label, 34), fontsize=9)
        if quantity(column).percent:
            share_axis(ax)
        ax.grid(alpha=0.3)
        if log:
            ax.set_xscale("symlog", linthresh=linthresh, linscale=0.5)
    axes[0].set_ylim(bottom=-0.01)
    axes[0].axhline(THRESHOLD, color="0.4", lw=0.8, ls=":")
    for ax in axes[1:3]:
        ax.axhline(0.0, color="0.5", lw=0.8)
