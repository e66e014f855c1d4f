"""The validator on flip traces: valid ones pass; each tampering is named on its record's line."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kit.records import (
    Record,
    build_record,
    sha256_of,
    trace_file_schema,
    write_jsonl,
    write_trace_file,
)

from simulator.params import AgentRecords, RuleSet, Schedule, SimParams, Traces
from simulator.records.building import run_records
from simulator.records.io import append_records
from simulator.records.validate import check_record, validate_file

MODES = ("inline", "parquet", "none")


def traced(tmp_path: Path, mode: str = "inline", rules: str = "v0.4", runs: int = 2) -> Path:
    """A JSONL file of toy records whose flips are in trace side files (see kit.records)."""
    records = [
        build_record(
            seed=s, agents=12, max_rounds=4, mode=mode, base_dir=tmp_path, rules=rules, traces=True
        )
        for s in range(runs)
    ]
    return write_jsonl(tmp_path / "runs.jsonl", records)


def records_of(path: Path) -> list[Record]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def tamper(
    path: Path,
    edit: Callable[[list[Record]], Any],
    *,
    line: int = 1,
    schema: pa.Schema | None = None,
    rehash: bool = True,
) -> Record:
    """Edit the rows of one record's trace; with ``rehash`` the record takes the new hash, so only
    the row rules can tell. Returns the record."""
    records = records_of(path)
    record = records[line - 1]
    side = path.parent / record["traces"]["path"]
    rows = pq.read_table(side).to_pylist()
    edit(rows)
    write_trace_file(side, rows, schema)
    if rehash:
        record["traces"]["sha256"] = sha256_of(side)
        write_jsonl(path, records)
    return record


def reasons(path: Path, line: int = 1) -> list[str]:
    report = validate_file(path)
    assert {p.line for p in report.problems} <= {line}, report.problems
    return [p.reason for p in report.problems]


def twice_flipped(rows: list[Record]) -> int:
    """Index of the second row of the first agent with two rows."""
    seen: set[int] = set()
    for i, row in enumerate(rows):
        if row["agent"] in seen:
            return i
        seen.add(row["agent"])
    raise AssertionError("no agent flips twice in this trace")


# --- valid traces ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("rules", ["v0.4", "v0.5"])
def test_toy_records_with_traces_are_valid(tmp_path: Path, mode: str, rules: str) -> None:
    report = validate_file(traced(tmp_path, mode, rules, runs=4))
    assert report.ok and report.lines == 4, report.problems


ENGINE = [
    SimParams(agents=200, mean_degree=6, cascade_rounds=8, rules=RuleSet.V0_4),
    SimParams(agents=300, mean_degree=8, rules=RuleSet.V0_5),
    SimParams(
        agents=400,
        mean_degree=25,
        cascade_rounds=60,
        conformity_threshold=0.3,
        rules=RuleSet.V0_5,
        schedule=Schedule.SYNCHRONOUS,
        calibration="compound",
    ),
]


@pytest.mark.parametrize("mode", list(AgentRecords))
@pytest.mark.parametrize("params", ENGINE, ids=range(len(ENGINE)))
def test_engine_records_with_traces_are_valid(
    tmp_path: Path, params: SimParams, mode: AgentRecords
) -> None:
    out = tmp_path / "runs.jsonl"
    records = run_records(
        params, base_seed=5, runs=3, agent_records=mode, traces=Traces.PARQUET, output=out
    )
    assert append_records(out, records) == 3
    report = validate_file(out)
    assert report.ok and report.lines == 3, report.problems
    assert sum(r["flips"]["total"] for r in records_of(out)) > 0


# --- tampered rows --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_removed_row_is_caught(tmp_path: Path, mode: str) -> None:
    path = traced(tmp_path, mode)
    removed: list[Record] = []
    record = tamper(path, lambda rows: removed.append(rows.pop(0)))
    row, f, ref = removed[0], record["flips"], record["traces"]
    got = reasons(path)
    assert f"traces.count: {ref['count']}, but {ref['path']} has {ref['count'] - 1} rows" in got
    assert f"flips.total: {f['total']}, but the trace has {f['total'] - 1} rows" in got
    k = row["round"] - 1
    assert (
        f"flips.per_round.{k}: {f['per_round'][k]}, but the trace has {f['per_round'][k] - 1} "
        f"rows in round {k + 1}" in got
    )
    if mode != "none":
        agent = row["agent"]
        assert any(r.startswith(f"traces.path agent {agent}: ") and "flip_count" in r for r in got)


@pytest.mark.parametrize("mode", MODES)
def test_a_changed_cause_is_caught(tmp_path: Path, mode: str) -> None:
    path = traced(tmp_path, mode)
    changed: list[Record] = []

    def edit(rows: list[Record]) -> None:
        row = rows[0]
        row["cause"] = "neighbours" if row["cause"] == "whale_signal" else "whale_signal"
        changed.append(row)

    record = tamper(path, edit)
    got = reasons(path)
    events = record["flips"]["whale_signal_follow_events"]
    delta = 1 if changed[0]["cause"] == "whale_signal" else -1
    assert (
        f"flips.whale_signal_follow_events: {events}, but {events + delta} trace rows have "
        "cause whale_signal" in got
    )
    if mode != "none":
        agent = changed[0]["agent"]
        assert any(
            r.startswith(f"traces.path agent {agent}: ") and "whale_signal_follows" in r
            for r in got
        ), got


@pytest.mark.parametrize("mode", MODES)
def test_swapped_votes_are_caught(tmp_path: Path, mode: str) -> None:
    path = traced(tmp_path, mode)
    swapped: list[int] = []

    def edit(rows: list[Record]) -> None:
        i = twice_flipped(rows)
        rows[i]["from_vote"], rows[i]["to_vote"] = rows[i]["to_vote"], rows[i]["from_vote"]
        swapped.append(i)

    tamper(path, edit)
    got = reasons(path)
    assert any(r.startswith("flips.yes_to_no: ") for r in got), got
    assert any(r.startswith("flips.no_to_yes: ") for r in got), got
    # the agent's second flip no longer starts where its first one ended
    assert any(r.startswith(f"traces.path row {swapped[0]}.from_vote: ") for r in got), got
    if mode != "none":
        assert any("but its final_vote is" in r for r in got), got


def test_a_tampered_trace_without_a_new_hash_is_named_by_its_hash(tmp_path: Path) -> None:
    path = traced(tmp_path)
    record = tamper(path, lambda rows: rows.pop(), rehash=False)
    ref = record["traces"]
    actual = sha256_of(tmp_path / ref["path"])
    assert f"traces.sha256: {ref['sha256']}, but {ref['path']} hashes to {actual}" in reasons(path)


def test_first_and_last_votes_must_meet_the_agent_records(tmp_path: Path) -> None:
    path = traced(tmp_path, "inline")
    records = records_of(path)
    rows = pq.read_table(tmp_path / records[0]["traces"]["path"]).to_pylist()
    agent = rows[0]["agent"]
    for a in records[0]["agents"]:  # both votes of one flipped agent, in its record only
        if a["id"] == agent:
            a["initial_vote"], a["final_vote"] = not a["initial_vote"], not a["final_vote"]
            a["utility"] = -a["utility"]  # the head counts now disagree too: also reported
    write_jsonl(path, records)
    got = reasons(path)
    assert any(r.startswith(f"traces.path agent {agent}: its first trace row has") for r in got)
    assert any(r.startswith(f"traces.path agent {agent}: its last trace row has") for r in got)


Rows = list[Record]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda rows: rows.reverse(),
            lambda old, r: (
                f"traces.path row 1.round: agent {old[-2]['agent']} in round {old[-2]['round']} "
                "comes after a row it may not follow"
            ),
        ),
        (
            lambda rows: rows[0].update(run=5),
            lambda old, r: "traces.path row 0.run: 5, expected run_index = 0",
        ),
        (
            lambda rows: rows[0].update(agent=12),
            lambda old, r: "traces.path row 0.agent: 12 is outside [0, 12)",
        ),
        (
            lambda rows: rows[0].update(round=0),
            lambda old, r: (
                f"traces.path row 0.round: 0 is outside [1, cascade_rounds = {r['cascade_rounds']}]"
            ),
        ),
        (
            lambda rows: rows[0].update(to_vote=rows[0]["from_vote"]),
            lambda old, r: (
                f"traces.path row 0.to_vote: {'true' if old[0]['from_vote'] else 'false'} equals "
                "from_vote (a flip changes the vote)"
            ),
        ),
        (
            lambda rows: rows[0].update(cause="gossip"),
            lambda old, r: (
                "traces.path row 0.cause: 'gossip' is not one of neighbours, whale_signal"
            ),
        ),
        (
            lambda rows: rows[0].update(agent=None),
            lambda old, r: "traces.path row 0.agent: null is not allowed",
        ),
    ],
    ids=["order", "run", "agent", "round", "vote", "cause", "null"],
)
def test_row_rules(
    tmp_path: Path,
    edit: Callable[[Rows], Any],
    expected: Callable[[Rows, Record], str],
) -> None:
    path = traced(tmp_path, "none")
    old: Rows = []

    def apply(rows: Rows) -> None:
        assert len(rows) >= 2
        old.extend(copy.deepcopy(rows))
        edit(rows)

    record = tamper(path, apply)
    got = reasons(path)
    assert any(r.startswith(expected(old, record)) for r in got), got


# --- the file and the reference -------------------------------------------------------------------


def test_count_must_be_the_flips_even_without_the_file() -> None:
    record = build_record(seed=1, agents=12)
    record["traces"] = {"path": "runs.traces/x.parquet", "sha256": "0" * 64, "count": 999}
    assert check_record(record) == [
        f"traces.count: 999, expected flips.total = {record['flips']['total']}"
    ]


def test_a_missing_trace_file(tmp_path: Path) -> None:
    path = traced(tmp_path)
    record = records_of(path)[1]
    (tmp_path / record["traces"]["path"]).unlink()
    full = str(tmp_path / record["traces"]["path"])
    report = validate_file(path)
    assert [(p.line, p.reason) for p in report.problems] == [
        (2, f"traces.path: trace file {full!r} does not exist")
    ]


def _repath(path: Path, new: str) -> list[str]:
    records = records_of(path)
    records[0]["traces"]["path"] = new
    write_jsonl(path, records)
    return reasons(path)


def test_the_trace_must_stay_inside_the_folder_of_its_jsonl_file(tmp_path: Path) -> None:
    inner = tmp_path / "results"
    path = traced(inner)
    rel = records_of(path)[0]["traces"]["path"]
    outside = tmp_path / "stolen.parquet"
    outside.write_bytes((inner / rel).read_bytes())
    assert _repath(path, "../stolen.parquet") == [
        "traces.path: '../stolen.parquet' leads out of the folder of the JSONL file"
    ]
    os.symlink(outside, inner / "link.parquet")
    assert _repath(path, "link.parquet") == [
        "traces.path: 'link.parquet' leads out of the folder of the JSONL file"
    ]
    absolute = str(inner / rel)
    assert _repath(path, absolute) == [
        f"traces.path: {absolute!r} must be relative to the JSONL file"
    ]


def test_trace_columns(tmp_path: Path) -> None:
    path = traced(tmp_path)
    fields = [f for f in trace_file_schema() if f.name != "round"]
    schema = pa.schema([*fields, pa.field("weight", pa.float64())])
    schema = schema.set(schema.get_field_index("agent"), pa.field("agent", pa.string()))

    def edit(rows: list[Record]) -> None:
        for row in rows:
            del row["round"]
            row["weight"] = 1.0
            row["agent"] = str(row["agent"])

    tamper(path, edit, schema=schema)
    assert reasons(path) == [
        "traces.path column round: missing column",
        "traces.path column weight: unknown column",
        "traces.path column agent: wrong type: string, expected integer",
    ]


def test_a_trace_that_is_not_parquet(tmp_path: Path) -> None:
    path = traced(tmp_path)
    records = records_of(path)
    side = tmp_path / records[0]["traces"]["path"]
    side.write_bytes(b"agent,round\n1,1\n")
    records[0]["traces"]["sha256"] = sha256_of(side)
    write_jsonl(path, records)
    (reason,) = reasons(path)
    assert reason.startswith(f"traces.path: {records[0]['traces']['path']} is not a Parquet file")
