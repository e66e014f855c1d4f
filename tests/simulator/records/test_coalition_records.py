"""The ``coalitions`` block of run records: written only when coalitions are on, validated against
the parameters, the other run-level fields and the agents' rows."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic_core import to_json

from simulator.model import simulate
from simulator.params import AgentRecords, SimParams
from simulator.records.building import agent_columns, build_record, record_fields
from simulator.records.io import write_agent_parquet
from simulator.records.schema import SCHEMA_PATH, AgentRecordsRef
from simulator.records.validate import check_json, check_record

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ON = SimParams(agents=600, coalition_rule="stake_majority", coalition_size=4)
VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


def record(
    params: SimParams = ON,
    seed: int = 3,
    mode: AgentRecords | AgentRecordsRef = AgentRecords.INLINE,
) -> dict[str, Any]:
    fields = record_fields(
        simulate(params, seed), run_id=uuid.uuid4(), timestamp=WHEN, base_seed=1, run_index=0,
        agent_records=mode,
    )  # fmt: skip
    return json.loads(to_json(fields, by_alias=True))


def test_the_block_is_written_only_when_coalitions_are_on() -> None:
    off = record(SimParams(agents=600))
    assert "coalitions" not in off
    on = record()
    assert on["params"]["coalition_rule"] == "stake_majority"
    block = on["coalitions"]
    # 600 agents, whale_ratio 0.15: 90 whales in blocs of 4: 22 blocs and 2 whales left over,
    # which form the 23rd bloc
    assert (block["blocs"], block["members"], block["rule"]) == (23, 90, "stake_majority")
    for data in (off, on):
        VALIDATOR.validate(data)
        assert check_record(data) == []


@pytest.mark.parametrize("mode", [AgentRecords.INLINE, AgentRecords.NONE, AgentRecords.PARQUET])
def test_stored_fields_are_the_models_json(mode: AgentRecords, tmp_path: Path) -> None:
    result = simulate(ON, 8)
    run_id = uuid.uuid4()
    ref: AgentRecords | AgentRecordsRef = mode
    if mode is AgentRecords.PARQUET:
        ref = write_agent_parquet(agent_columns(result), tmp_path / "runs.jsonl", run_id)
    kwargs = {"run_id": run_id, "timestamp": WHEN, "base_seed": 1, "run_index": 0}
    stored = to_json(record_fields(result, agent_records=ref, **kwargs), by_alias=True)
    dumped = build_record(result, agent_records=ref, **kwargs).model_dump_json(by_alias=True)
    assert stored == dumped.encode()
    assert list(json.loads(stored))[-1] == "coalitions"
    assert check_json(stored, base_dir=tmp_path) == []


def test_the_block_matches_the_rows_counted_by_hand() -> None:
    data = record(seed=5)
    block, rows = data["coalitions"], data["agents"]
    whales = sorted(
        (a for a in rows if a["archetype"] == "whale"), key=lambda a: (a["risk_tolerance"], a["id"])
    )
    blocs = [whales[k : k + 4] for k in range(0, len(whales), 4)]
    overruled = 0
    for bloc in blocs:
        voters = [a for a in bloc if a["participated"]]
        if not voters:
            continue
        yes = sum(a["stake"] for a in voters if a["utility"] > 0)
        no = sum(a["stake"] for a in voters if a["utility"] <= 0)
        decided = yes > no  # ties have no chance with continuous stakes
        assert {a["initial_vote"] for a in voters} == {decided}
        assert len({a["final_vote"] for a in voters}) == 1
        overruled += sum((a["utility"] > 0) != decided for a in voters)
    assert block["overruled"] == overruled
    assert block["voting_blocs"] == sum(any(a["participated"] for a in b) for b in blocs)
    cast = {i: sum(a["stake"] for a in b if a["participated"]) for i, b in enumerate(blocs)}
    top = max(cast, key=lambda i: cast[i])
    assert block["largest"]["members"] == len(blocs[top])
    assert block["largest"]["stake_cast"] == pytest.approx(cast[top], rel=1e-12)


def edited(data: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    out = copy.deepcopy(data)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is None and last == "coalitions":
        del node[last]
    else:
        node[last] = value
    return out


VALID = record(seed=5, mode=AgentRecords.NONE)
BLOCK = VALID["coalitions"]


@pytest.mark.parametrize(
    "path,value,message",
    [
        ("coalitions", None, "coalitions: missing, but params.coalition_rule = 'stake_majority'"),
        (
            "coalitions.rule",
            "leader",
            "coalitions.rule: 'leader', but params.coalition_rule = 'stake_majority'",
        ),
        ("coalitions.members", 2 * BLOCK["blocs"] - 1, "a bloc has two whales or more"),
        (
            "coalitions.members",
            91,
            "coalitions.members: 91 exceeds the 90 whales of the parameters",
        ),
        ("coalitions.voting_blocs", BLOCK["blocs"] + 1, "coalitions.voting_blocs"),
        (
            "coalitions.overruled_stake",
            0.0 if BLOCK["overruled"] else 1.0,
            "coalitions.overruled_stake",
        ),
        (
            "coalitions.largest.switches",
            BLOCK["largest"]["switches"] + 1,
            "switches cannot turn initial_vote",
        ),
        ("coalitions.largest.voters", BLOCK["largest"]["members"] + 1, "coalitions.largest.voters"),
        (
            "coalitions.largest.members",
            5,
            "coalitions.largest.members: 5 exceeds params.coalition_size = 4",
        ),
        (
            "coalitions.largest.stake_cast",
            VALID["turnout"]["stake_cast"] * 1.01,
            "coalitions.largest.stake_cast",
        ),
    ],
)
def test_an_inconsistent_block_is_refused(path: str, value: object, message: str) -> None:
    problems = check_record(edited(VALID, path, value))
    assert any(message in p for p in problems), problems


def test_a_block_without_coalitions_in_the_parameters_is_refused() -> None:
    data = copy.deepcopy(VALID)
    for name in ("coalition_rule", "coalition_size"):
        del data["params"][name]
    assert check_record(data) == [
        "coalitions: present, but params.coalition_rule is none (coalitions are off)"
    ]


def test_a_block_that_never_revises_has_no_switches() -> None:
    params = SimParams(agents=600, coalition_rule="leader", coalition_revision="never")
    data = record(params, mode=AgentRecords.NONE)
    assert check_record(data) == []
    bad = edited(data, "coalitions.switches", 1)
    assert any("params.coalition_revision is never" in p for p in check_record(bad))


def _member_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The voting whales of the first bloc (of 4, in preference order) with two of them."""
    whales = sorted(
        (a for a in data["agents"] if a["archetype"] == "whale"),
        key=lambda a: (a["risk_tolerance"], a["id"]),
    )
    for k in range(0, len(whales), 4):
        voters = [a for a in whales[k : k + 4] if a["participated"]]
        if len(voters) >= 2:
            return voters
    return []


def test_rows_that_break_a_blocs_common_vote_are_refused() -> None:
    data = record(seed=5)
    members = _member_rows(data)
    assert len(members) >= 2
    last = members[-1]["id"]
    # a member that ends on the other side of its bloc (flip_count kept: the parity rule and the
    # bloc rule both object)
    bad = copy.deepcopy(data)
    row = bad["agents"][last]
    row["final_vote"] = not row["final_vote"]
    problems = check_record(bad)
    assert any(
        p.startswith(f"agents.{last}.final_vote:") and "a bloc's voters flip together" in p
        for p in problems
    ), problems
    # a member whose round-0 vote is its own, not its bloc's: its utility says the other side
    bad = copy.deepcopy(data)
    row = bad["agents"][last]
    row["utility"] = -1.0 if row["initial_vote"] else 1.0
    problems = check_record(bad)
    assert any(p.startswith(f"agents.{last}.initial_vote:") for p in problems) or any(
        p.startswith("coalitions.overruled:") for p in problems
    ), problems


def test_a_changed_risk_tolerance_moves_a_whale_to_another_bloc() -> None:
    # the validator forms the blocs again from the rows: a whale moved to the far end of the
    # preference order joins the last bloc, and the counts no longer agree
    data = record(seed=5)
    whales = sorted(
        (a for a in data["agents"] if a["archetype"] == "whale"),
        key=lambda a: (a["risk_tolerance"], a["id"]),
    )
    voter = next(a for a in whales if a["participated"])
    bad = copy.deepcopy(data)
    bad["agents"][voter["id"]]["risk_tolerance"] = 1.0
    problems = check_record(bad)
    assert problems, "moving a voting whale to another bloc must break a bloc rule"
