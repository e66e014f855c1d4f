"""The research scenarios in the results table and the report: columns only when a sweep uses the
scenario, and a section with a figure that answers its question."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from kit.runs import open_output, task_lines
from kit.specs import document, write_spec
from matplotlib.image import imread

from sweep_controller.analysis.report import write_report
from sweep_controller.analysis.report.scenario_mev import increasing_fit, onset
from sweep_controller.analysis.report.scenario_traces import ccdf, count_matrix
from sweep_controller.analysis.results import BASE_COLUMNS, OUTCOME_COLUMNS, collect
from sweep_controller.execution.runner import run_sweep
from sweep_controller.spec.loading import load_sweep
from sweep_controller.spec.scenario_columns import (
    MEV_COLUMNS,
    TRACE_COLUMNS,
    format_counts,
    parse_counts,
)

# -- pure parts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "weights", "fit"),
    [([0.0, 0.1, 0.3], [1, 1, 1], [0.0, 0.1, 0.3]),  # already increasing
     ([0.3, 0.1], [1, 1], [0.2, 0.2]),  # one violation: the pooled mean
     ([0.3, 0.1], [3, 1], [0.25, 0.25]),  # weighted: (0.9 + 0.1) / 4
     ([0.0, 0.2, 0.1, 0.1, 0.5], [1, 1, 1, 1, 1], [0.0, 0.4 / 3, 0.4 / 3, 0.4 / 3, 0.5])],
)  # fmt: skip
def test_increasing_fit_pools_adjacent_violators(
    values: list[float], weights: list[int], fit: list[float]
) -> None:
    assert increasing_fit(values, weights) == pytest.approx(fit)


def test_onset_interpolates_between_the_bracketing_values() -> None:
    xs = np.array([0.0, 1.0, 3.0])
    assert onset(xs, [0.0, 0.02, 0.08]) == pytest.approx(1.0 + 2.0 * 0.03 / 0.06)  # 2.0
    assert onset(xs, [0.06, 0.1, 0.2]) == 0.0
    assert onset(xs, [0.0, 0.01, 0.049]) is None
    assert onset(xs, [0.0, 0.05, 0.2]) == 1.0


def test_counts_text_round_trips_and_forms_a_matrix() -> None:
    assert format_counts([(1, 40), (2, 7), (9, 1)]) == "1:40 2:7 9:1"
    assert parse_counts("1:40 2:7 9:1") == [(1, 40), (2, 7), (9, 1)]
    assert parse_counts("") == []
    matrix, values = count_matrix(np.array(["1:3 4:1", "", "2:2"]), pairs=True)
    assert values.tolist() == [1, 2, 4]
    assert matrix.tolist() == [[3, 0, 1], [0, 0, 0], [0, 2, 0]]
    depths, levels = count_matrix(np.array(["3 1", "2 0 1"]), pairs=False)
    assert levels.tolist() == [0, 1, 2] and depths.tolist() == [[3, 1, 0], [2, 0, 1]]


def test_ccdf_by_hand() -> None:
    # 3 trees of size 1, 2 of size 2, 1 of size 4: P(S >= 1, 2, 4) = 6/6, 3/6, 1/6
    assert ccdf(np.array([3, 2, 1])) == pytest.approx([1.0, 0.5, 1 / 6])
    assert np.isnan(ccdf(np.array([0, 0]))).all()


# -- sweeps -------------------------------------------------------------------------------------


def run(tmp_path: Path, name: str, **spec: object) -> Path:
    base: dict[str, object] = {"replicates": 4, "seed": 5, "runsPerTask": 8,
                               "output": {"uri": f"file://{tmp_path}/out"}}  # fmt: skip
    path = write_spec(tmp_path / f"{name}.yaml", document(name, base | spec))
    assert (
        run_sweep(load_sweep(path), workers=1, progress=False, handle_signals=False).exit_code == 0
    )
    return path


def assert_png(path: Path) -> None:
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 600
    assert float(np.std(image[..., :3])) > 0.05


@pytest.mark.slow
def test_mev_sweep_columns_and_section(tmp_path: Path) -> None:
    spec = run(
        tmp_path, "mev",
        simulator={"agents": 300, "mev_value": 5.0},
        parameters={"mev_share": {"values": [0.0, 0.3]}},
    )  # fmt: skip
    collected = collect(load_sweep(spec))
    cols = collected.columns
    assert list(cols) == [*BASE_COLUMNS, "mev_share", *OUTCOME_COLUMNS, *MEV_COLUMNS]
    off = cols["mev_share"] == 0.0
    # runs without extractors are their own honest counterfactual
    assert (cols["passed_honest"][off] == cols["passed"][off]).all()
    assert (
        not cols["outcome_changed_by_mev"][off].any() and (cols["mev_extractors"][off] == 0).all()
    )
    assert (cols["mev_extractors"][~off] == 90).all()  # round(0.3 x 300)
    # the other columns agree with the records' blocks
    sweep, store = open_output(spec)
    records = {
        (r := json.loads(line))["run_index"]: r
        for lines in task_lines(store, sweep).values()
        for line in lines
    }
    for i, run_index in enumerate(cols["run_index"]):
        m = records[int(run_index)].get("mev")
        assert (m is None) == bool(off[i])
        if m is not None:
            assert cols["welfare_loss"][i] == m["welfare_loss"]
            assert cols["mev_pass_change"][i] == int(cols["passed"][i]) - int(m["passed_honest"])
    files = write_report(collected, tmp_path / "report")
    md = files.index_md.read_text()
    assert "## MEV-aware voting: when does extractable value change outcomes?" in md
    # mev_value is fixed, so the x axis is mev_share and there is one line
    s = r"[\d.]+%"  # a share
    answer = rf"\(the most is {s} \[{s}, {s}\] at"
    assert re.search(r"Outcomes (start to change at mev_share ≈ [\d.]+|stay below 5% changed up "
                     r"to mev_share = 0\.3) " + answer, md)  # fmt: skip
    assert "| mev_share | runs | outcome differs from honest | pass rate change |" in md
    assert "| 0 | 4 | 0% [0%, 49%] | 0% [0%, 0%] | 0 [0, 0] |" in md  # no extractors
    assert_png(tmp_path / "report" / "scenario-mev.png")
    assert "scenario-mev.png" in files.index_html.read_text()


@pytest.mark.slow
def test_traced_sweep_columns_and_section(tmp_path: Path) -> None:
    spec = run(
        tmp_path, "tr",
        simulator={"agents": 500, "mean_degree": 30},
        parameters={"conformity_threshold": {"values": [0.2, 0.9]}},
        traces="parquet",
    )  # fmt: skip
    collected = collect(load_sweep(spec))
    cols = collected.columns
    assert list(cols) == [*BASE_COLUMNS, "conformity_threshold", *OUTCOME_COLUMNS, *TRACE_COLUMNS]
    for i in range(collected.n_rows):
        pairs = parse_counts(str(cols["cascade_sizes"][i]))
        assert sum(s * c for s, c in pairs) == cols["flips_total"][i]
        assert sum(c for _, c in pairs) == cols["cascades"][i]
        depth_counts = [int(x) for x in str(cols["cascade_depths"][i]).split()]
        assert len(depth_counts) - 1 == cols["cascade_depth_max"][i]
    files = write_report(collected, tmp_path / "report")
    md = files.index_md.read_text()
    assert "## Agent traces: cascade trees and the whale signal" in md
    assert re.search(r"Over 8 runs, \d+ cascade trees: \d+(\.\d)?% are a single flip", md)
    assert "| conformity_threshold = 0.2 | 4 |" in md and "| conformity_threshold = 0.9 | 4 |" in md
    assert_png(tmp_path / "report" / "scenario-traces.png")


@pytest.mark.slow
def test_a_sweep_without_scenarios_has_no_scenario_columns_or_sections(tmp_path: Path) -> None:
    spec = run(tmp_path, "plain", simulator={"agents": 100},
               parameters={"whale_ratio": {"values": [0.1, 0.2]}})  # fmt: skip
    collected = collect(load_sweep(spec))
    assert list(collected.columns) == [*BASE_COLUMNS, "whale_ratio", *OUTCOME_COLUMNS]
    md = write_report(collected, tmp_path / "report").index_md.read_text()
    assert "MEV-aware" not in md and "Agent traces" not in md
    assert not (tmp_path / "report" / "scenario-mev.png").exists()
