"""The governance-attack columns of a sweep's table and its report section.

The section is checked on a hand-made table whose success counts give Wilson intervals worked out
by hand (z = 1.96): 6/20 is [0.146, 0.519], 15/20 [0.531, 0.888], 20/20 [0.839, 1], 2/10
[0.057, 0.510], 4/10 [0.168, 0.687], 10/10 [0.722, 1]. A small sweep then runs, collects and
reports end to end.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from kit.cli import sweepctl
from kit.runs import open_output, task_lines
from kit.specs import grid_doc, sweep_doc, write_spec
from matplotlib.image import imread

from simulator.params import SimParams
from sweep_controller.analysis.report.data import ReportData
from sweep_controller.analysis.report.scenario_attack import attack_section, crossing
from sweep_controller.analysis.results import (
    BASE_COLUMNS,
    OUTCOME_COLUMNS,
    Collected,
    collect,
)
from sweep_controller.analysis.stats import Estimate
from sweep_controller.execution.runner import run_sweep
from sweep_controller.spec.columns import ATTACK_COLUMNS as SCENARIO_COLUMNS
from sweep_controller.spec.columns import DELEGATION_COLUMNS
from sweep_controller.spec.loading import load_sweep, parse_sweep

BUDGETS = [0.0, 0.1, 0.2, 0.4]


def est(value: float, low: float, high: float) -> Estimate:
    return Estimate(value, low, high, 20)


@pytest.mark.parametrize(
    ("ests", "level", "expected"),
    [
        # rates 0, 0.3, 0.75, 1 with the intervals of 0/20, 6/20, 15/20, 20/20
        ([est(0, 0, 0.16), est(0.3, 0.146, 0.519), est(0.75, 0.531, 0.888), est(1, 0.839, 1)],
         0.5, "0.2 in (0, 0.2]"),
        ([est(0, 0, 0.16), est(0.3, 0.146, 0.519), est(0.75, 0.531, 0.888), est(1, 0.839, 1)],
         0.95, "0.4 (> 0.2)"),
        ([est(0, 0, 0.16), est(0.1, 0.03, 0.3), est(0.2, 0.1, 0.4), est(0.3, 0.2, 0.45)],
         0.5, "not reached (> 0.4)"),
        ([est(0.6, 0.4, 0.8), est(0.7, 0.55, 0.85), est(0.9, 0.8, 0.97), est(1, 0.9, 1)],
         0.5, "0 (<= 0.1)"),
    ],
)  # fmt: skip
def test_crossing_reads_the_first_points_that_reach_the_level(
    ests: list[Estimate], level: float, expected: str
) -> None:
    assert crossing(BUDGETS, ests, level).text() == expected


def table(successes: dict[tuple[float, str], tuple[int, int]]) -> Collected:
    """A collected attack sweep over budget x quorum: per (budget, target) on quorum 0 and 0.5,
    (successes, eligible runs), plus 10 ineligible runs at every point that must not count."""
    sweep = parse_sweep(
        sweep_doc(
            "attack-demo",
            simulator={"agents": 100, "attack_target": "auto"},
            parameters={"attack_budget": {"values": BUDGETS}, "quorum": {"values": [0.0, 0.5]}},
        )
    )
    cols: dict[str, list[object]] = {k: [] for k in ("attack_budget", "quorum", *SCENARIO_COLUMNS)}

    def add(budget: float, quorum: float, target: str, without: bool, won: bool) -> None:
        cols["attack_budget"].append(budget)
        cols["quorum"].append(quorum)
        cols["attack_resolved_target"].append(target)
        cols["attack_passed_without"].append(without)
        cols["attack_succeeded"].append(won)
        cols["attack_spent_share"].append(budget)
        cols["attack_bribed_share"].append(budget / 2)
        cols["attack_bribed"].append(1)

    for budget in BUDGETS:
        for quorum in (0.0, 0.5):
            for target in ("pass", "fail"):
                wins, runs = successes.get((budget, f"{target}@{quorum}"), (0, 0))
                for k in range(runs):
                    add(budget, quorum, target, target == "fail", k < wins)
            for _ in range(10):  # an explicit target the run already gives: nothing to flip
                add(budget, quorum, "pass", True, False)
    n = len(cols["attack_budget"])
    columns = {k: np.asarray(v) for k, v in cols.items()}
    columns["run_index"] = np.arange(n)
    return Collected(sweep, ("attack_budget", "quorum"), columns, (0,), 0)


def test_the_section_reads_the_smallest_budget_per_quorum_and_direction(tmp_path: Path) -> None:
    counts = {}
    for budget, wins in zip(BUDGETS, [0, 6, 15, 20], strict=True):
        counts[(budget, "pass@0.0")] = (wins, 20)
    for budget, wins in zip(BUDGETS, [0, 2, 4, 10], strict=True):
        counts[(budget, "fail@0.5")] = (wins, 10)
    section = attack_section(ReportData(table(counts)), tmp_path)
    assert section is not None and section.table is not None
    rows = {(r[0], r[1]): r[2:] for r in section.table.rows}
    assert rows == {
        ("would fail, attacked to pass", "quorum = 0"): (
            "80", "100% [83.9%, 100%]", "0.2 in (0, 0.2]", "0.4 (> 0.2)"),
        ("would pass, attacked to fail", "quorum = 0.5"): (
            "40", "100% [72.2%, 100%]", "0.4 in (0, 0.4]", "0.4 (> 0.2)"),
    }  # fmt: skip
    assert "would fail, attacked to pass (quorum = 0, 80 runs): 50% at 0.2 in (0, 0.2]" in (
        section.text
    )
    (plot,) = section.plots
    image = imread(tmp_path / plot.file)
    assert image.shape[0] > 300 and float(np.std(image[..., :3])) > 0.05


def test_no_section_for_a_sweep_without_attack(tmp_path: Path) -> None:
    sweep = parse_sweep(sweep_doc("plain"))
    columns = {"run_index": np.arange(3), "whale_ratio": np.array([0.05, 0.15, 0.3])}
    assert (
        attack_section(ReportData(Collected(sweep, ("whale_ratio",), columns, (0,), 0)), tmp_path)
        is None
    )


@pytest.mark.slow
def test_an_attack_sweep_collects_and_reports(tmp_path: Path) -> None:
    doc = grid_doc(
        "attack-e2e",
        f"file://{tmp_path}/out",
        simulator={"agents": 120, "attack_target": "auto"},
        parameters={"attack_budget": {"values": [0, 0.05, 5]}, "quorum": {"values": [0, 0.5]}},
        replicates=6,
    )
    spec = write_spec(tmp_path / "attack.yaml", doc)
    summary = run_sweep(load_sweep(spec), workers=1, progress=False, handle_signals=False)
    assert summary.exit_code == 0
    collected = collect(load_sweep(spec))
    cols = collected.columns
    assert list(cols) == [*BASE_COLUMNS, "attack_budget", "quorum", *OUTCOME_COLUMNS,
                          *SCENARIO_COLUMNS]  # fmt: skip
    budget = cols["attack_budget"]
    assert not cols["attack_succeeded"][budget == 0].any()  # no budget: the run's own outcome
    assert cols["attack_succeeded"][budget == 5].all()  # above every price: everyone bought
    assert np.all(cols["attack_spent_share"] <= budget + 1e-12)
    # the columns are the records' attack blocks
    sweep, store = open_output(spec)
    records = {
        (r := json.loads(line))["run_index"]: r
        for lines in task_lines(store, sweep).values()
        for line in lines
    }
    for i, run in enumerate(cols["run_index"]):
        a = records[int(run)]["attack"]
        assert cols["attack_succeeded"][i] == a["succeeded"]
        assert cols["attack_resolved_target"][i] == a["target"]
    out = tmp_path / "report"
    result = sweepctl("report", spec, "--out", out)
    assert result.returncode == 0, result.stderr
    md = (out / "index.md").read_text()
    assert "## Governance attack" in md and "![Attack success against attack_budget]" in md
    assert (out / "scenario-attack.png").stat().st_size > 10_000


@pytest.mark.slow
def test_an_attack_sweep_with_delegation_collects_and_reports(tmp_path: Path) -> None:
    doc = grid_doc(
        "attack-deleg-e2e",
        f"file://{tmp_path}/out",
        simulator={"agents": 200, "attack_target": "auto"},
        parameters={
            "attack_budget": {"values": [0, 0.05, 5]},
            "delegation_rate": {"values": [0, 0.8]},
        },
        replicates=5,
    )
    spec = write_spec(tmp_path / "attack.yaml", doc)
    summary = run_sweep(load_sweep(spec), workers=1, progress=False, handle_signals=False)
    assert summary.exit_code == 0  # every record passed the worker's validation
    cols = collect(load_sweep(spec)).columns
    # both scenarios' columns, delegation's first (the registry's order)
    names = list(cols)
    assert set(SCENARIO_COLUMNS) <= set(names) and set(DELEGATION_COLUMNS) <= set(names)
    assert names.index("delegators_share") < names.index("attack_succeeded")
    rate, budget = cols["delegation_rate"], cols["attack_budget"]
    assert (cols["delegators_share"][rate == 0] == 0).all()
    assert (cols["delegators_share"][rate == 0.8] > 0.5).all()
    assert not cols["attack_succeeded"][budget == 0].any()
    assert cols["attack_succeeded"][budget == 5].all()  # everyone with power bought, delegated too
    out = tmp_path / "report"
    result = sweepctl("report", spec, "--out", out)
    assert result.returncode == 0, result.stderr
    md = (out / "index.md").read_text()
    assert "## Governance attack" in md and "## Delegation" in md
    # one success curve per delegation rate
    assert "delegation_rate = 0," in md and "delegation_rate = 0.8," in md


@pytest.mark.slow
def test_a_sweep_without_attack_keeps_its_columns(tmp_path: Path) -> None:
    doc = grid_doc("plain-e2e", f"file://{tmp_path}/out", replicates=1)
    spec = write_spec(tmp_path / "plain.yaml", doc)
    assert (
        run_sweep(load_sweep(spec), workers=1, progress=False, handle_signals=False).exit_code == 0
    )
    cols = collect(load_sweep(spec)).columns
    assert not any(name.startswith("attack") for name in cols)


@pytest.mark.slow
def test_runs_without_attack_in_an_attack_sweep_get_the_stand_ins(tmp_path: Path) -> None:
    doc = grid_doc(
        "mixed-e2e",
        f"file://{tmp_path}/out",
        parameters={"attack_target": {"values": ["none", "auto"]}},
        replicates=3,
    )
    spec = write_spec(tmp_path / "mixed.yaml", doc)
    summary = run_sweep(load_sweep(spec), workers=1, progress=False, handle_signals=False)
    assert summary.exit_code == 0
    cols = collect(load_sweep(spec)).columns
    off = cols["attack_target"] == "none"  # the swept value, read as its default when left out
    assert off.sum() == 3 and len(off) == 6
    stand_ins = {name: missing for name, (_, missing) in SCENARIO_COLUMNS.items()}
    assert cols["attack_resolved_target"][off].tolist() == [stand_ins["attack_resolved_target"]] * 3
    assert set(cols["attack_resolved_target"][~off]) <= {"pass", "fail"}
    assert cols["attack_bribed"][off].tolist() == [stand_ins["attack_bribed"]] * 3
    assert np.isnan(cols["attack_spent_share"][off]).all()
    assert not cols["attack_succeeded"].any()  # nothing to spend: nothing flips


def test_no_outcome_column_is_named_like_a_parameter() -> None:
    # a swept parameter is a column of the same table: an outcome of its name would clash
    assert not (set(OUTCOME_COLUMNS) | set(SCENARIO_COLUMNS)) & set(SimParams.model_fields)
    assert not set(SCENARIO_COLUMNS) & set(OUTCOME_COLUMNS)
