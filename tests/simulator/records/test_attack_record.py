"""The ``attack`` block of a run record: written only under attack, validated against the run.

Valid records come from attacked runs (inline, Parquet and no per-agent records); each invalid
case changes one thing a consistent record cannot have and expects the validator to name it.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pyarrow.parquet as pq
import pytest
from pydantic_core import to_json

from simulator.cli import main
from simulator.model import simulate
from simulator.params import AgentRecords, SimParams
from simulator.records.building import agent_columns, record_fields
from simulator.records.io import write_agent_parquet
from simulator.records.schema import SCHEMA_PATH
from simulator.records.validate import check_json, check_record, validate_file

WHEN = datetime(2026, 1, 2, tzinfo=UTC)
ATTACK = SimParams(
    agents=150,
    attack_target="auto",
    attack_budget=0.03,
    attack_borrowed_share=0.05,
    attack_sybils=12,
)
SEED = 5
VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
Record = dict[str, Any]


def record(
    params: SimParams = ATTACK,
    mode: AgentRecords = AgentRecords.INLINE,
    base: Path | None = None,
) -> Record:
    result = simulate(params, SEED)
    run_id = uuid.UUID(int=7, version=4)
    ref: Any = mode
    if mode is AgentRecords.PARQUET:
        assert base is not None
        ref = write_agent_parquet(agent_columns(result), base / "runs.jsonl", run_id)
    fields = record_fields(
        result, run_id=run_id, timestamp=WHEN, base_seed=1, run_index=0, agent_records=ref
    )
    parsed: Record = json.loads(to_json(fields, by_alias=True))
    return parsed


def test_an_attacked_run_has_a_valid_attack_block() -> None:
    r = record()
    assert check_record(r) == []
    VALIDATOR.validate(r)
    a = r["attack"]
    assert a["sybils"] == 12 and a["bribed"] > 0 and a["spent"] <= a["budget"]
    bribed = [row for row in r["agents"] if row["bribed"]]
    assert len(bribed) == a["bribed"]
    # the attacker's own votes: 12 sybils and the borrowing account, beside the holders' votes
    holders_voting = sum(row["participated"] for row in r["agents"])
    assert r["turnout"]["votes_cast"] == holders_voting + 13


def test_a_run_without_attack_has_no_attack_key_anywhere() -> None:
    r = record(SimParams(agents=150))
    assert "attack" not in r and all("bribed" not in row for row in r["agents"])
    assert not any(k.startswith("attack") for k in r["params"])
    assert check_record(r) == []


@pytest.mark.parametrize("mode", [AgentRecords.PARQUET, AgentRecords.NONE])
def test_attack_records_without_inline_agents_are_valid(mode: AgentRecords, tmp_path: Path) -> None:
    r = record(mode=mode, base=tmp_path)
    assert check_record(r, base_dir=tmp_path) == []
    if mode is AgentRecords.PARQUET:
        table = pq.read_table(tmp_path / r["agent_records"]["path"])
        assert "bribed" in table.column_names
        assert sum(table.column("bribed").to_pylist()) == r["attack"]["bribed"]


def first_bribed(r: Record) -> Record:
    row: Record = next(a for a in r["agents"] if a["bribed"])
    return row


def _edit(path: str, value: Any) -> Callable[[Record], None]:
    def mutate(r: Record) -> None:
        *parents, last = path.split(".")
        node: Any = r
        for part in parents:
            node = node[part]
        node[last] = value(node[last]) if callable(value) else value

    return mutate


def _flip_bribed_vote(r: Record) -> None:
    row = first_bribed(r)
    row["initial_vote"] = row["final_vote"] = not row["initial_vote"]


def _drop_bribed(r: Record) -> None:
    del r["agents"][0]["bribed"]


def _unbribe(r: Record) -> None:
    first_bribed(r)["bribed"] = False


def _swap_target(r: Record) -> None:
    r["attack"]["target"] = "fail" if r["attack"]["target"] == "pass" else "pass"


CASES: list[tuple[str, Callable[[Record], None], str]] = [
    ("spent over budget", _edit("attack.spent", 1e12), "attack.spent: "),
    ("success misstated", _edit("attack.succeeded", lambda v: not v), "attack.succeeded: "),
    ("auto target not the opposite", _swap_target, "attack.target: "),
    ("budget not the parameter's", _edit("attack.budget", lambda v: v * 2), "attack.budget: "),
    ("loan halved", _edit("attack.borrowed_power", lambda v: v / 2), "attack.borrowed_power: "),
    ("sybils not the parameter's", _edit("attack.sybils", 11), "attack.sybils: 11"),
    ("holders off", _edit("attack.holders_stake", lambda v: v / 2), "weighted.total_stake: "),
    ("bought more than the rows", _edit("attack.bribed", lambda v: v + 1), "attack.bribed: "),
    ("bought stake above spent", _edit("attack.bribed_stake", 9e11), "attack.bribed_stake: "),
    ("a bought vote against the target", _flip_bribed_vote, "bribed and the attack's target"),
    ("a row without bribed", _drop_bribed, "rows lack bribed"),
    ("a bought row unmarked", _unbribe, "utility"),
    ("block missing", lambda r: r.pop("attack"), "attack: missing, but params.attack_target"),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_an_inconsistent_attack_block_is_reported(
    mutate: Callable[[Record], None], expected: str
) -> None:
    r = copy.deepcopy(record())
    mutate(r)
    problems = check_record(r)
    assert any(expected in p for p in problems), problems


def test_an_attack_block_without_attack_parameters_is_reported() -> None:
    r = record(SimParams(agents=150))
    r["attack"] = record()["attack"]
    assert any("attack: present, but params.attack_target is none" in p for p in check_record(r))
    plain = record(SimParams(agents=150))
    plain["agents"][0]["bribed"] = False
    assert any("rows give bribed, but the run has no attack" in p for p in check_record(plain))


def test_a_side_file_must_have_bribed_exactly_under_attack(tmp_path: Path) -> None:
    r = record(mode=AgentRecords.PARQUET, base=tmp_path)
    path = tmp_path / r["agent_records"]["path"]
    pq.write_table(pq.read_table(path).drop_columns(["bribed"]), path)
    import hashlib

    r["agent_records"]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    problems = check_json(json.dumps(r), base_dir=tmp_path)
    assert any("column bribed: missing, but the run has an attack" in p for p in problems)


DELEGATED_ATTACK = ATTACK.model_copy(update={"agents": 400, "delegation_rate": 0.7})


@pytest.mark.parametrize("mode", [AgentRecords.INLINE, AgentRecords.PARQUET])
def test_an_attack_on_a_delegated_vote_records_both_blocks(
    mode: AgentRecords, tmp_path: Path
) -> None:
    params = SimParams.model_validate(DELEGATED_ATTACK.model_dump())
    r = record(params, mode, tmp_path)
    assert check_record(r, base_dir=tmp_path) == []
    VALIDATOR.validate(r)
    a, d = r["attack"], r["delegation"]
    assert a["bribed"] > 0 and d["delegators"] > 0
    # the concentration of the power cast counts the attacker's own votes, with delegation too
    assert d["with_delegation"]["nakamoto"] == r["concentration"]["nakamoto"]
    if mode is AgentRecords.INLINE:
        rows = r["agents"]
        # what was bought is voting power: a delegate's carries its delegators' stake
        assert a["bribed_stake"] == pytest.approx(
            sum(row["voting_power"] for row in rows if row["bribed"]), rel=1e-12
        )
        assert not any(row["bribed"] and row["voting_power"] == 0 for row in rows)


def test_a_delegated_attack_record_states_bought_voting_power() -> None:
    params = SimParams.model_validate(DELEGATED_ATTACK.model_dump() | {"attack_budget": 0.3})
    r = record(params)
    bought = [row for row in r["agents"] if row["bribed"]]
    stake = sum(row["stake"] for row in bought)
    power = sum(row["voting_power"] for row in bought)
    assert power > stake  # a bought delegate carries delegated power
    r["attack"]["bribed_stake"] = stake  # the bought holders' own stake is not what was bought
    assert any("attack.bribed_stake: " in p for p in check_record(r))


def test_govsim_writes_valid_attack_records(tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    flags = ["--agents", "120", "--runs", "3", "--attack-target", "pass", "--attack-budget",
             "0.05", "--attack-sybils", "4", "--output", str(out)]  # fmt: skip
    assert main(flags) == 0
    lines = out.read_bytes().splitlines()
    assert len(lines) == 3
    for line in lines:
        assert check_json(line) == []
        assert json.loads(line)["attack"]["target"] == "pass"


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (["--attack-budget", "0.1"],
         "govsim: error: --attack-budget: needs attack_target auto, pass or fail (it is none)"),
        (["--attack-target", "pass", "--rules", "v0.4"],
         "govsim: error: --attack-target: only used with --rules v0.5"),
        (["--attack-target", "maybe"],
         "govsim: error: --attack-target: 'maybe' is not one of none, auto, pass, fail"),
        (["--attack-target", "auto", "--attack-budget", "11"],
         "govsim: error: --attack-budget: 11 is outside [0, 10]"),
        (["--attack-target", "auto", "--attack-borrowed-share", "-1"],
         "govsim: error: --attack-borrowed-share: -1 is outside [0, 4]"),
        (["--attack-target", "auto", "--attack-sybils", "1.5"],
         "govsim: error: --attack-sybils: '1.5' is not an integer"),
    ],
)  # fmt: skip
def test_bad_attack_flags_are_one_line(
    flags: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(flags) == 2
    assert capsys.readouterr().err.strip() == line


def test_govsim_prints_the_attack(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--agents", "150", "--attack-target", "fail", "--attack-borrowed-share", "4"]) == 0
    out = capsys.readouterr().out
    # 4 T borrowed against at most T of yes: a proposal that passes without it now fails
    assert "  attack     target fail (without the attack: passed); SUCCEEDED" in out or (
        "  attack     target fail (without the attack: failed); did not flip the outcome" in out
    )
    assert "borrowed 400.00%; 0 sybils with 0 links" in out
    assert main(["--agents", "150"]) == 0
    assert "attack" not in capsys.readouterr().out


def test_attack_records_with_side_files_and_traces_validate(tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    flags = ["--agents", "300", "--runs", "2", "--attack-target", "auto", "--attack-budget",
             "0.05", "--attack-sybils", "30", "--agent-records", "parquet", "--traces",
             "parquet", "--output", str(out)]  # fmt: skip
    assert main(flags) == 0
    report = validate_file(out)
    assert (report.valid, report.invalid) == (2, 0)
    for line in out.read_text().splitlines():
        r = json.loads(line)
        assert r["traces"]["count"] == r["flips"]["total"] and r["attack"]["sybil_edges"] > 0
