"""The figures of a report: measures against each parameter, heatmaps, and the sensitivity bars.

Readers of a sweep ask how each measure moves with each parameter, where two parameters
interact, and which parameters matter at all. So, per swept parameter, one figure with a panel per
measure: on a grid, one line per value of the next grid axis, each point a grid point's mean over
its replicates with a 95% interval; for sampled designs, every run as a dot plus means over
equal-count bins. For grids with two or more axes, a heatmap per pair of axes with the value
written in each cell. Then the first-order sensitivity index of each measure for each parameter,
or, for sampled designs, the Sobol indices (first-order and total) with their intervals.

Each function draws one PNG, writes it atomically into the report's folder and returns its
:class:`Plot` (file, title, caption) for the pages. Matplotlib is used through ``Figure`` objects
only (no pyplot state, no display needed), and PNGs carry no timestamp, so a report is
reproducible.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simulator.atomic import write_atomic
from sweep_controller.analysis.quantities import format_share, parameter_label
from sweep_controller.analysis.report.data import ReportData
from sweep_controller.analysis.report.measures import (
    HEATMAP_MEASURES,
    MEASURES,
    MEASURES_BY_COLUMN,
    Measure,
    estimate,
    format_value,
)
from sweep_controller.analysis.report.tables import SENSITIVITY_RESAMPLES, Sensitivity
from sweep_controller.analysis.sensitivity import SobolIndices
from sweep_controller.analysis.stats import Estimate, group_indices

__all__ = [
    "Plot",
    "heatmap_figures",
    "parameter_figure",
    "sensitivity_figure",
    "share_axis",
    "sobol_figure",
]

MAX_LINES = 6  # lines per panel before falling back to one pooled line
MAX_HEATMAP_AXES = 4
DPI = 100


@dataclass(frozen=True)
class Plot:
    """One figure of the report: its PNG's file name in the report's folder, title and caption.

    The same figure is written as SVG beside the PNG (:attr:`svg`).
    """

    file: str
    title: str
    caption: str

    @property
    def svg(self) -> str:
        """The file name of the figure's SVG."""
        return str(Path(self.file).with_suffix(".svg"))


def parameter_figure(data: ReportData, axis: tuple[str, ...], out: Path) -> Plot:
    """One figure for a grid axis or design dimension (a zip group is one, at its first)."""
    name = axis[0]
    zipped = f" (zipped with {', '.join(axis[1:])})" if len(axis) > 1 else ""
    fig, axes = _new_figure(len(MEASURES))
    other = _line_axis(data, name)
    binned = data.binned(name)
    for ax, measure in zip(axes, MEASURES, strict=True):
        if binned:
            _binned_panel(ax, data, name, measure)
        else:
            _grouped_panel(ax, data, name, measure, other)
        ax.set_title(measure.label)
        ax.set_xlabel(parameter_label(name))
        ax.set_ylabel(measure.quantity.axis_label, fontsize=9)
        ax.grid(alpha=0.3)
        if measure.rate:
            ax.set_ylim(-0.03, 1.03)
        if measure.quantity.percent:
            share_axis(ax)
    kind = "binned means" if binned else "means over replicates"
    fig.suptitle(f"{data.name}: outcomes against {name}{zipped} ({kind}, 95% intervals)")
    file = f"param-{name}.png"
    _save(fig, out / file)
    if binned:
        how = "Dots are runs; the line joins means over equal-count bins of the parameter."
    elif other:
        how = (
            f"One line per value of {other}; each point is a mean over the runs at that "
            "point (its replicates)."
        )
    else:
        how = "Each point is the mean over every run with that value."
    caption = (
        f"Each panel: an outcome against {name}. {how}"
        " Bars: 95% intervals (Wilson for the pass rate, Student-t for means)."
    )
    return Plot(file, f"Outcomes against {name}{zipped}", caption)


def _line_axis(data: ReportData, name: str) -> str | None:
    """The grid axis drawn as separate lines in ``name``'s panels, if one fits."""
    if data.sampled:
        return None
    for axis in data.axes:
        if name in axis:
            continue
        if len(np.unique(data.cols[axis[0]])) <= MAX_LINES:
            return axis[0]
        return None
    return None


def _grouped_panel(
    ax: Any, data: ReportData, name: str, measure: Measure, other: str | None
) -> None:
    """Means at each value of ``name``, one line per value of ``other``."""
    y = data.cols[measure.column]
    x_groups = group_indices(data.cols[name])
    labels = [value for value, _ in x_groups]
    categorical = data.categorical(name)
    positions = np.arange(len(labels)) if categorical else np.asarray(labels, dtype=float)
    lines = group_indices(data.cols[other]) if other else [(None, np.arange(len(y)))]
    colours = _colours(len(lines))
    log_x = not categorical and data.log_scale(name)
    for k, ((line_value, members), colour) in enumerate(zip(lines, colours, strict=True)):
        in_line = np.zeros(len(y), dtype=bool)
        in_line[members] = True
        ests = [estimate(measure, y[idx[in_line[idx]]]) for _, idx in x_groups]
        shifted = _dodge(positions, k - (len(lines) - 1) / 2, log=log_x)
        label = None if other is None else f"{other} = {format_value(line_value)}"
        _errorbar(ax, shifted, ests, colour, label)
    if categorical:
        ax.set_xticks(positions, [str(v) for v in labels])
        ax.set_xlim(-0.5, len(labels) - 0.5)
    elif log_x:
        _log_axis(ax)
    if other is not None and measure is MEASURES[0]:
        ax.legend(fontsize=7, loc="best")


def _binned_panel(ax: Any, data: ReportData, name: str, measure: Measure) -> None:
    """Every run as a dot, and means over equal-count bins of ``name``."""
    x = np.asarray(data.cols[name], dtype=float)
    y = np.asarray(data.cols[measure.column], dtype=float)
    if measure.rate:  # each run as a tick at 0 (failed) or 1 (passed)
        ax.scatter(x, y, s=30, marker="|", alpha=0.35, color="0.45", linewidths=1)
    else:
        ax.scatter(x, y, s=7, alpha=0.3, color="0.45", linewidths=0)
    groups = group_indices(data.groups(name))
    centres = np.asarray([float(np.median(x[idx])) for _, idx in groups])
    ests = [estimate(measure, data.cols[measure.column][idx]) for _, idx in groups]
    _errorbar(ax, centres, ests, "C0", None)
    if data.log_scale(name):
        _log_axis(ax)


def heatmap_figures(data: ReportData, out: Path) -> list[Plot]:
    """A heatmap figure per pair of grid axes (none for sampled designs or a single axis)."""
    if data.sampled or len(data.axes) < 2:
        return []
    pairs = itertools.combinations(data.axes[:MAX_HEATMAP_AXES], 2)
    return [_heatmap(data, a, b, out) for a, b in pairs]


def _heatmap(data: ReportData, x_axis: tuple[str, ...], y_axis: tuple[str, ...], out: Path) -> Plot:
    cols = data.cols
    xs, ys = group_indices(cols[x_axis[0]]), group_indices(cols[y_axis[0]])
    width = max(5.2, 1.05 * len(xs) + 1.8)
    fig, axes = _new_figure(
        len(HEATMAP_MEASURES), cols=2, size=(width, max(4.2, 0.6 * len(ys) + 2))
    )
    for ax, column in zip(axes, HEATMAP_MEASURES, strict=True):
        measure = MEASURES_BY_COLUMN[column]
        y = cols[column]
        cells = {}
        grid = np.full((len(ys), len(xs)), np.nan)
        for j, (_, yi) in enumerate(ys):
            for i, (_, xi) in enumerate(xs):
                members = np.intersect1d(xi, yi, assume_unique=True)
                if len(members):
                    cells[j, i] = estimate(measure, y[members])
                    grid[j, i] = cells[j, i].value
        limits = {"vmin": 0.0, "vmax": 1.0} if measure.quantity.percent else {}
        image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis", **limits)
        bar = fig.colorbar(image, ax=ax, shrink=0.85)
        bar.set_label(measure.quantity.axis_label, fontsize=8)
        if measure.quantity.percent:
            share_axis(bar.ax)
        lo, hi = image.get_clim()
        for (j, i), est in cells.items():
            bright = (est.value - lo) / (hi - lo) > 0.6 if hi > lo else False
            ax.text(i, j, cell_text(measure, est), ha="center", va="center", fontsize=7,
                    linespacing=1.3, color="black" if bright else "white")  # fmt: skip
        ax.set_xticks(range(len(xs)), [_tick(data, x_axis, idx) for _, idx in xs])
        ax.set_yticks(range(len(ys)), [_tick(data, y_axis, idx) for _, idx in ys])
        ax.set_xlabel(" / ".join(parameter_label(name) for name in x_axis))
        ax.set_ylabel(" / ".join(parameter_label(name) for name in y_axis))
        ax.set_title(("" if measure.rate else "mean ") + measure.label)
    n_cell = len(cols["run_index"]) // max(1, len(xs) * len(ys))
    fig.suptitle(
        f"{data.name}: {' / '.join(y_axis)} x {' / '.join(x_axis)} (about {n_cell} runs per cell; "
        "value and 95% interval)"
    )
    file = f"heatmap-{x_axis[0]}-x-{y_axis[0]}.png"
    _save(fig, out / file)
    caption = (
        f"Each cell: the runs with that {x_axis[0]} and {y_axis[0]}"
        + (", averaged over the other parameters" if len(data.axes) > 2 else "")
        + "; written in it: the pass rate or the mean, and below it its 95% interval "
        "(Wilson for rates, Student-t clipped to the outcome's range for means)."
    )
    return Plot(file, f"{y_axis[0]} x {x_axis[0]}", caption)


def cell_text(measure: Measure, est: Estimate) -> str:
    """A heatmap cell's text: the value, and below it its interval ``[low, high]``."""
    text = measure.format(est.value)
    if not math.isnan(est.low):
        text += f"\n[{measure.format(est.low)}, {measure.format(est.high)}]"
    return text


def _tick(data: ReportData, axis: tuple[str, ...], members: np.ndarray) -> str:
    return " / ".join(format_value(data.cols[name][members[0]].item()) for name in axis)


def sensitivity_figure(data: ReportData, rows: list[Sensitivity], out: Path) -> Plot:
    """Bars of the first-order index and of Spearman's rho of each measure, one bar per
    parameter, each with its bootstrap interval."""
    fig, axes = _new_figure(2, cols=1, size=(max(7.5, 1.9 * len(MEASURES)), 3.4))
    names = [axis[0] for axis in data.axes]
    width = 0.8 / max(1, len(names))
    table = {(r.parameter, r.column): r for r in rows}
    panels = (
        ("first_order", "first-order index\n(share of variance)", 0.0),
        ("spearman", "Spearman rank\ncorrelation", -1.0),
    )
    for ax, (key, ylabel, bottom) in zip(axes, panels, strict=True):
        reach = 0.0
        for k, name in enumerate(names):
            ests = [getattr(table[(name, m.column)], key) for m in MEASURES]
            heights = np.asarray([e.value for e in ests])
            shown = ~np.isnan(heights)
            x = np.arange(len(MEASURES)) + (k - (len(names) - 1) / 2) * width
            ax.bar(x[shown], heights[shown], width=width, label=name, color=f"C{k % 10}")
            low = np.asarray([e.value - e.low for e in ests])
            high = np.asarray([e.high - e.value for e in ests])
            bars = shown & ~np.isnan(low)
            ax.errorbar(x[bars], heights[bars], yerr=[low[bars], high[bars]], fmt="none",
                        ecolor="0.15", elinewidth=1, capsize=3)  # fmt: skip
            reach = max(
                reach,
                float(
                    np.nanmax(np.abs([e.high for e in ests] + [e.low for e in ests]), initial=0.0)
                ),
            )
            for xi in x[~shown]:
                ax.text(xi, 0.0, "n/a", ha="center", va="bottom", fontsize=7, color="0.4")
        ax.set_xticks(range(len(MEASURES)), [_wrapped(m.label) for m in MEASURES], fontsize=8)
        ax.axhline(0.0, color="0.3", lw=0.8)
        top = min(1.0, max(0.2, 1.15 * reach))  # the scale the largest interval needs
        ax.set_ylim(max(bottom, -top) - 0.02, top + 0.02)
        ax.set_ylabel(ylabel, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8, title="parameter", title_fontsize=8)
    fig.suptitle(
        f"{data.name}: how much each outcome depends on each parameter (95% bootstrap intervals)"
    )
    _save(fig, out / "sensitivity.png")
    return Plot(
        "sensitivity.png",
        "Sensitivity",
        "Top: first-order index Var(E[outcome | parameter]) / Var(outcome), estimated from "
        + ("equal-count bins of each parameter" if data.sampled else "the grid's values")
        + " with a small-sample correction; 0 means no main effect. Bottom: Spearman's rank "
        "correlation of the outcome with the parameter (none for a choice parameter). Bars: 95% "
        f"percentile intervals from {SENSITIVITY_RESAMPLES} bootstrap resamples of the runs within "
        "each value (or bin) of the parameter, seeded by the sweep's seed.",
    )


def _wrapped(label: str, width: int = 18) -> str:
    """``label`` broken into lines of at most ``width`` characters, for a tick."""
    import textwrap

    return "\n".join(textwrap.wrap(label, width))


def sobol_figure(data: ReportData, indices: SobolIndices, out: Path) -> Plot:
    """A panel per measure: S1 and ST of each parameter as bars, with their intervals."""
    shown = [m for m in MEASURES if any(o.outcome == m.column for o in indices.outcomes)]
    fig, axes = _new_figure(len(shown))
    names = indices.parameters
    positions = np.arange(len(names))
    legend: dict[str, Any] = {}
    for ax, measure in zip(axes, shown, strict=True):
        entry = indices.outcome(measure.column)
        ax.set_title(measure.label)
        ax.axhline(0.0, color="0.3", lw=0.8)
        ax.set_xticks(positions, names, fontsize=8, rotation=20 if len(names) > 3 else 0)
        ax.grid(axis="y", alpha=0.3)
        found = entry.indices
        if found is None:
            ax.text(0.5, 0.5, f"n/a: {entry.note}", ha="center", va="center", wrap=True,
                    transform=ax.transAxes, fontsize=8)  # fmt: skip
            ax.set_ylim(-0.1, 1.1)
            continue
        bars = (
            ("S1", found.s1, found.s1_conf, -0.2, "C0"),
            ("ST", found.st, found.st_conf, 0.2, "C1"),
        )
        low, high = -0.1, 1.1
        for label, value, conf, shift, colour in bars:
            if np.isnan(value).all():
                continue
            err = np.nan_to_num(conf)
            ax.bar(positions + shift, value, width=0.38, yerr=err, capsize=4, label=label,
                   color=colour, error_kw={"elinewidth": 1.2})  # fmt: skip
            low = min(low, float(np.nanmin(value - err)) - 0.05)
            high = max(high, float(np.nanmax(value + err)) + 0.05)
        if not np.isnan(entry.noise_share):
            ax.axhline(entry.noise_share, color="0.4", ls="--", lw=1, label="noise share")
        ax.set_ylim(low, high)
        ax.set_ylabel("Sobol index (share of variance)")
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    level = format_share(indices.confidence)
    fig.legend(legend.values(), legend.keys(), loc="outside upper right", ncols=3, fontsize=8)
    fig.suptitle(
        f"{data.name}: first-order (S1) and total (ST) Sobol indices, {level} bootstrap intervals"
    )
    file = "sobol-indices.png"
    _save(fig, out / file)
    caption = (
        f"S1: the share of an outcome's variance (over the point means) that a parameter explains "
        f"alone; ST: with its interactions. Bars: {level} intervals from {indices.resamples} "
        f"bootstrap resamples. Dashed: the share of the variance that is replicate noise, which "
        f"adds to every ST. Estimator: {indices.estimator.value} (docs/analysis.md)."
    )
    return Plot(file, "Sobol indices", caption)


def _save(fig: Any, path: Path) -> Path:
    """Write ``fig`` as ``path`` (a PNG) and as SVG beside it, atomically and reproducibly.

    The SVG keeps its text as text (``svg.fonttype: none``): it can be searched and edited,
    and takes the reader's font. Neither file records a date, and the SVG's element ids are
    salted with a constant, so the same figure gives the same bytes.
    """
    from matplotlib import rc_context

    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=DPI, metadata={"Software": None})
    svg = io.BytesIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "govsim-report"}):
        fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    write_atomic(path, png.getvalue())
    write_atomic(path.with_suffix(".svg"), svg.getvalue())
    return path


def share_axis(ax: Any, axis: str = "y") -> None:
    """Label ``ax``'s y (or x) ticks as percentages, in the report's one format for shares."""
    from matplotlib.ticker import FuncFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(lambda value, _: format_share(round(value, 9))))


def _new_figure(panels: int, *, cols: int = 3, size: tuple[float, float] = (4.4, 3.4)) -> Any:
    from matplotlib.figure import Figure

    cols = min(cols, panels)
    rows = -(-panels // cols)
    fig = Figure(figsize=(size[0] * cols, size[1] * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[panels:]:
        ax.set_visible(False)
    return fig, axes[:panels]


def _colours(n: int) -> list[Any]:
    from matplotlib import colormaps

    if n == 1:
        return ["C0"]
    cmap = colormaps["viridis"]
    return [cmap(0.1 + 0.8 * k / (n - 1)) for k in range(n)]


def _log_axis(ax: Any) -> None:
    """A log x axis labelled 1, 2, 5, 10, 20, ... in plain numbers."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _dodge(x: np.ndarray, step: float, *, log: bool) -> np.ndarray:
    """``x`` shifted sideways by ``step`` units of 1% of its span, so error bars do not overlap."""
    if len(x) < 2 or step == 0:
        return x
    if log:
        span = math.log(float(x.max()) / float(x.min()))
        return np.asarray(x * math.exp(step * 0.01 * span))
    return np.asarray(x + step * 0.01 * float(np.ptp(x)))


def _errorbar(
    ax: Any,
    x: np.ndarray,
    ests: Sequence[Estimate],
    colour: Any,
    label: str | None,
) -> None:
    """Means with their intervals."""
    values = np.asarray([e.value for e in ests])
    low = np.asarray([e.value - e.low if not math.isnan(e.low) else 0.0 for e in ests])
    high = np.asarray([e.high - e.value if not math.isnan(e.high) else 0.0 for e in ests])
    ax.errorbar(x, values, yerr=[low, high], fmt="o-", ms=4, lw=1.4, capsize=3, color=colour,
                label=label)  # fmt: skip
