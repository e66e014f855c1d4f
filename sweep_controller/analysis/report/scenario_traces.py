"""The report's agent-traces section: how large and deep are cascades, and how much is the whales'?

A sweep with ``traces: parquet`` records each run's cascade trees (docs/model.md 11.5): the size
and depth distributions of its trees and the share of the stake whose final vote the rounds
changed that descends from a whale-signal flip. The section pools the trees of the runs in each
group (a value of the first swept parameter, when it has at most ``MAX_LINES`` values; else all
runs) and draws the complementary cumulative distribution of tree sizes on log-log axes, the
distribution of depths, and the whale-signal share with how often it decided the outcome. Runs,
not trees, are the independent units: the bands and bars of the distributions are 95% percentile
intervals over ``BOOTSTRAP`` resamplings of the group's runs (a fixed generator, so the report is
reproducible); the whale-signal share has a Student-t interval and the decisive rate a Wilson one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sweep_controller.analysis.quantities import (
    format_number,
    format_share,
    parameter_label,
    quantity,
)
from sweep_controller.analysis.report.data import ReportData
from sweep_controller.analysis.report.figures import (
    MAX_LINES,
    Plot,
    _colours,
    _errorbar,
    _new_figure,
    _save,
    share_axis,
)
from sweep_controller.analysis.report.measures import format_interval, format_value
from sweep_controller.analysis.report.pages import Section
from sweep_controller.analysis.report.tables import Table
from sweep_controller.analysis.stats import Estimate, group_indices, mean_ci, wilson_ci
from sweep_controller.spec.scenario_columns import parse_counts

__all__ = ["BOOTSTRAP", "ccdf", "count_matrix", "traces_section"]

SHARE_RANGE = (quantity("whale_signal_share").low, quantity("whale_signal_share").high)

BOOTSTRAP = 400
"""Resamplings of the runs behind each interval of a pooled distribution."""
LARGE = 10
"""Trees of at least this many flips are called large in the text and the table."""
FILE = "scenario-traces.png"


def count_matrix(cells: np.ndarray, *, pairs: bool) -> tuple[np.ndarray, np.ndarray]:
    """Runs x values matrix of tree counts from the text columns, and the values (increasing).

    ``pairs``: cells are ``'size:trees ...'`` (``cascade_sizes``); else ``'trees trees ...'`` by
    depth 0, 1, ... (``cascade_depths``).
    """
    rows = [
        parse_counts(str(c)) if pairs else list(enumerate(int(v) for v in str(c).split()))
        for c in cells
    ]
    values = np.unique([v for row in rows for v, _ in row]).astype(np.int64)
    matrix = np.zeros((len(rows), len(values)), dtype=np.int64)
    for i, row in enumerate(rows):
        for v, count in row:
            matrix[i, np.searchsorted(values, v)] = count
    return matrix, values


def ccdf(counts: np.ndarray) -> np.ndarray:
    """P(X >= value) at each value, from counts by increasing value (last axis)."""
    tail = np.cumsum(counts[..., ::-1], axis=-1)[..., ::-1]
    total = tail[..., :1]
    return np.divide(tail, total, out=np.full(tail.shape, np.nan), where=total > 0)


def _resampled(matrix: np.ndarray, seed: int) -> np.ndarray:
    """``BOOTSTRAP`` x values: the pooled counts of resamplings (with replacement) of the runs."""
    rng = np.random.default_rng(seed)
    n = len(matrix)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=BOOTSTRAP)
    return weights @ matrix


def traces_section(data: ReportData, out_dir: Path) -> Section | None:
    """The section, or None when the sweep wrote no traces."""
    if "cascade_sizes" not in data.cols:
        return None
    group_name, groups = _groups(data)
    sizes, size_values = count_matrix(data.cols["cascade_sizes"], pairs=True)
    depths, depth_values = count_matrix(data.cols["cascade_depths"], pairs=False)
    share, decisive = data.cols["whale_signal_share"], data.cols["whale_signal_decisive"]
    fig, axes = _new_figure(3)
    colours = _colours(len(groups))
    rows: list[tuple[str, ...]] = []
    share_ests, decisive_ests, labels = [], [], []
    width = 0.8 / len(groups)
    for k, ((value, runs), colour) in enumerate(zip(groups, colours, strict=True)):
        label = "all runs" if group_name is None else f"{group_name} = {format_value(value)}"
        labels.append("all runs" if group_name is None else format_value(value))
        pooled = sizes[runs].sum(axis=0)
        if pooled.sum():
            boot = ccdf(_resampled(sizes[runs], k))
            low, high = np.nanpercentile(boot, [2.5, 97.5], axis=0)
            axes[0].fill_between(size_values, low, high, step="post", color=colour, alpha=0.2)
            axes[0].step(size_values, ccdf(pooled), where="post", color=colour, label=label)
        by_depth = depths[runs].sum(axis=0)
        if by_depth.sum():
            boot = _resampled(depths[runs], 1000 + k)
            shares = boot / np.maximum(boot.sum(axis=1, keepdims=True), 1)
            low, high = np.percentile(shares, [2.5, 97.5], axis=0)
            mid = by_depth / by_depth.sum()
            at = depth_values + (k - (len(groups) - 1) / 2) * width
            axes[1].bar(at, mid, width=width, color=colour, yerr=[mid - low, high - mid],
                        capsize=2, label=label)  # fmt: skip
        share_ests.append(mean_ci(share[runs], bounds=SHARE_RANGE))
        decisive_ests.append(wilson_ci(int(np.count_nonzero(decisive[runs])), len(runs)))
        rows.append(_row(label, runs, sizes, size_values, depths, depth_values,
                         share_ests[-1], decisive_ests[-1]))  # fmt: skip
    x = np.arange(len(groups), dtype=float)
    _errorbar(axes[2], x - 0.08, share_ests, "C0", "whale-signal share of the changed stake")
    _errorbar(axes[2], x + 0.08, decisive_ests, "C3", "whale signal decided the outcome")
    axes[2].set_xticks(x, labels)
    axes[2].set_xlim(-0.5, len(groups) - 0.5)
    axes[2].set_xlabel(parameter_label(group_name) if group_name else "")
    _label(axes, group_name is not None)
    fig.suptitle(f"{data.name}: cascade trees of the flip traces (95% intervals)")
    _save(fig, out_dir / FILE)
    plot = Plot(
        FILE,
        "Cascade sizes, depths and the whale signal's share",
        "Left: share of cascade trees with at least s flips (log-log; bands: 95% intervals over "
        f"{BOOTSTRAP} resamplings of the runs). Middle: share of trees of each depth "
        "(generations below the root). Right: the share of the stake whose final vote the "
        "rounds changed that descends from a whale-signal flip (mean over runs, Student-t "
        "interval), and the share of runs in which setting those voters back to their round-0 "
        "votes changes the outcome (Wilson interval).",
    )
    head = ("group", "runs", "trees per run", "mean size", f"size >= {LARGE}", "largest",
            "deepest", "whale-signal share", "whale signal decisive")  # fmt: skip
    return Section(
        "Agent traces: cascade trees and the whale signal",
        text=_text(sizes, size_values, depths, depth_values, share, decisive),
        table=Table(head, tuple(rows)),
        plots=(plot,),
    )


def _groups(data: ReportData) -> tuple[str | None, list[tuple[Any, np.ndarray]]]:
    """The first swept parameter with at most MAX_LINES groups, and its groups; else all runs."""
    for axis in data.axes:
        groups = group_indices(data.groups(axis[0]))
        if 1 < len(groups) <= MAX_LINES:
            return axis[0], groups
    return None, [(None, np.arange(len(data.cols["run_index"])))]


def _row(label: str, runs: np.ndarray, sizes: np.ndarray, size_values: np.ndarray,
         depths: np.ndarray, depth_values: np.ndarray, share: Estimate,
         decisive: Estimate) -> tuple[str, ...]:  # fmt: skip
    pooled = sizes[runs].sum(axis=0)
    trees = int(pooled.sum())
    flips = int(pooled @ size_values) if trees else 0
    large = int(pooled[size_values >= LARGE].sum())
    present = depth_values[depths[runs].sum(axis=0) > 0]
    return (
        label,
        str(len(runs)),
        format_number(trees / len(runs), 1),
        format_number(flips / trees, 2) if trees else "n/a",
        f"{format_share(large / trees)}" if trees else "n/a",
        str(int(size_values[pooled > 0].max())) if trees else "0",
        str(int(present.max())) if len(present) else "n/a",
        format_interval(share, format_share),
        format_interval(decisive, format_share),
    )


def _text(sizes: np.ndarray, size_values: np.ndarray, depths: np.ndarray,
          depth_values: np.ndarray, share: np.ndarray, decisive: np.ndarray) -> str:  # fmt: skip
    pooled, by_depth = sizes.sum(axis=0), depths.sum(axis=0)
    trees = int(pooled.sum())
    runs = len(sizes)
    if trees == 0:
        return f"No run of the {runs} flipped a vote: there are no cascades to describe."
    single = pooled[size_values == 1].sum() / trees
    large = pooled[size_values >= LARGE].sum() / trees
    deep = depth_values[by_depth > 0]
    shallow = by_depth[depth_values <= 1].sum() / trees
    s, d = mean_ci(share, bounds=SHARE_RANGE), wilson_ci(int(np.count_nonzero(decisive)), runs)
    return (
        f"How large and deep are cascades? Over {runs} runs, {trees} cascade trees: "
        f"{format_share(single)} are a single flip, {format_share(large)} reach {LARGE} flips or "
        f"more, and the largest has {int(size_values[pooled > 0].max())}; "
        f"{format_share(shallow)} have depth 0 or 1 "
        f"and the deepest has depth {int(deep.max())}. How much of the outcome is the whale "
        f"signal's? On average {format_interval(s, format_share)} of the stake whose final vote "
        "the "
        f"influence rounds changed descends from a whale-signal flip (runs in which some final "
        f"vote changed: {s.n}), and setting those voters back to their round-0 votes changes the "
        f"outcome in {format_interval(d, format_share)} of the runs."
    )


def _label(axes: Any, legend: bool) -> None:
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("cascade size s (flips in the tree)")
    axes[0].set_ylabel("P(size >= s)")
    axes[0].set_title("cascade size distribution (CCDF)")
    axes[1].set_xlabel("depth (generations below the root)")
    axes[1].set_ylabel("share of trees (%)")
    share_axis(axes[1])
    axes[1].set_title("cascade depth")
    axes[2].set_ylabel("share of changed stake / of runs (%)")
    share_axis(axes[2])
    axes[2].set_ylim(-0.03, 1.03)
    axes[2].set_title("whale signal")
    for ax in axes:
        ax.grid(alpha=0.3)
    if legend:
        axes[0].legend(fontsize=7, loc="best")
    axes[2].legend(fontsize=7, loc="best")
