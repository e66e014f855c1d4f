"""The report's conventions: every outcome has a label, unit and range; intervals stay inside the
range; one format for shares and zeros; heatmap cells carry their interval; sensitivity intervals.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
from kit.specs import sweep_doc

from sweep_controller.analysis.quantities import (
    QUANTITIES,
    Kind,
    format_number,
    format_share,
    parameter_label,
)
from sweep_controller.analysis.report.data import ReportData
from sweep_controller.analysis.report.figures import cell_text, heatmap_figures
from sweep_controller.analysis.report.measures import (
    HEATMAP_MEASURES,
    MEASURES,
    Measure,
    estimate,
    format_estimate,
    format_value,
)
from sweep_controller.analysis.report.tables import sensitivity_rows, sensitivity_table
from sweep_controller.analysis.results import Collected
from sweep_controller.analysis.stats import Estimate, mean_ci
from sweep_controller.spec.columns import OUTCOME_COLUMNS, SCENARIO_COLUMNS, outcome_range
from sweep_controller.spec.loading import parse_sweep

SVG = "{http://www.w3.org/2000/svg}"
WHALES = (0.05, 0.2, 0.4)
CONFORMITY = (0.3, 0.8)


def test_every_outcome_column_has_a_label_unit_and_range() -> None:
    columns = {*OUTCOME_COLUMNS, *SCENARIO_COLUMNS}
    assert set(QUANTITIES) == columns  # no outcome left out, none invented
    for column, q in QUANTITIES.items():
        assert q.label, column
        if q.kind is Kind.LABEL:
            continue
        assert q.unit, column
        assert q.low < q.high and not math.isinf(q.low), column  # every range has a lower end
        if q.kind is Kind.RATE:
            assert (q.low, q.high) == (0.0, 1.0), column
        known = outcome_range(column)  # what a search objective is bounded by agrees
        if known is not None:
            assert (q.low, q.high) == known, column
    assert QUANTITIES["nakamoto_cast"].low == 1.0  # a Nakamoto count is at least one voter
    assert QUANTITIES["passed"].axis_label == "pass rate (% of runs)"
    assert QUANTITIES["flips_total"].axis_label == "flips per run (flips)"
    assert parameter_label("whale_ratio") == "whale_ratio (share of agents)"
    assert parameter_label("influence_model") == "influence_model"  # a choice has no unit


@pytest.mark.parametrize(
    ("column", "values", "side"),
    [
        ("yes_share_weighted_final", [0.0, 0.0, 0.0, 0.9], "low"),  # t-interval below 0
        ("agents_flipped_share", [1.0, 1.0, 1.0, 0.1], "high"),  # t-interval above 1
        ("flips_total", [0, 0, 0, 40], "low"),  # a count below 0
        ("nakamoto_cast", [1, 1, 1, 9], "low"),  # a Nakamoto count below 1
        ("welfare_regret", [0.0, 0.0, 0.0, 0.8], "low"),
    ],
)
def test_intervals_are_clipped_to_the_outcome_range(
    column: str, values: list[float], side: str
) -> None:
    measure = Measure(column)
    low, high = measure.limits
    raw = mean_ci(np.asarray(values, dtype=float))
    assert raw.low < low if side == "low" else raw.high > high  # the case does exceed the range
    est = estimate(measure, np.asarray(values, dtype=float))
    assert est.value == raw.value
    assert low <= est.low <= est.value <= est.high <= high
    assert (est.low == low) if side == "low" else (est.high == high)
    # the other side keeps its t bound where it is inside the range
    assert (est.high == min(raw.high, high)) if side == "low" else (est.low == max(raw.low, low))


def test_mean_ci_clips_both_sides_at_once() -> None:
    est = mean_ci(np.asarray([0.0, 1.0]), bounds=(0.0, 1.0))  # t with 1 df: far past both ends
    assert (est.low, est.value, est.high) == (0.0, 0.5, 1.0)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0%"),
        (-0.0, "0%"),
        (1.0, "100%"),
        (0.375, "37.5%"),
        (0.2, "20%"),
        (0.05, "5%"),
        (0.0004, "<0.1%"),
        (0.9996, ">99.9%"),
        (0.12345, "12.3%"),
        (-0.031, "-3.1%"),
        (math.nan, "n/a"),
    ],
)
def test_one_format_for_shares(value: float, text: str) -> None:
    assert format_share(value) == text
    assert QUANTITIES["turnout_share"].format(value) == text
    assert QUANTITIES["passed"].format(value) == text


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [
        (0.0, 2, "0"),
        (-0.0, 2, "0"),
        (0, 1, "0"),
        (-0.001, 2, "0.00"),  # rounds to zero but is not zero: never "-0.00"
        (-0.04, 1, "0.0"),
        (12.26, 1, "12.3"),
        (-0.26, 2, "-0.26"),
        (math.nan, 2, "n/a"),
    ],
)
def test_a_zero_is_shown_as_zero(value: float, decimals: int, text: str) -> None:
    assert format_number(value, decimals) == text


@pytest.mark.parametrize(
    ("measure", "est", "text"),
    [
        (Measure("passed"), Estimate(0.0, 0.0, 0.4899, 4), "0% [0%, 49%]"),
        (Measure("flips_total"), Estimate(0.0, 0.0, 0.0, 4), "0 [0, 0]"),
        (Measure("flips_total"), Estimate(2.25, 0.0, 5.04, 4), "2.2 [0, 5.0]"),
        (Measure("agents_flipped_share"), Estimate(0.02, 0.0, 0.03, 9), "2% [0%, 3%]"),
        (Measure("passed"), Estimate(1.0, 0.6, 1.0, 3), "100% [60%, 100%]"),
        (Measure("passed"), Estimate(math.nan, math.nan, math.nan, 0), "n/a"),
    ],
)
def test_estimates_in_tables(measure: Measure, est: Estimate, text: str) -> None:
    assert format_estimate(measure, est) == text


@pytest.mark.parametrize(("value", "text"), [(0.0, "0"), (-0.0, "0"), (0.25, "0.25"), (3, "3")])
def test_parameter_values(value: object, text: str) -> None:
    assert format_value(value) == text


def grid(replicates: int, *, seed: int = 0) -> ReportData:
    """A collected 3 x 2 grid (whale_ratio x conformity_threshold) whose outcomes follow
    whale_ratio alone, plus noise; conformity_threshold has no effect."""
    sweep = parse_sweep(
        sweep_doc(
            "conventions",
            parameters={
                "whale_ratio": {"values": list(WHALES)},
                "conformity_threshold": {"values": list(CONFORMITY)},
            },
            replicates=replicates,
        )
    )
    rng = np.random.default_rng(seed)
    points = [(w, c) for w in WHALES for c in CONFORMITY]
    whale = np.repeat([w for w, _ in points], replicates)
    conformity = np.repeat([c for _, c in points], replicates)
    n = len(whale)
    share = np.clip(whale * 2 + rng.normal(0, 0.08, n), 0, 1)
    columns = {
        "run_index": np.arange(n),
        "point_index": np.repeat(np.arange(len(points)), replicates),
        "whale_ratio": whale,
        "conformity_threshold": conformity,
        "passed": rng.random(n) < share,
        "outcome_changed_by_cascade": rng.random(n) < 0.1,
        "yes_share_weighted_final": share,
        "agents_flipped_share": np.clip(0.3 - whale / 2 + rng.normal(0, 0.05, n), 0, 1),
        "flips_total": rng.poisson(5 + 40 * whale),
        "rounds_run": rng.integers(1, 4, n),
    }
    return ReportData(Collected(sweep, ("whale_ratio", "conformity_threshold"), columns, (0,), 0))


def svg_texts(path: Path) -> list[str]:
    root = ElementTree.parse(path).getroot()  # valid XML
    return ["".join(node.itertext()).strip() for node in root.iter(f"{SVG}text")]


def test_heatmap_cells_carry_their_interval(tmp_path: Path) -> None:
    data = grid(5)
    (plot,) = heatmap_figures(data, tmp_path)
    assert (tmp_path / plot.file).exists() and (tmp_path / plot.svg).exists()
    texts = svg_texts(tmp_path / plot.svg)
    cells = len(WHALES) * len(CONFORMITY)
    intervals = [t for t in texts if re.fullmatch(r"\[[^,\]]+, [^,\]]+\]", t)]
    assert len(intervals) == cells * len(HEATMAP_MEASURES)  # one under every cell's value
    shares = [t for t in intervals if "%" in t]
    assert len(shares) == cells * 4  # pass rate, changed, yes share, agents flipped: percent
    assert "whale_ratio (share of agents)" in texts
    assert "flips per run (flips)" in texts  # a colour bar names its outcome and unit
    # the text of one cell, from its estimate
    measure = Measure("yes_share_weighted_final")
    assert cell_text(measure, Estimate(0.5, 0.25, 0.75, 5)) == "50%\n[25%, 75%]"
    assert cell_text(measure, Estimate(0.5, math.nan, math.nan, 1)) == "50%"


def test_sensitivity_intervals() -> None:
    data = grid(8)
    rows = sensitivity_rows(data, resamples=200, seed=3)
    again = sensitivity_rows(data, resamples=200, seed=3)
    other = sensitivity_rows(data, resamples=200, seed=4)
    assert rows == again  # same seed: identical
    assert rows != other  # another seed: other resamples
    by = {(r.parameter, r.column): r for r in rows}
    assert len(rows) == 2 * len(MEASURES)
    for r in rows:
        for est in (r.first_order, r.spearman):
            if not math.isnan(est.value):
                assert est.low <= est.value <= est.high
        if not math.isnan(r.first_order.low):
            assert r.first_order.low >= 0.0 and r.first_order.high <= 1.0
    # the yes share follows whale_ratio: its index is far from 0; conformity's is not
    driven = by[("whale_ratio", "yes_share_weighted_final")]
    assert driven.first_order.low > 0.3 and driven.spearman.low > 0.5
    idle = by[("conformity_threshold", "yes_share_weighted_final")]
    assert idle.first_order.low == 0.0 and idle.spearman.low < 0 < idle.spearman.high
    # more runs, narrower intervals
    width = {}
    for replicates in (8, 80):
        r = {(s.parameter, s.column): s for s in sensitivity_rows(grid(replicates), seed=3)}
        est = r[("whale_ratio", "flips_total")].first_order
        width[replicates] = est.high - est.low
    assert width[80] < width[8] / 2
    table = sensitivity_table(rows)
    assert table.head[2:] == ("first-order index [95% CI]", "Spearman rho [95% CI]")
    assert all(re.fullmatch(r"-?\d+(\.\d+)? \[-?\d+(\.\d+)?, -?\d+(\.\d+)?\]", c) for row in
               table.rows for c in row[2:])  # fmt: skip
