"""Whale coalitions in sweep results and reports: the table's columns and the report's section."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kit.specs import grid_doc, write_spec
from matplotlib.image import imread
from pydantic_core import to_json

from simulator.model import simulate
from simulator.params import AgentRecords, SimParams
from simulator.records.building import record_fields
from sweep_controller.analysis.report import write_report
from sweep_controller.analysis.report.data import ReportData
from sweep_controller.analysis.report.scenario_coalitions import (
    AGREEMENT,
    _first_from_which,
    coalition_section,
)
from sweep_controller.analysis.results import (
    OUTCOME_COLUMNS,
    SCENARIO_COLUMNS,
    collect,
    outcome_row,
)
from sweep_controller.analysis.stats import Estimate
from sweep_controller.execution.runner import run_sweep
from sweep_controller.spec.columns import COALITION_COLUMNS, SCENARIOS
from sweep_controller.spec.loading import load_sweep

COALITIONS = next(s for s in SCENARIOS if s.name == "coalitions")


def coalition_row(data: dict[str, Any]) -> dict[str, Any]:
    """The table row of a run in a sweep that uses coalitions."""
    return outcome_row(data) | COALITIONS.row(data)


def record(params: SimParams, seed: int = 4) -> dict[str, Any]:
    fields = record_fields(
        simulate(params, seed), run_id=uuid.uuid4(), timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        base_seed=1, run_index=0, agent_records=AgentRecords.NONE,
    )  # fmt: skip
    return json.loads(to_json(fields, by_alias=True))


def test_a_record_without_coalitions_has_the_outcome_columns_and_the_fill_values() -> None:
    data = record(SimParams(agents=300))
    assert list(outcome_row(data)) == list(OUTCOME_COLUMNS)
    assert COALITIONS.row(data) == {name: fill for name, (_, fill) in COALITION_COLUMNS.items()}


def test_coalition_columns_are_read_off_the_block() -> None:
    data = record(SimParams(agents=600, coalition_rule="leader", coalition_size=10))
    row = coalition_row(data)
    block, cast = data["coalitions"], data["turnout"]["stake_cast"]
    big = block["largest"]
    share = big["stake_cast"] / cast
    assert row["largest_bloc_stake_share"] == share
    assert row["largest_bloc_decisive"] is (share > 0.5)  # quorum 0 at calibration none
    assert row["largest_bloc_dictates"] is (
        share > 0.5 and big["initial_vote"] == big["final_vote"]
    )
    assert row["outcome_follows_largest_bloc"] is (data["votes"]["passed"] == big["initial_vote"])
    assert row["coalition_blocs"] == 9  # 90 whales in blocs of 10
    assert set(row) == set(OUTCOME_COLUMNS) | set(COALITION_COLUMNS)


def test_a_bloc_below_the_quorum_does_not_decide_alone() -> None:
    data = record(SimParams(agents=600, coalition_rule="stake_majority"))
    big = data["coalitions"]["largest"]
    total = data["votes"]["weighted"]["total_stake"]
    assert big["stake_cast"] / data["turnout"]["stake_cast"] > 0.5  # one bloc of every whale
    assert coalition_row(data)["largest_bloc_decisive"] is True
    # the same record with a quorum above the bloc's stake: the others' turnout matters
    data["turnout"]["quorum"] = min(1.0, 1.01 * big["stake_cast"] / total)
    assert coalition_row(data)["largest_bloc_decisive"] is False


def est(value: float) -> Estimate:
    return Estimate(value, value - 0.01, value + 0.01, 100)


@pytest.mark.parametrize(
    "values,first",
    [
        ([0.5, 0.9, 0.96, 0.97], 2),
        ([0.5, 0.96, 0.9, 0.97], 3),  # must hold at every larger size too
        ([0.96, 0.97], 0),
        ([0.5, 0.9], None),
        ([0.5, AGREEMENT], 1),  # at least the criterion counts
        ([0.96, math.nan], None),
    ],
)
def test_the_answer_is_the_first_size_from_which_the_criterion_holds(
    values: list[float], first: int | None
) -> None:
    assert _first_from_which([est(v) for v in values]) == first


def finished(tmp_path: Path, name: str, **spec: object) -> Path:
    path = write_spec(tmp_path / f"{name}.yaml", grid_doc(name, f"file://{tmp_path}/out", **spec))
    result = run_sweep(load_sweep(path), workers=1, progress=False, handle_signals=False)
    assert result.exit_code == 0
    return path


pytestmark = pytest.mark.slow  # the tests below run small sweeps


def test_a_sweep_without_coalitions_keeps_its_columns_and_gets_no_section(tmp_path: Path) -> None:
    sweep = load_sweep(finished(tmp_path, "plain"))
    collected = collect(sweep)
    assert not set(SCENARIO_COLUMNS) & set(collected.columns)
    assert coalition_section(ReportData(collected), tmp_path) is None
    write_report(collected, tmp_path / "report")
    assert "Whale coalitions" not in (tmp_path / "report" / "index.md").read_text()


def test_a_sweep_mixing_coalitions_on_and_off_fills_the_off_runs(tmp_path: Path) -> None:
    spec = {
        "simulator": {"agents": 200},
        "parameters": {"coalition_rule": {"values": ["none", "leader"]}},
        "replicates": 3,
    }
    collected = collect(load_sweep(finished(tmp_path, "mixed", **spec)))
    cols = collected.columns
    off = cols["coalition_rule"] == "none"
    assert off.sum() == 3 and (~off).sum() == 3
    assert (cols["coalition_blocs"][off] == -1).all() and (cols["coalition_blocs"][~off] == 1).all()
    assert np.isnan(cols["largest_bloc_stake_share"][off].astype(float)).all()
    assert not cols["largest_bloc_dictates"][off].any()


def test_the_report_answers_the_question_with_a_figure(tmp_path: Path) -> None:
    spec = {
        "simulator": {"agents": 300, "coalition_rule": "stake_majority"},
        "parameters": {
            "coalition_size": {"values": [1, 5, 45]},  # 45 whales: the last is every whale
            "coalition_revision": {"values": ["every_round", "never"]},
        },
        "replicates": 8,
        "runsPerTask": 8,
    }
    collected = collect(load_sweep(finished(tmp_path, "blocs", **spec)))
    section = coalition_section(ReportData(collected), tmp_path)
    assert section is not None and section.title == "Whale coalitions"
    assert "Answer: coalition_revision = every_round:" in section.text
    assert "coalition_revision = never:" in section.text
    assert section.table is not None
    assert [row[1] for row in section.table.rows] == ["1", "5", "45"] * 2
    assert all(row[2] == "8" for row in section.table.rows)
    # one bloc of all 45 whales that never revises always decides the tally alone at
    # calibration none (the whales hold most of the stake, and the largest vote almost surely);
    # one that revises every round may split its vote later (docs/model.md 11.1: at most 92%),
    # but decides more often than a single whale does
    decisive = {(row[0], row[1]): row[4] for row in section.table.rows}
    assert decisive[("coalition_revision = never", "45")].startswith("100%"), decisive

    def rate(cell: str) -> float:
        return float(cell.split("%")[0])

    every = "coalition_revision = every_round"
    assert rate(decisive[(every, "45")]) > rate(decisive[(every, "1")]), decisive
    (plot,) = section.plots
    image = imread(tmp_path / plot.file)
    assert image.shape[0] > 500 and image.shape[1] > 800
    assert float(np.std(image[..., :3])) > 0.05
    files = write_report(collected, tmp_path / "report")
    page = (tmp_path / "report" / "index.md").read_text()
    assert "## Whale coalitions" in page and "(coalitions.png)" in page
    assert tmp_path / "report" / "coalitions.png" in files.images
