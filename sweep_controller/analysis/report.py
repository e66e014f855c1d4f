"""A sweep's report: PNG plots of every outcome against every swept parameter, and index pages.

Readers of a sweep ask three questions: how does each outcome move with each parameter, where do
two parameters interact, and which parameters matter at all. So the report draws:

- per swept parameter, one figure with a panel per outcome (pass rate, final weighted yes share,
  share of agents flipped, flips per run, cascade rounds run): on a grid, one line per value of
  the next grid axis, each point a grid point's mean over its replicates with a 95% interval; for
  sampled designs, every run as a dot plus means over equal-count bins of the parameter;
- for grids with two or more axes, a heatmap per pair of axes (pass rate, mean flips, mean final
  yes share, mean share flipped) with the value written in each cell;
- a sensitivity figure and table: the first-order index of each outcome for each parameter
  (``sweep_controller.analysis.stats.first_order_index``) and Spearman's rank correlation.

Intervals: Wilson for the pass rate, Student-t for means (``sweep_controller.analysis.stats``). The
pages
``index.html`` and ``index.md`` show a summary table and every figure. Every file is written to a
temporary name and renamed, so a reader never sees a half-written report. Matplotlib is used
through ``Figure`` objects only (no pyplot state, no display needed).
"""

from __future__ import annotations

import html
import io
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sweep_controller.analysis.results import Collected, atomic_write_bytes
from sweep_controller.analysis.stats import (
    Estimate,
    first_order_index,
    group_indices,
    mean_ci,
    quantile_bins,
    spearman,
    wilson_ci,
)
from sweep_controller.errors import ResultsError
from sweep_controller.spec.models import SAMPLED_METHODS
from sweep_controller.spec.parameters import PARAM_KINDS, ParamKind, Scale

__all__ = ["OUTCOMES", "Outcome", "ReportFiles", "write_report"]

MAX_LINES = 6  # lines per panel before falling back to one pooled line
MAX_HEATMAP_AXES = 4
MAX_POINT_ROWS = 100
DPI = 100


@dataclass(frozen=True)
class Outcome:
    """One plotted outcome: its column, label, and whether it is a proportion of runs."""

    column: str
    label: str
    rate: bool = False
    fmt: str = ".2f"


OUTCOMES: tuple[Outcome, ...] = (
    Outcome("passed", "pass rate", rate=True, fmt=".0%"),
    Outcome("yes_share_weighted_final", "final weighted yes share"),
    Outcome("agents_flipped_share", "share of agents flipped"),
    Outcome("flips_total", "flips per run", fmt=".1f"),
    Outcome("rounds_run", "cascade rounds run", fmt=".1f"),
)
HEATMAP_OUTCOMES = ("passed", "flips_total", "yes_share_weighted_final", "agents_flipped_share")
_BY_COLUMN = {o.column: o for o in OUTCOMES}
_ORDER = {o.column: k for k, o in enumerate(OUTCOMES)}


@dataclass(frozen=True)
class Plot:
    """One PNG of the report."""

    file: str
    title: str
    caption: str


@dataclass(frozen=True)
class ReportFiles:
    """What ``write_report`` wrote."""

    out_dir: Path
    index_html: Path
    index_md: Path
    images: tuple[Path, ...]


def estimate(outcome: Outcome, values: np.ndarray) -> Estimate:
    """The outcome's estimate over some runs: Wilson for rates, Student-t for means.

    A t-interval of a few replicates can reach past what the outcome can be (a share below 0);
    the interval is clipped to the outcome's range.
    """
    if outcome.rate:
        return wilson_ci(int(np.count_nonzero(values)), len(values))
    est = mean_ci(values)
    low, high = _limits(outcome)
    return Estimate(est.value, max(est.low, low), min(est.high, high), est.n)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _fmt_estimate(outcome: Outcome, est: Estimate) -> str:
    if math.isnan(est.value):
        return "n/a"
    text = format(est.value, outcome.fmt)
    if not math.isnan(est.low):
        text += f" [{format(est.low, outcome.fmt)}, {format(est.high, outcome.fmt)}]"
    return text


def _save(fig: Any, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return atomic_write_bytes(path, buffer.getvalue())


def _new_figure(panels: int, *, cols: int = 3, size: tuple[float, float] = (4.4, 3.4)) -> Any:
    from matplotlib.figure import Figure

    cols = min(cols, panels)
    rows = -(-panels // cols)
    fig = Figure(figsize=(size[0] * cols, size[1] * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[panels:]:
        ax.set_visible(False)
    return fig, axes[:panels]


class _Report:
    """Builds the figures and tables of one collected sweep."""

    def __init__(self, collected: Collected, out_dir: Path, log: Callable[[str], None]) -> None:
        self.c, self.out, self.log = collected, out_dir, log
        self.spec = collected.sweep.spec
        self.sampled = self.spec.method in SAMPLED_METHODS
        self.cols = collected.columns
        self.axes = [axis for axis in self.spec.axes() if axis[0] in collected.swept]
        self.plots: list[Plot] = []

    # -- helpers ---------------------------------------------------------------------------

    def categorical(self, name: str) -> bool:
        return PARAM_KINDS[name] is ParamKind.CHOICE

    def binned(self, name: str) -> bool:
        """Sampled numeric parameters are binned; grids and choices are grouped by value."""
        return self.sampled and not self.categorical(name)

    def groups(self, name: str) -> np.ndarray:
        """Group label of every run for ``name``: its value, or its quantile bin when binned."""
        x = self.cols[name]
        if self.binned(name):
            return quantile_bins(x, max(3, min(10, len(x) // 20)))
        return x

    def log_scale(self, name: str) -> bool:
        param = self.spec.parameters.get(name)
        return param is not None and param.scale is Scale.LOG

    # -- per-parameter figures -------------------------------------------------------------

    def parameter_figure(self, axis: tuple[str, ...]) -> None:
        """One figure for a grid axis or design dimension (a zip group is one, at its first)."""
        name = axis[0]
        zipped = f" (zipped with {', '.join(axis[1:])})" if len(axis) > 1 else ""
        fig, axes = _new_figure(len(OUTCOMES))
        other = self._line_axis(name)
        for ax, outcome in zip(axes, OUTCOMES, strict=True):
            if self.binned(name):
                self._binned_panel(ax, name, outcome)
            else:
                self._grouped_panel(ax, name, outcome, other)
            ax.set_title(outcome.label)
            ax.set_xlabel(name)
            ax.grid(alpha=0.3)
            if outcome.rate:
                ax.set_ylim(-0.03, 1.03)
        kind = "binned means" if self.binned(name) else "means over replicates"
        fig.suptitle(
            f"{self.c.sweep.name}: outcomes against {name}{zipped} ({kind}, 95% intervals)"
        )
        file = f"param-{name}.png"
        _save(fig, self.out / file)
        caption = (
            f"Each panel: an outcome against {name}. "
            + (
                "Dots are runs; the line joins means over equal-count bins of the parameter."
                if self.binned(name)
                else (
                    f"One line per value of {other}; each point is a mean over the runs at that "
                    "point (its replicates)."
                    if other
                    else "Each point is the mean over every run with that value."
                )
            )
            + " Bars: 95% intervals (Wilson for the pass rate, Student-t for means)."
        )
        self.plots.append(Plot(file, f"Outcomes against {name}{zipped}", caption))

    def _line_axis(self, name: str) -> str | None:
        """The grid axis drawn as separate lines in ``name``'s panels, if one fits."""
        if self.sampled:
            return None
        for axis in self.axes:
            if name in axis:
                continue
            if len(np.unique(self.cols[axis[0]])) <= MAX_LINES:
                return axis[0]
            return None
        return None

    def _grouped_panel(self, ax: Any, name: str, outcome: Outcome, other: str | None) -> None:
        y = self.cols[outcome.column]
        x_groups = group_indices(self.cols[name])
        labels = [value for value, _ in x_groups]
        categorical = self.categorical(name)
        positions = np.arange(len(labels)) if categorical else np.asarray(labels, dtype=float)
        lines = group_indices(self.cols[other]) if other else [(None, np.arange(len(y)))]
        colours = _colours(len(lines))
        log_x = not categorical and self.log_scale(name)
        for k, ((line_value, members), colour) in enumerate(zip(lines, colours, strict=True)):
            in_line = np.zeros(len(y), dtype=bool)
            in_line[members] = True
            ests = [estimate(outcome, y[idx[in_line[idx]]]) for _, idx in x_groups]
            shifted = _dodge(positions, k - (len(lines) - 1) / 2, log=log_x)
            label = None if other is None else f"{other} = {_fmt(line_value)}"
            _errorbar(ax, shifted, ests, colour, label)
        if categorical:
            ax.set_xticks(positions, [str(v) for v in labels])
            ax.set_xlim(-0.5, len(labels) - 0.5)
        elif log_x:
            _log_axis(ax)
        if other is not None and outcome is OUTCOMES[0]:
            ax.legend(fontsize=7, loc="best")

    def _binned_panel(self, ax: Any, name: str, outcome: Outcome) -> None:
        x = np.asarray(self.cols[name], dtype=float)
        y = np.asarray(self.cols[outcome.column], dtype=float)
        if outcome.rate:  # each run as a tick at 0 (failed) or 1 (passed)
            ax.scatter(x, y, s=30, marker="|", alpha=0.35, color="0.45", linewidths=1)
        else:
            ax.scatter(x, y, s=7, alpha=0.3, color="0.45", linewidths=0)
        groups = group_indices(self.groups(name))
        centres = np.asarray([float(np.median(x[idx])) for _, idx in groups])
        ests = [estimate(outcome, self.cols[outcome.column][idx]) for _, idx in groups]
        _errorbar(ax, centres, ests, "C0", None)
        if self.log_scale(name):
            _log_axis(ax)

    # -- heatmaps -------------------------------------------------------------------------

    def heatmaps(self) -> None:
        if self.sampled or len(self.axes) < 2:
            return
        for a, b in itertools.combinations(self.axes[:MAX_HEATMAP_AXES], 2):
            self.heatmap(a, b)

    def heatmap(self, x_axis: tuple[str, ...], y_axis: tuple[str, ...]) -> None:
        xs, ys = group_indices(self.cols[x_axis[0]]), group_indices(self.cols[y_axis[0]])
        fig, axes = _new_figure(len(HEATMAP_OUTCOMES), cols=2, size=(5.2, 4.2))
        for ax, column in zip(axes, HEATMAP_OUTCOMES, strict=True):
            outcome = _BY_COLUMN.get(column) or Outcome(column, column)
            y = self.cols[column]
            grid = np.full((len(ys), len(xs)), np.nan)
            for j, (_, yi) in enumerate(ys):
                for i, (_, xi) in enumerate(xs):
                    members = np.intersect1d(xi, yi, assume_unique=True)
                    if len(members):
                        grid[j, i] = estimate(outcome, y[members]).value
            limits = {"vmin": 0.0, "vmax": 1.0} if outcome.rate or "share" in column else {}
            image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis", **limits)
            fig.colorbar(image, ax=ax, shrink=0.85)
            lo, hi = image.get_clim()
            for (j, i), value in np.ndenumerate(grid):
                if math.isnan(value):
                    continue
                bright = (value - lo) / (hi - lo) > 0.6 if hi > lo else False
                ax.text(i, j, format(value, outcome.fmt), ha="center", va="center", fontsize=8,
                        color="black" if bright else "white")  # fmt: skip
            ax.set_xticks(range(len(xs)), [self._tick(x_axis, idx) for _, idx in xs])
            ax.set_yticks(range(len(ys)), [self._tick(y_axis, idx) for _, idx in ys])
            ax.set_xlabel(" / ".join(x_axis))
            ax.set_ylabel(" / ".join(y_axis))
            ax.set_title(("" if outcome.rate else "mean ") + outcome.label)
        n_cell = len(self.cols["run_index"]) // max(1, len(xs) * len(ys))
        fig.suptitle(
            f"{self.c.sweep.name}: {' / '.join(y_axis)} x {' / '.join(x_axis)} "
            f"(about {n_cell} runs per cell)"
        )
        file = f"heatmap-{x_axis[0]}-x-{y_axis[0]}.png"
        _save(fig, self.out / file)
        caption = (
            f"Each cell: the runs with that {x_axis[0]} and {y_axis[0]}"
            + (", averaged over the other parameters" if len(self.axes) > 2 else "")
            + "; the number written is the pass rate or the mean."
        )
        self.plots.append(Plot(file, f"{y_axis[0]} x {x_axis[0]}", caption))

    def _tick(self, axis: tuple[str, ...], members: np.ndarray) -> str:
        return " / ".join(_fmt(self.cols[name][members[0]].item()) for name in axis)

    # -- sensitivity ----------------------------------------------------------------------

    def sensitivity(self) -> list[tuple[str, str, float, float]]:
        """(parameter, outcome column, first-order index, Spearman rho) for every pair."""
        rows = []
        for axis in self.axes:
            name = axis[0]
            groups = self.groups(name)
            for outcome in OUTCOMES:
                y = np.asarray(self.cols[outcome.column], dtype=float)
                rho = math.nan if self.categorical(name) else spearman(self.cols[name], y)
                rows.append((name, outcome.column, first_order_index(groups, y), rho))
        return rows

    def sensitivity_figure(self, rows: list[tuple[str, str, float, float]]) -> None:
        fig, axes = _new_figure(1, size=(max(6.0, 1.6 * len(OUTCOMES) * 1.4), 3.8))
        ax = axes[0]
        names = [axis[0] for axis in self.axes]
        width = 0.8 / max(1, len(names))
        table = {(p, o): s for p, o, s, _ in rows}
        for k, name in enumerate(names):
            heights = [np.nan_to_num(table[(name, o.column)]) for o in OUTCOMES]
            ax.bar(np.arange(len(OUTCOMES)) + (k - (len(names) - 1) / 2) * width, heights,
                   width=width, label=name, color=f"C{k % 10}")  # fmt: skip
        ax.set_xticks(range(len(OUTCOMES)), [o.label for o in OUTCOMES], fontsize=8)
        top = max((np.nan_to_num(s) for _, _, s, _ in rows), default=0.0)
        ax.set_ylim(0, min(1.0, max(0.2, 1.2 * top)))
        ax.set_ylabel("first-order index")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        fig.suptitle(
            f"{self.c.sweep.name}: share of each outcome's variance explained by one parameter"
        )
        _save(fig, self.out / "sensitivity.png")
        self.plots.append(
            Plot(
                "sensitivity.png",
                "Sensitivity",
                "First-order index Var(E[outcome | parameter]) / Var(outcome), estimated from "
                + ("equal-count bins of each parameter" if self.sampled else "the grid's values")
                + " with a small-sample correction; 0 means no main effect.",
            )
        )

    # -- tables ---------------------------------------------------------------------------

    def summary_rows(self) -> list[tuple[str, str]]:
        c, spec = self.c, self.spec
        all_runs = np.arange(c.n_rows)
        rows = [
            ("sweep", c.sweep.name),
            ("method", str(spec.method)),
            ("swept parameters", ", ".join(c.swept) or "none"),
            ("points", str(spec.n_points)),
            ("replicates", str(spec.replicates)),
            ("runs collected", f"{c.n_rows} of {spec.n_runs}"),
            ("tasks collected", f"{len(c.tasks_read)} of {spec.n_tasks}"),
        ]
        for column in ("passed", "passed_initial"):
            label = "pass rate" if column == "passed" else "pass rate before influence"
            est = wilson_ci(int(np.count_nonzero(self.cols[column][all_runs])), c.n_rows)
            rows.append((f"{label} (95% CI)", _fmt_estimate(_BY_COLUMN["passed"], est)))
        for outcome in OUTCOMES[1:]:
            rows.append(
                (
                    f"mean {outcome.label}",
                    _fmt_estimate(outcome, estimate(outcome, self.cols[outcome.column])),
                )
            )
        return rows

    def point_rows(self) -> tuple[list[str], list[list[str]]] | None:
        points = group_indices(self.cols["point_index"])
        if len(points) > MAX_POINT_ROWS:
            return None
        head = ["point", *self.c.swept, "runs", *[o.label for o in OUTCOMES[:4]]]
        body = []
        for point, idx in points:
            cells = [str(point), *(_fmt(self.cols[n][idx[0]].item()) for n in self.c.swept)]
            cells.append(str(len(idx)))
            cells += [_fmt_estimate(o, estimate(o, self.cols[o.column][idx])) for o in OUTCOMES[:4]]
            body.append(cells)
        return head, body


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


def _limits(outcome: Outcome) -> tuple[float, float]:
    """The range an outcome's mean can take: shares in [0, 1], counts at least 0."""
    if outcome.rate or "share" in outcome.column:
        return 0.0, 1.0
    return 0.0, math.inf


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


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def _html_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    trs = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def _sensitivity_table(
    rows: list[tuple[str, str, float, float]],
) -> tuple[list[str], list[list[str]]]:
    head = ["parameter", "outcome", "first-order index", "Spearman rho"]
    body = [
        [p, _BY_COLUMN[o].label, "n/a" if math.isnan(s) else f"{s:.2f}",
         "n/a" if math.isnan(r) else f"{r:+.2f}"]
        for p, o, s, r in sorted(rows, key=lambda row: (_ORDER[row[1]], -np.nan_to_num(row[2])))
    ]  # fmt: skip
    return head, body


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:left;font-size:14px}img{max-width:100%;border:1px solid #eee}"
    "figure{margin:2em 0}figcaption{color:#444}"
)


def _pages(rep: _Report, sens: list[tuple[str, str, float, float]]) -> tuple[str, str]:
    """(Markdown, HTML) of the index page."""
    name = rep.c.sweep.name
    md = [f"# Sweep report: {name}", "", "## Summary", "", *_md_table(["", ""], rep.summary_rows())]
    body = [f"<h1>Sweep report: {html.escape(name)}</h1>", "<h2>Summary</h2>",
            _html_table(["", ""], rep.summary_rows())]  # fmt: skip
    if rep.c.missing:
        note = (
            f"Incomplete: {len(rep.c.missing)} task(s) not done; the figures show the runs "
            "collected so far."
        )
        md += ["", f"**{note}**"]
        body.append(f"<p><strong>{html.escape(note)}</strong></p>")
    md += ["", "## Figures", ""]
    body.append("<h2>Figures</h2>")
    for plot in rep.plots:
        md += [f"### {plot.title}", "", f"![{plot.title}]({plot.file})", "", plot.caption, ""]
        body.append(
            f'<figure><h3>{html.escape(plot.title)}</h3><img src="{html.escape(plot.file)}" '
            f'alt="{html.escape(plot.title)}"><figcaption>{html.escape(plot.caption)}'
            "</figcaption></figure>"
        )
    if sens:
        head, rows = _sensitivity_table(sens)
        md += ["## Sensitivity", "", *_md_table(head, rows), ""]
        body += ["<h2>Sensitivity</h2>", _html_table(head, rows)]
    points = rep.point_rows()
    if points is not None:
        md += [
            "## Points",
            "",
            "Mean [95% interval] over each point's runs.",
            "",
            *_md_table(*points),
            "",
        ]
        body += ["<h2>Points</h2>", "<p>Mean [95% interval] over each point's runs.</p>",
                 _html_table(*points)]  # fmt: skip
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(name)} report"
        f"</title><style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )
    return "\n".join(md) + "\n", page


def write_report(
    collected: Collected, out_dir: str | Path, *, log: Callable[[str], None] = lambda _: None
) -> ReportFiles:
    """Draw every figure of ``collected`` into ``out_dir`` and write index.html and index.md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rep = _Report(collected, out, log)
    if collected.n_rows == 0:
        raise ResultsError(f"{collected.sweep.name}: no task is done yet: nothing to report")
    for k, axis in enumerate(rep.axes, start=1):
        log(f"plotting {' / '.join(axis)} ({k}/{len(rep.axes)})")
        rep.parameter_figure(axis)
    log("plotting heatmaps")
    rep.heatmaps()
    sens = rep.sensitivity() if collected.swept else []
    if sens:
        rep.sensitivity_figure(sens)
    md, page = _pages(rep, sens)
    index_md = atomic_write_bytes(out / "index.md", md.encode())
    index_html = atomic_write_bytes(out / "index.html", page.encode())
    images = tuple(out / plot.file for plot in rep.plots)
    return ReportFiles(out, index_html, index_md, images)
