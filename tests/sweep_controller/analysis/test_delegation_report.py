"""A sweep that uses delegation: its results columns and the report's Delegation section."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kit.specs import grid_doc, write_spec
from matplotlib.image import imread

from sweep_controller.analysis.report import write_report
from sweep_controller.analysis.report.data import ReportData
from sweep_controller.analysis.report.scenario_delegation import delegation_section
from sweep_controller.analysis.results import (
    DELEGATION_COLUMNS,
    OUTCOME_COLUMNS,
    collect,
    delegation_row,
    outcome_columns,
)
from sweep_controller.errors import SpecError
from sweep_controller.execution.runner import run_sweep
from sweep_controller.spec.loading import load_sweep


def block(**over: Any) -> dict[str, Any]:
    d = {
        "delegates": 10,
        "active_delegates": 4,
        "delegators": 250,
        "overrides": 5,
        "delegated_stake": 300.0,
        "overridden_stake": 20.0,
        "delegated_power_cast": 200.0,
        "votes_cast_without": 60,
        "stake_cast_without": 250.0,
        "with_delegation": {"top10_share": 0.9, "nakamoto": 2, "gini": 0.8},
        "without_delegation": {"top10_share": 0.7, "nakamoto": 3, "gini": 0.6},
    }
    return d | over


def run(delegation: dict[str, Any] | None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "params": {"agents": 1000},
        "turnout": {"stake_cast": 400.0},
        "votes": {"weighted": {"total_stake": 1000.0}},
        "concentration": {"gini": 0.5, "nakamoto": 4},
    }
    if delegation is not None:
        record["delegation"] = delegation
    return record


def test_delegation_row_of_a_delegating_run() -> None:
    row = delegation_row(run(block()))
    assert row == {
        "delegators_share": 0.25,  # 250 / 1000 agents
        "delegated_stake_share": 0.3,  # 300 / 1000
        "delegated_power_cast_share": 0.5,  # 200 / 400 cast
        "active_delegates": 4,
        "overrides": 5,
        "top10_share_cast": 0.9,
        "top10_share_cast_without": 0.7,
        "nakamoto_cast_without": 3,
        "gini_cast_without": 0.6,
        "stake_turnout_share_without": 0.25,  # 250 / 1000
    }
    assert set(row) == set(DELEGATION_COLUMNS)


def test_delegation_row_of_a_run_at_rate_zero_is_its_own_outcome() -> None:
    row = delegation_row(run(None))
    assert row["delegators_share"] == 0.0 and row["overrides"] == 0
    assert row["nakamoto_cast_without"] == 4 and row["gini_cast_without"] == 0.5
    assert row["stake_turnout_share_without"] == 0.4
    assert math.isnan(row["top10_share_cast"]) and math.isnan(row["top10_share_cast_without"])


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("deleg")
    doc = grid_doc(
        "deleg",
        f"file://{tmp}/out",
        simulator={"agents": 400, "delegate_share": 0.02},
        parameters={
            "delegation_rate": {"values": [0, 0.5, 1]},
            "delegation_mode": {"values": ["preferential", "similarity"]},
        },
        replicates=4,
        runsPerTask=8,
    )
    path = write_spec(tmp / "deleg.yaml", doc)
    summary = run_sweep(load_sweep(path), workers=1, progress=False, handle_signals=False)
    assert summary.exit_code == 0
    return path


@pytest.mark.slow
def test_collect_adds_the_delegation_columns(swept: Path) -> None:
    collected = collect(load_sweep(swept))
    cols = collected.columns
    assert list(cols)[-len(DELEGATION_COLUMNS) :] == list(DELEGATION_COLUMNS)
    rate = cols["delegation_rate"]
    assert sorted(set(rate.tolist())) == [0.0, 0.5, 1.0]  # 0 is left out of records, read back
    off = rate == 0
    assert (cols["delegators_share"][off] == 0).all()
    assert np.isnan(cols["top10_share_cast"][off]).all()
    assert (cols["nakamoto_cast_without"][off] == cols["nakamoto_cast"][off]).all()
    top = cols["top10_share_cast"][~off]
    assert ((top > 0) & (top <= 1)).all()
    assert (cols["delegators_share"][rate == 1] > 0.95).all()  # all but the 8 delegates


def test_a_sweep_without_delegation_keeps_its_columns(tmp_path: Path) -> None:
    sweep = load_sweep(write_spec(tmp_path / "s.yaml", grid_doc("plain", "file://out")))
    assert outcome_columns(sweep) == OUTCOME_COLUMNS
    fixed = grid_doc("fixed", "file://out", simulator={"agents": 60, "delegation_rate": 0.3})
    assert set(DELEGATION_COLUMNS) <= set(outcome_columns(load_sweep(write_spec(
        tmp_path / "f.yaml", fixed))))  # fmt: skip


@pytest.mark.slow
def test_report_has_a_delegation_section_that_answers_with_a_figure(
    swept: Path, tmp_path: Path
) -> None:
    collected = collect(load_sweep(swept))
    files = write_report(collected, tmp_path / "report")
    md = (tmp_path / "report" / "index.md").read_text()
    assert "## Delegation" in md
    section = md.split("## Delegation", 1)[1]
    png = tmp_path / "report" / "scenario-delegation.png"
    assert png in files.images and "(scenario-delegation.png)" in section
    image = imread(png)
    assert image.shape[0] > 300 and float(np.std(image[..., :3])) > 0.05
    # the answer names the rate, both measures and the cascade, with numbers
    for mode in ("preferential", "similarity"):
        assert re.search(
            rf"At delegation_rate 1 with delegation_mode {mode}, the top-10 share of the voting "
            r"power cast (rises|falls|does not move beyond its interval): \d+(\.\d)?%",
            section,
        ), section
    assert "the Nakamoto count" in section and "flips and" in section
    # the table: one row per mode and rate
    assert len(re.findall(r"^\| (preferential|similarity) \| [01.5]+ \| 4 \|", section, re.M)) == 6


def test_no_section_without_delegation(tmp_path: Path) -> None:
    from sweep_controller.analysis.results import Collected

    sweep = load_sweep(write_spec(tmp_path / "s.yaml", grid_doc("plain", "file://out")))
    empty = Collected(sweep, ("whale_ratio",), {"run_index": np.array([])}, (), 0)
    assert delegation_section(ReportData(empty), tmp_path) is None


def test_a_sweep_crossing_attachment_with_similarity_is_refused(tmp_path: Path) -> None:
    doc = grid_doc(
        "bad",
        "file://out",
        parameters={
            "delegation_mode": {"values": ["preferential", "similarity"]},
            "delegation_attachment": {"values": [1, 2]},
        },
    )
    with pytest.raises(SpecError, match=r"delegation_attachment: 2\.0 is only used with"):
        load_sweep(write_spec(tmp_path / "bad.yaml", doc))
