"""The delegation block of a run record and the per-agent delegation columns: written only when
the run delegates, valid when it does, and every broken rule named (docs/schema.md)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pyarrow.parquet as pq
import pytest

from simulator.params import AgentRecords, SimParams
from simulator.records.building import run_records
from simulator.records.schema import SCHEMA_PATH
from simulator.records.validate import check_json, validate_file

VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
ON = SimParams(agents=300, delegation_rate=0.6, delegation_override=0.6, delegate_share=0.05)
Record = dict[str, Any]


def record(params: SimParams = ON, index: int = 0) -> Record:
    (rec,) = run_records(params, base_seed=8, runs=1, first_index=index)
    data: Record = json.loads(rec.model_dump_json(by_alias=True))
    return data


@pytest.fixture(scope="module")
def on() -> Record:
    return record()


def problems(data: Record) -> list[str]:
    return check_json(json.dumps(data).encode())


def test_a_delegating_run_writes_a_valid_block_and_columns(on: Record) -> None:
    VALIDATOR.validate(on)
    assert problems(on) == []
    d = on["delegation"]
    assert d["delegates"] == 15  # 5% of 300
    assert 0 < d["overrides"] <= d["delegators"] <= 285
    assert d["with_delegation"]["nakamoto"] == on["concentration"]["nakamoto"]
    assert {"delegate", "delegated_power", "voting_power", "overrode"} <= set(on["agents"][0])
    own = sum(a["stake"] for a in on["agents"])
    assert sum(a["voting_power"] for a in on["agents"]) == pytest.approx(own, rel=1e-12)


def test_a_run_without_delegation_has_no_delegation_keys() -> None:
    data = record(SimParams(agents=300))
    assert "delegation" not in data
    assert not {"delegate", "voting_power"} & set(data["agents"][0])
    assert not any(k.startswith("delegat") for k in data["params"])
    assert problems(data) == []


def first(data: Record, test: Callable[[Record], bool]) -> Record:
    row: Record = next(a for a in data["agents"] if test(a))
    return row


def delegator(a: Record) -> bool:
    return bool(a["delegate"] != a["id"] and not a["overrode"])


def bump_delegates(d: Record) -> None:
    d["delegation"]["delegates"] += 1


def too_many_overrides(d: Record) -> None:
    d["delegation"]["overrides"] = d["delegation"]["delegators"] + 1


def drop_block(d: Record) -> None:
    del d["delegation"]


def wrong_nakamoto(d: Record) -> None:
    d["delegation"]["with_delegation"]["nakamoto"] += 1


def no_overrides_allowed(d: Record) -> None:
    d["params"]["delegation_override"] = 0.0


def inflate_power(d: Record) -> None:
    first(d, lambda a: a["participated"] and a["delegate"] == a["id"])["voting_power"] += 1024


def two_hops(d: Record) -> None:
    rows = [a for a in d["agents"] if delegator(a)]
    rows[0]["delegate"] = rows[1]["id"]


def wrong_delegated_power(d: Record) -> None:
    row = first(d, lambda a: a["delegated_power"] > 0)
    row["delegated_power"] *= 2
    row["voting_power"] = row["stake"] + row["delegated_power"]


def delegator_votes(d: Record) -> None:
    first(d, delegator)["participated"] = True


def row_without_delegation(d: Record) -> None:
    for key in ("delegate", "delegated_power", "voting_power", "overrode"):
        del d["agents"][5][key]


def override_without_delegating(d: Record) -> None:
    first(d, lambda a: a["delegate"] == a["id"] and a["participated"])["overrode"] = True


@pytest.mark.parametrize(
    "tamper,expected",
    [
        (bump_delegates, "delegation.delegates: 16, but params.delegate_share 0.05 of 300"),
        (too_many_overrides, "exceeds delegation.delegators"),
        (drop_block, "delegation: missing, but params.delegation_rate = 0.6"),
        (wrong_nakamoto, "delegation.with_delegation: nakamoto"),
        (no_overrides_allowed, "but params.delegation_override is 0"),
        (inflate_power, "voting_power: "),
        (two_hops, "(delegation is one hop)"),
        (wrong_delegated_power, "but the stakes of its delegators that did not override sum to"),
        (delegator_votes, "participated: true, but the agent delegated to"),
        (row_without_delegation, "delegate: missing, but other rows have the delegation fields"),
        (override_without_delegating, "overrode: true, but the agent did not delegate"),
    ],
)
def test_broken_rules_are_named(
    on: Record, tamper: Callable[[Record], None], expected: str
) -> None:
    data = json.loads(json.dumps(on))
    tamper(data)
    found = problems(data)
    assert any(expected in p for p in found), found


def test_a_block_without_delegation_is_refused() -> None:
    data = record(SimParams(agents=300))
    data["delegation"] = record()["delegation"]
    assert any("delegation: present, but params.delegation_rate is 0" in p for p in problems(data))


def test_delegating_runs_weigh_tallies_by_voting_power(on: Record) -> None:
    # moving a delegator's stake onto its own row breaks the weighted tallies and the sums
    data = json.loads(json.dumps(on))
    row = first(data, lambda a: delegator(a) and a["stake"] > 0)
    row["voting_power"] = row["stake"]
    found = problems(data)
    assert any(p.startswith("agents.") and "voting_power" in p for p in found), found


@pytest.mark.parametrize("mode", [AgentRecords.PARQUET, AgentRecords.NONE])
def test_side_files_and_no_rows_validate(tmp_path: Path, mode: AgentRecords) -> None:
    out = tmp_path / "runs.jsonl"
    for rec in run_records(ON, base_seed=2, runs=2, agent_records=mode, output=out):
        with out.open("a") as fh:
            fh.write(rec.model_dump_json(by_alias=True) + "\n")
    report = validate_file(out)
    assert report.ok, report.problems


def test_a_side_file_missing_a_delegation_column_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    (rec,) = run_records(ON, base_seed=2, runs=1, agent_records=AgentRecords.PARQUET, output=out)
    assert rec.agent_records.path is not None
    side = tmp_path / rec.agent_records.path
    pq.write_table(pq.read_table(side).drop_columns(["overrode"]), side)
    rec = rec.model_copy(
        update={
            "agent_records": rec.agent_records.model_copy(
                update={"sha256": hashlib.sha256(side.read_bytes()).hexdigest()}
            )
        }
    )
    out.write_text(rec.model_dump_json(by_alias=True) + "\n")
    report = validate_file(out)
    assert any("overrode: missing column" in p.reason for p in report.problems), report.problems
