"""The validator: every corruption of a valid record is reported as ``F:LINE: reason``."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kit.cli import python_module
from kit.records import Record, build_record, dumps, sha256_of, write_jsonl, write_side_file

from simulator.records.schema import RunRecord
from simulator.records.validate import (
    MAX_PROBLEMS_PER_LINE,
    TRUNCATED,
    check_consistency,
    check_json,
    check_record,
    validate_file,
)

Mutation = Callable[[Record], Any]


def _set(path: str, value: Any) -> Mutation:
    """A mutation that sets ``a.b.0.c`` to ``value``."""

    def mutate(r: Record) -> None:
        *parents, last = path.split(".")
        node: Any = r
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(r: Record) -> None:
        *parents, last = path.split(".")
        node: Any = r
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[last]

    return mutate


def _add(path: str, delta: int) -> Mutation:
    def mutate(r: Record) -> None:
        *parents, last = path.split(".")
        node: Any = r
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = int(last) if isinstance(node, list) else last
        node[key] += delta

    return mutate


def _flip_agent_vote(r: Record) -> None:
    agent = r["agents"][0]
    agent["initial_vote"] = not agent["initial_vote"]
    agent["final_vote"] = not agent["final_vote"]


def _toggle_passed(r: Record) -> None:
    r["votes"]["passed"] = not r["votes"]["passed"]


def _all(*mutations: Mutation) -> Mutation:
    def mutate(r: Record) -> None:
        for m in mutations:
            m(r)

    return mutate


def _never(r: Record) -> int:
    """Index of an agent that never flipped."""
    return next(i for i, a in enumerate(r["agents"]) if a["flip_count"] == 0)


def _round_without_flips(r: Record) -> None:
    r["agents"][_never(r)]["flip_round"] = 1


def _two_flips_same_vote(r: Record) -> None:
    r["agents"][_never(r)]["flip_count"] = 2


def _once(r: Record) -> int:
    """Index of an agent that flipped exactly once."""
    return next(i for i, a in enumerate(r["agents"]) if a["flip_count"] == 1)


def _two_flips_changed_vote(r: Record) -> None:
    r["agents"][_once(r)]["flip_count"] = 2


# (id, mutation of a valid record, the exact reason expected among line 2's problems)
CORRUPTIONS: list[tuple[str, Mutation, str]] = [
    ("missing top field", _delete("seed"), "seed: missing field"),
    ("missing nested field", _delete("votes.initial.yes"), "votes.initial.yes: missing field"),
    ("missing agent field", _delete("agents.3.degree"), "agents.3.degree: missing field"),
    ("unknown top field", _set("comment", "x"), "comment: unknown field"),
    ("unknown nested field", _set("flips.extra", 1), "flips.extra: unknown field"),
    ("python name of alias", _set("proposal.yield_", 0.5), "proposal.yield_: unknown field"),
    (
        "string for int",
        _set("seed", "42"),
        'seed: wrong type: Input should be a valid integer, got "42"',
    ),
    (
        "int for bool",
        _set("agents.0.initial_vote", 1),
        "agents.0.initial_vote: wrong type: Input should be a valid boolean, got 1",
    ),
    (
        "float for int",
        _set("cascade_rounds", 1.0),
        "cascade_rounds: wrong type: Input should be a valid integer, got 1.0",
    ),
    (
        "share above 1",
        _set("proposal.risk", 1.5),
        "proposal.risk: invalid value: Input should be less than or equal to 1, got 1.5",
    ),
    (
        "negative stake",
        _set("agents.2.stake", -1.0),
        "agents.2.stake: invalid value: Input should be greater than or equal to 0, got -1.0",
    ),
    (
        "unknown archetype",
        _set("agents.1.archetype", "shark"),
        "agents.1.archetype: invalid value: Input should be 'optimizer', 'reputation_seeker', "
        "'contrarian', 'institutional', 'retail' or 'whale', got \"shark\"",
    ),
    (
        "uuid1 run_id",
        _set("run_id", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
        "run_id: invalid value: UUID version 4 expected, "
        'got "6ba7b810-9dad-11d1-80b4-00c04fd430c8"',
    ),
    (
        "local timestamp",
        _set("timestamp", "2024-05-01T14:00:00+02:00"),
        "timestamp: invalid value: Value error, timestamp must be in UTC (ISO 8601 with Z or "
        '+00:00), got "2024-05-01T14:00:00+02:00"',
    ),
    (
        "old schema_version",
        _set("schema_version", "0.3"),
        "schema_version: found \"0.3\", expected '0.6'; migrate with python -m simulator.migrate",
    ),
    (
        "0.4 schema_version",
        _set("schema_version", "0.4"),
        "schema_version: found \"0.4\", expected '0.6'; migrate with python -m simulator.migrate",
    ),
    (
        "no schema_version",
        _delete("schema_version"),
        "schema_version: missing field, expected '0.6'; migrate with python -m simulator.migrate",
    ),
    (
        "numeric schema_version",
        _set("schema_version", 0.6),
        "schema_version: found 0.6, expected '0.6'",
    ),
    (
        "initial head count",
        _add("votes.initial.no", 1),
        "votes.initial: yes + no = {yes} + {no} = {sum}, expected turnout.votes_cast = 8",
    ),
    (
        "agents param",
        _add("params.agents", 1),
        "turnout.votes_cast: 8, but under rules v0.4 every one of params.agents = 9 votes",
    ),
    (
        "turnout vs participated rows",
        _set("agents.0.participated", False),
        "turnout.votes_cast: 8, but 7 agents have participated true",
    ),
    (
        "rule set vs params",
        _set("rules", "v0.5"),
        "rules: 'v0.5', but params.rules = 'v0.4'",
    ),
    (
        "quorum vs params",
        _set("turnout.quorum", 0.1),
        "turnout.quorum: 0.1, but the parameters give 0.0",
    ),
    (
        "outcome changed",
        lambda r: r.update(outcome_changed_by_cascade=not r["outcome_changed_by_cascade"]),
        "outcome_changed_by_cascade: {not_changed}, but votes.passed {passed_json} and "
        "votes.passed_initial {passed_initial_json}",
    ),
    (
        "ending vs rounds",
        _set("cascade", {"ending": "round_cap", "converged_round": None, "period": None}),
        "cascade.ending: round_cap, but cascade_rounds {rounds} < params.cascade_rounds 3",
    ),
    (
        "cycle under v0.4",
        _set("cascade", {"ending": "cycle", "converged_round": None, "period": 2}),
        "cascade.ending: cycle is only detected under rules v0.5, schedule synchronous",
    ),
    (
        "whale follows vs events",
        _add("flips.whale_signal_follow_events", 1),
        "flips.whale_signal_follow_events: {follows_plus_1}, but the per-agent "
        "whale_signal_follows values sum to {follows}",
    ),
    (
        "utility vs round-0 vote",
        lambda r: r["agents"][0].update(utility=-r["agents"][0]["utility"]),
        "agents.0.initial_vote: {initial0}, but utility {neg_utility0} (the round-0 vote is yes "
        "exactly when the utility is positive)",
    ),
    (
        "flips total vs per round",
        _add("flips.per_round.0", 1),
        "flips.total: {total}, but sum(flips.per_round) = {total_plus_1}",
    ),
    (
        "flips total vs directions",
        _all(_add("flips.yes_to_no", 1), _add("flips.no_to_yes", -1)),
        "flips: no_to_yes - yes_to_no = {net_minus_2}, but votes.final.yes - "
        "votes.initial.yes = {net}",
    ),
    (
        "flips total vs split",
        _add("flips.yes_to_no", 1),
        "flips.total: {total}, but flips.yes_to_no + flips.no_to_yes = {ytn_plus_1} + {nty} = "
        "{total_plus_1}",
    ),
    (
        "per_round length",
        _add("cascade_rounds", 1),
        "flips.per_round: {rounds} entries, expected cascade_rounds = {rounds_plus_1}",
    ),
    (
        "agent flip counts",
        _add("flips.total", 2),
        "flips.total: {total_plus_2}, but the per-agent flip_count values sum to {total}",
    ),
    (
        "agents flipped",
        _add("agents_flipped_total", -1),
        "agents_flipped_total: {flipped_minus_1}, but {flipped} agents have flip_count > 0",
    ),
    (
        "agent votes vs head counts",
        _flip_agent_vote,
        "votes.initial.yes: {yes}, but {yes_after_flip} voters have initial_vote true",
    ),
    (
        "weighted vs stake cast",
        _set("turnout.stake_cast", 1.0e9),
        "votes.weighted.initial: yes + no = {wi_yes} + {wi_no} = {wi_sum}, expected "
        "turnout.stake_cast = 1000000000.0",
    ),
    (
        "agent stake vs totals",
        _add("agents.0.stake", 5),
        "votes.weighted.total_stake: {total_stake}, but the stakes sum to {total_stake_plus_5}",
    ),
    (
        "passed",
        _toggle_passed,
        "votes.passed: {not_passed}, but votes.weighted.final.yes {wf_yes} {relation} "
        "votes.weighted.final.no {wf_no} and turnout.quorum_met is true (a pass needs the quorum "
        "and more yes than no)",
    ),
    (
        "agents list shorter than count",
        lambda r: r["agents"].pop(),
        "agents: 7 records, but agent_records.count = 8",
    ),
    (
        "count vs params",
        _set("agent_records.count", 7),
        "agent_records.count: 7, expected params.agents = 8",
    ),
    (
        "influence model",
        _set("influence_model", "small_world"),
        "influence_model: 'small_world', but params.influence_model = 'erdos_renyi'",
    ),
    (
        "mode none with agents",
        _set("agent_records.mode", "none"),
        "agents: must be null when agent_records.mode is none",
    ),
    (
        "inline without agents",
        _set("agents", None),
        "agents: missing, but agent_records.mode is inline",
    ),
    (
        "odd degree sum",
        _add("agents.0.degree", 1),
        "agents: degrees sum to {degree_sum_plus_1}, an odd number (each edge of the undirected "
        "network adds 2)",
    ),
    ("duplicate id", _set("agents.1.id", 0), "agents.1.id: 0 appears more than once"),
    ("id out of range", _set("agents.1.id", 8), "agents.1.id: 8 is outside [0, 8)"),
    (
        "flip round without flips",
        _round_without_flips,
        "agents.{never}.flip_round: 1 disagrees with flip_count 0 (null exactly when the agent "
        "never flipped)",
    ),
    (
        "flip count without flip round",
        _two_flips_same_vote,
        "agents.{never}.flip_round: null disagrees with flip_count 2 (null exactly when the agent "
        "never flipped)",
    ),
    (
        "flip parity",
        _two_flips_changed_vote,
        "agents.{once}.flip_count: 2 flips cannot turn initial_vote {once_initial} into "
        "final_vote {once_final} (each flip toggles the vote)",
    ),
    (
        "infinite total stake",
        _set("votes.weighted.total_stake", float("inf")),
        "votes.weighted.total_stake: inf is not finite",
    ),
    (
        "nan stake",
        _set("agents.0.stake", float("nan")),
        "agents.0.stake: invalid value: Input should be greater than or equal to 0, got NaN",
    ),
    (
        "cascade ran on after a quiet round",
        _all(_set("flips.per_round", [0, 0]), _set("cascade_rounds", 2)),
        "flips.per_round.0: round 1 had no flips but the cascade went on (a synchronous cascade "
        "stops after the first round without flips)",
    ),
]


@pytest.fixture
def valid() -> Record:
    """A valid inline record of 8 agents with flips in several rounds, converged before the cap."""
    for seed in range(100):
        r = build_record(seed=seed, agents=8, max_rounds=3)
        counts = [a["flip_count"] for a in r["agents"]]
        converged = r["cascade"]["ending"] == "converged" and r["cascade_rounds"] < 3
        if r["cascade_rounds"] >= 2 and 0 in counts and 1 in counts and converged:
            return r
    raise AssertionError("no suitable seed")


def _facts(r: Record) -> dict[str, Any]:
    """Values the expected messages refer to."""
    v, f, w = r["votes"], r["flips"], r["votes"]["weighted"]
    agent0 = r["agents"][0]
    net = v["final"]["yes"] - v["initial"]["yes"]
    never, once = _never(r), _once(r)
    passed = v["passed"]
    return {
        "yes": v["initial"]["yes"],
        "no": v["initial"]["no"] + 1,
        "sum": v["initial"]["yes"] + v["initial"]["no"] + 1,
        "fyes": v["final"]["yes"],
        "fno": v["final"]["no"],
        "total": f["total"],
        "total_plus_1": f["total"] + 1,
        "total_plus_2": f["total"] + 2,
        "net": net,
        "net_minus_2": net - 2,
        "ytn_plus_1": f["yes_to_no"] + 1,
        "nty": f["no_to_yes"],
        "rounds": r["cascade_rounds"],
        "rounds_plus_1": r["cascade_rounds"] + 1,
        "flipped": r["agents_flipped_total"],
        "flipped_minus_1": r["agents_flipped_total"] - 1,
        "yes_after_flip": v["initial"]["yes"] + (-1 if agent0["initial_vote"] else 1),
        "wi_yes": w["initial"]["yes"],
        "wi_no": w["initial"]["no"],
        "wi_sum": w["initial"]["yes"] + w["initial"]["no"],
        "total_stake": w["total_stake"],
        "total_stake_plus_5": sum(a["stake"] for a in r["agents"]) + 5,
        "not_passed": "false" if passed else "true",
        "wf_yes": w["final"]["yes"],
        "wf_no": w["final"]["no"],
        "relation": ">" if passed else "<=",
        "degree_sum_plus_1": sum(a["degree"] for a in r["agents"]) + 1,
        "never": never,
        "once": once,
        "once_initial": json.dumps(r["agents"][once]["initial_vote"]),
        "once_final": json.dumps(r["agents"][once]["final_vote"]),
        "not_changed": json.dumps(not r["outcome_changed_by_cascade"]),
        "passed_json": json.dumps(passed),
        "passed_initial_json": json.dumps(v["passed_initial"]),
        "follows": f["whale_signal_follow_events"],
        "follows_plus_1": f["whale_signal_follow_events"] + 1,
        "initial0": json.dumps(agent0["initial_vote"]),
        "neg_utility0": -agent0["utility"],
    }


def _write_three(tmp_path: Path, good: Record, middle: str) -> Path:
    path = tmp_path / "runs.jsonl"
    path.write_text(dumps(good) + middle + dumps(good))
    return path


@pytest.mark.parametrize(
    ("mutation", "expected"), [c[1:] for c in CORRUPTIONS], ids=[c[0] for c in CORRUPTIONS]
)
def test_each_corruption_is_reported_on_its_line(
    tmp_path: Path, valid: Record, mutation: Mutation, expected: str
) -> None:
    facts = _facts(valid)
    bad = copy.deepcopy(valid)
    mutation(bad)
    path = _write_three(tmp_path, valid, json.dumps(bad) + "\n")
    report = validate_file(path)
    assert (report.lines, report.valid, report.invalid) == (3, 2, 1)
    assert {p.line for p in report.problems} == {2}
    reasons = [p.reason for p in report.problems]
    expected = expected.format(**facts)
    assert expected in reasons, reasons
    assert str(report.problems[0]).startswith(f"{path}:2: ")


def test_version_mismatch_reports_only_the_version(valid: Record) -> None:
    legacy = copy.deepcopy(valid)
    legacy["schema_version"] = "0.3"
    del legacy["flips"]
    assert check_record(legacy) == [
        "schema_version: found \"0.3\", expected '0.6'; migrate with python -m simulator.migrate"
    ]


@pytest.mark.parametrize(
    ("middle", "expected"),
    [
        (
            '{"schema_version": "0.5", "seed": \n',
            "invalid JSON: EOF while parsing a value at column 34",
        ),
        ("[1, 2]\n", "record: wrong type: expected a JSON object, got [1, 2]"),
        ("\n", "empty line"),
        ("   \n", "empty line"),
        ('{"a": 1} x\n', "invalid JSON: trailing characters at column 10"),
    ],
    ids=["cut JSON", "array", "empty", "blank", "trailing"],
)
def test_unparseable_lines(tmp_path: Path, valid: Record, middle: str, expected: str) -> None:
    report = validate_file(_write_three(tmp_path, valid, middle))
    assert [(p.line, p.reason) for p in report.problems] == [(2, expected)]


def test_non_utf8_line(tmp_path: Path, valid: Record) -> None:
    path = tmp_path / "runs.jsonl"
    path.write_bytes(dumps(valid).encode() + b'{"seed": "\xff"}\n')
    report = validate_file(path)
    assert [(p.line, p.reason) for p in report.problems] == [
        (2, "not UTF-8: byte 0xff at column 11")
    ]


def test_truncated_last_line_cut_mid_record(tmp_path: Path, valid: Record) -> None:
    path = tmp_path / "runs.jsonl"
    line = dumps(valid)
    path.write_text(line + line[: len(line) // 2])
    report = validate_file(path)
    assert report.invalid == 1
    assert len(report.problems) == 1
    assert report.problems[0].line == 2
    assert report.problems[0].reason.startswith(f"{TRUNCATED}; invalid JSON: EOF while parsing")


def test_complete_last_line_without_newline_is_still_truncated(
    tmp_path: Path, valid: Record
) -> None:
    """An append after it would glue two records into one line, so it is reported."""
    path = tmp_path / "runs.jsonl"
    path.write_text(dumps(valid) + dumps(valid).rstrip("\n"))
    report = validate_file(path)
    assert [(p.line, p.reason) for p in report.problems] == [(2, TRUNCATED)]


def test_problems_per_line_are_capped(tmp_path: Path) -> None:
    record = build_record(seed=3, agents=40, max_rounds=2)
    for agent in record["agents"]:
        agent["archetype"] = "shark"
    problems = check_record(record)
    more = f"... and {40 - MAX_PROBLEMS_PER_LINE + 1} more problems on this line"
    assert len(problems) == MAX_PROBLEMS_PER_LINE
    assert problems[0].startswith("agents.0.archetype: invalid value")
    assert problems[-1] == more
    report = validate_file(write_jsonl(tmp_path / "r.jsonl", [record]))
    assert [p.reason for p in report.problems] == problems


def test_library_entry_points_agree(valid: Record) -> None:
    bad = copy.deepcopy(valid)
    bad["flips"]["total"] += 2
    assert check_record(bad) == check_json(json.dumps(bad))
    record = RunRecord.model_validate(bad)
    assert check_consistency(record) == check_record(bad)
    assert check_record(valid) == check_json(dumps(valid)) == []
    assert check_record({"seed": {1, 2}})[0].startswith("record: not JSON-serialisable")


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    agents=st.integers(1, 30),
    rounds=st.integers(1, 6),
    flip_prob=st.floats(0.0, 1.0),
    mode=st.sampled_from(["inline", "none"]),
)
def test_consistent_records_are_valid_and_any_count_change_is_caught(
    seed: int, agents: int, rounds: int, flip_prob: float, mode: str
) -> None:
    record = build_record(
        seed=seed, agents=agents, max_rounds=rounds, flip_prob=flip_prob, mode=mode
    )
    assert check_record(record) == []
    for path in ("votes.initial.yes", "votes.final.no", "flips.total", "flips.no_to_yes"):
        bad = copy.deepcopy(record)
        _add(path, 1)(bad)
        assert check_record(bad), path


# --- Parquet side files --------------------------------------------------------------------------


def _parquet_file(tmp_path: Path, records: int = 2) -> tuple[Path, list[Record]]:
    recs = [
        build_record(seed=s, agents=12, mode="parquet", base_dir=tmp_path) for s in range(records)
    ]
    return write_jsonl(tmp_path / "runs.jsonl", recs), recs


def _rewrite_side(
    tmp_path: Path,
    record: Record,
    edit: Callable[[list[Record]], Any],
    schema: pa.Schema | None = None,
) -> None:
    side = tmp_path / record["agent_records"]["path"]
    rows = pq.read_table(side).to_pylist()
    edit(rows)
    write_side_file(side, rows, schema)


def test_parquet_records_are_valid(tmp_path: Path) -> None:
    path, _ = _parquet_file(tmp_path)
    report = validate_file(path)
    assert report.ok and report.lines == 2, report.problems


def test_parquet_side_file_missing(tmp_path: Path) -> None:
    path, recs = _parquet_file(tmp_path)
    (tmp_path / recs[1]["agent_records"]["path"]).unlink()
    report = validate_file(path)
    side = str(tmp_path / recs[1]["agent_records"]["path"])
    assert [(p.line, p.reason) for p in report.problems] == [
        (2, f"agent_records.path: side file {side!r} does not exist")
    ]


def test_parquet_side_file_resolved_against_the_jsonl_directory(tmp_path: Path) -> None:
    path, _ = _parquet_file(tmp_path)
    moved = tmp_path / "elsewhere" / "runs.jsonl"
    moved.parent.mkdir()
    moved.write_bytes(path.read_bytes())
    report = validate_file(moved)
    assert report.invalid == 2
    assert all("does not exist" in p.reason for p in report.problems)


@pytest.mark.parametrize("outside", ["../{name}", "{abs}"])
def test_a_side_file_path_never_leaves_the_results_folder(tmp_path: Path, outside: str) -> None:
    _, recs = _parquet_file(tmp_path)  # the side files exist, next to runs.jsonl
    moved = tmp_path / "sub" / "runs.jsonl"
    moved.parent.mkdir()
    lines = []
    for r in recs:
        rel = r["agent_records"]["path"]
        r["agent_records"]["path"] = outside.format(name=rel, abs=tmp_path / rel)
        lines.append(json.dumps(r))
    moved.write_text("\n".join(lines) + "\n")
    report = validate_file(moved)
    assert report.invalid == len(recs)
    reasons = [p.reason for p in report.problems]
    assert all(r.startswith("agent_records.path: ") for r in reasons), reasons
    assert all("leads out of the folder" in r or "must be relative" in r for r in reasons)


def test_parquet_hash_mismatch_and_bad_rows(tmp_path: Path) -> None:
    path, recs = _parquet_file(tmp_path)

    def corrupt(rows: list[Record]) -> None:
        rows[4]["stake"] = -2.0
        rows[5]["archetype"] = "shark"
        rows[6]["flip_count"] = 99

    _rewrite_side(tmp_path, recs[0], corrupt)
    reasons = [p.reason for p in validate_file(path).problems if p.line == 1]
    actual = sha256_of(tmp_path / recs[0]["agent_records"]["path"])
    rel = recs[0]["agent_records"]["path"]
    assert (
        f"agent_records.sha256: {recs[0]['agent_records']['sha256']}, but {rel} hashes to {actual}"
        in reasons
    )
    assert "agent_records.path row 4.stake: -2.0 is outside [0, inf)" in reasons
    assert "agent_records.path row 5.archetype: 'shark' is not an archetype" in reasons
    assert (
        "agent_records.path row 6.flip_count: 99 exceeds cascade_rounds = "
        f"{recs[0]['cascade_rounds']} (at most one flip per round)" in reasons
    )
    assert any(r.startswith("flips.total:") and "flip_count values sum to" in r for r in reasons)


def test_parquet_rows_checked_even_when_hash_matches(tmp_path: Path) -> None:
    path, recs = _parquet_file(tmp_path)
    _rewrite_side(tmp_path, recs[0], lambda rows: rows.pop())
    side = tmp_path / recs[0]["agent_records"]["path"]
    recs[0]["agent_records"]["sha256"] = sha256_of(side)
    write_jsonl(path, recs)
    reasons = [p.reason for p in validate_file(path).problems]
    rel = recs[0]["agent_records"]["path"]
    assert f"agent_records.count: 12, but {rel} has 11 rows" in reasons


def test_parquet_columns(tmp_path: Path) -> None:
    path, recs = _parquet_file(tmp_path)
    schema = pa.schema([f for f in _schema_without("degree")] + [pa.field("colour", pa.string())])

    def edit(rows: list[Record]) -> None:
        for row in rows:
            del row["degree"]
            row["colour"] = "red"
            row["stake"] = str(row["stake"])

    schema = schema.set(schema.get_field_index("stake"), pa.field("stake", pa.string()))
    _rewrite_side(tmp_path, recs[0], edit, schema)
    reasons = [p.reason for p in validate_file(path).problems if p.line == 1]
    assert "agent_records.path column degree: missing column" in reasons
    assert "agent_records.path column colour: unknown column" in reasons
    assert "agent_records.path column stake: wrong type: string, expected float" in reasons


def _schema_without(name: str) -> list[pa.Field]:
    from kit.records import side_file_schema

    return [f for f in side_file_schema() if f.name != name]


def test_parquet_reference_rules(tmp_path: Path) -> None:
    _, recs = _parquet_file(tmp_path, records=1)
    r = copy.deepcopy(recs[0])
    r["agent_records"]["sha256"] = None
    assert "agent_records.sha256: missing, but mode is parquet" in check_record(r)
    r = copy.deepcopy(recs[0])
    r["agent_records"]["path"] = str(tmp_path / r["agent_records"]["path"])
    assert check_record(r, base_dir=tmp_path) == [
        f"agent_records.path: {r['agent_records']['path']!r} must be relative to the JSONL file"
    ]
    assert check_record(recs[0]) == []  # without base_dir the side file is not opened


# --- CLI -----------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return python_module("simulator.validate", *args)


@pytest.mark.slow
def test_cli_exit_codes_and_output(tmp_path: Path, valid: Record) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", [valid, valid])
    bad_record = copy.deepcopy(valid)
    bad_record["flips"]["per_round"][0] += 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text(dumps(valid) + dumps(bad_record) + "not json\n")

    ok = _cli("--file", str(good))
    assert (ok.returncode, ok.stdout, ok.stderr) == (
        0,
        f"{good}: 2 lines, 2 valid, 0 invalid\n",
        "",
    )

    both = _cli("--file", str(good), "--file", str(bad))
    assert both.returncode == 1
    lines = both.stdout.splitlines()
    assert lines[0] == f"{good}: 2 lines, 2 valid, 0 invalid"
    assert lines[-1] == f"{bad}: 3 lines, 1 valid, 2 invalid"
    assert any(line.startswith(f"{bad}:2: flips.total:") for line in lines)
    assert f"{bad}:3: invalid JSON: expected ident at column 2" in lines

    missing = _cli("--file", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"validate: --file {tmp_path / 'nope.jsonl'}: no such file"
    assert "Traceback" not in missing.stderr

    usage = _cli()
    assert usage.returncode == 2 and "--file" in usage.stderr


def test_empty_file_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    report = validate_file(path)
    assert report.ok and report.summary() == f"{path}: 0 lines, 0 valid, 0 invalid"


# --- records from the real engine ----------------------------------------------------------------

ENGINE_CASES = [
    ({"agents": 60}, "inline"),
    ({"agents": 200, "cascade_rounds": 8, "conformity_threshold": 0.3}, "inline"),
    ({"agents": 150, "influence_model": "small_world", "cascade_rounds": 5}, "parquet"),
    ({"agents": 2000, "mean_degree": 6.0, "cascade_rounds": 10, "whale_ratio": 0.3}, "parquet"),
    ({"agents": 500, "network_density": 0.0, "cascade_rounds": 3}, "none"),
    ({"agents": 1, "cascade_rounds": 2}, "inline"),
]


@pytest.mark.parametrize(("params", "mode"), ENGINE_CASES)
def test_engine_records_are_valid(tmp_path: Path, params: dict[str, Any], mode: str) -> None:
    from simulator.params import AgentRecords, SimParams
    from simulator.records.building import run_records
    from simulator.records.io import append_records

    out = tmp_path / "runs.jsonl"
    records = run_records(
        SimParams(**params), base_seed=7, runs=3, agent_records=AgentRecords(mode), output=out
    )
    assert append_records(out, records) == 3
    report = validate_file(out)
    assert report.ok and report.lines == 3, report.problems


def test_engine_record_corruption_is_caught(tmp_path: Path) -> None:
    from simulator.params import SimParams
    from simulator.records.building import run_records
    from simulator.records.io import append_records

    out = tmp_path / "runs.jsonl"
    append_records(out, run_records(SimParams(agents=80, cascade_rounds=4), base_seed=1, runs=2))
    lines = out.read_text().splitlines()
    record = json.loads(lines[1])
    i = next(a["id"] for a in record["agents"] if a["participated"])  # a voter: tallies move
    record["agents"][i]["final_vote"] = not record["agents"][i]["final_vote"]
    out.write_text(lines[0] + "\n" + json.dumps(record) + "\n")
    report = validate_file(out)
    assert report.invalid == 1
    reasons = [p.reason for p in report.problems]
    assert all(p.line == 2 for p in report.problems)
    assert any(r.startswith(f"agents.{i}.flip_count:") for r in reasons), reasons
    assert any(r.startswith("votes.final.yes:") for r in reasons), reasons
