"""Run records from engine results, Parquet side files and the append-only JSONL writer."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import numpy as np
import pyarrow.parquet as pq
import pytest
from pydantic_core import to_json

from simulator.errors import ParameterError, RecordError
from simulator.model import simulate
from simulator.params import ARCHETYPES, AgentRecords, SimParams
from simulator.records.building import agent_columns, build_record, record_fields, run_records
from simulator.records.io import append_records, write_agent_parquet
from simulator.records.schema import SCENARIO_BLOCKS, SCHEMA_PATH, AgentRecordsRef, RunRecord
from simulator.seeding import run_seed

PARAMS = SimParams(agents=40, cascade_rounds=4, network_density=0.2, rules="v0.4")  # all vote
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


def record(mode: AgentRecords = AgentRecords.INLINE, seed: int = 5) -> RunRecord:
    return build_record(
        simulate(PARAMS, seed),
        run_id=uuid.uuid4(),
        timestamp=WHEN,
        base_seed=1,
        run_index=0,
        agent_records=mode,
    )


def as_json(rec: RunRecord) -> dict:  # type: ignore[type-arg]
    return json.loads(rec.model_dump_json(by_alias=True))


def test_record_tallies_agree_with_the_result() -> None:
    result = simulate(PARAMS, 5)
    rec = record()
    votes = rec.votes
    assert votes.initial.yes + votes.initial.no == PARAMS.agents
    assert votes.final.yes == int(result.influence.final_votes.sum())
    w = votes.weighted
    assert w.final.yes + w.final.no == w.total_stake == w.initial.yes + w.initial.no
    assert votes.passed is (w.final.yes > w.final.no)
    assert votes.passed_initial is (w.initial.yes > w.initial.no)
    assert rec.flips.total == sum(rec.flips.per_round) == rec.flips.yes_to_no + rec.flips.no_to_yes
    assert rec.cascade_rounds == len(rec.flips.per_round)
    assert rec.agents_flipped_total == int((result.influence.flip_count > 0).sum())
    assert rec.influence_model == "erdos_renyi"
    assert rec.agent_records.count == PARAMS.agents
    assert rec.agents is not None and len(rec.agents) == PARAMS.agents
    flipped = [a for a in rec.agents if a.flip_count]
    assert len(flipped) == rec.agents_flipped_total
    assert all(a.flip_round is not None for a in flipped)
    assert all(a.flip_round is None for a in rec.agents if not a.flip_count)
    assert sum(a.stake for a in rec.agents if a.final_vote) == w.final.yes


@pytest.mark.parametrize("mode", [AgentRecords.INLINE, AgentRecords.NONE])
def test_records_validate_against_model_and_generated_json_schema(mode: AgentRecords) -> None:
    data = as_json(record(mode))
    VALIDATOR.validate(data)
    assert RunRecord.model_validate(data).model_dump(mode="json", by_alias=True) == data
    assert data["proposal"].keys() == {"risk", "yield", "complexity"}
    assert (data["agents"] is None) is (mode is AgentRecords.NONE)


@pytest.mark.parametrize("mode", [AgentRecords.INLINE, AgentRecords.NONE, AgentRecords.PARQUET])
def test_serialised_fields_are_the_records_json(mode: AgentRecords, tmp_path: Path) -> None:
    # The sweep worker stores to_json(record_fields(...)) without building the model first; a
    # record written by govsim (the validated model, dumped) must come out byte for byte the same.
    result = simulate(PARAMS, 9)
    run_id = uuid.uuid4()
    ref: AgentRecords | AgentRecordsRef = mode
    if mode is AgentRecords.PARQUET:
        ref = write_agent_parquet(agent_columns(result), tmp_path / "runs.jsonl", run_id)
    kwargs = {"run_id": run_id, "timestamp": WHEN, "base_seed": 1, "run_index": 3}
    stored = to_json(record_fields(result, agent_records=ref, **kwargs), by_alias=True)
    dumped = build_record(result, agent_records=ref, **kwargs).model_dump_json(by_alias=True)
    assert stored == dumped.encode()
    # the scenario blocks are left out of a run without scenarios
    assert list(json.loads(stored)) == [
        f for f in RunRecord.model_fields if f not in SCENARIO_BLOCKS
    ]


def test_parquet_mode_without_a_side_file_is_an_error() -> None:
    with pytest.raises(ParameterError, match="parquet"):
        record(AgentRecords.PARQUET)
    with pytest.raises(ParameterError, match="output"):
        next(run_records(PARAMS, base_seed=1, runs=1, agent_records=AgentRecords.PARQUET))


def test_parquet_side_file_is_referenced_relative_with_its_digest(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "runs.jsonl"
    (rec,) = run_records(
        PARAMS, base_seed=3, runs=1, agent_records=AgentRecords.PARQUET, output=out
    )
    ref = rec.agent_records
    assert ref.path is not None and not Path(ref.path).is_absolute()
    side = out.parent / ref.path
    assert ref.sha256 == hashlib.sha256(side.read_bytes()).hexdigest()
    assert ref.count == PARAMS.agents and rec.agents is None
    table = pq.read_table(side).to_pylist()
    result = simulate(PARAMS, run_seed(3, 0))
    assert [row["id"] for row in table] == list(range(PARAMS.agents))
    assert [row["archetype"] for row in table] == [
        ARCHETYPES[c].value for c in result.agents.archetype
    ]
    assert [row["final_vote"] for row in table] == result.influence.final_votes.tolist()
    assert [row["flip_round"] for row in table] == [
        r or None for r in result.influence.flip_round.tolist()
    ]
    assert [p.name for p in side.parent.iterdir()] == [side.name]  # no temporary file is left
    VALIDATOR.validate(as_json(rec))


def test_run_records_are_deterministic_apart_from_id_and_time() -> None:
    def strip(rec: RunRecord) -> dict:  # type: ignore[type-arg]
        data = as_json(rec)
        del data["run_id"], data["timestamp"]
        return data

    first = [strip(r) for r in run_records(PARAMS, base_seed=9, runs=3)]
    again = [strip(r) for r in run_records(PARAMS, base_seed=9, runs=3)]
    assert first == again
    assert [r["seed"] for r in first] == [run_seed(9, i) for i in range(3)]
    assert [r["run_index"] for r in first] == [0, 1, 2]
    assert len({json.dumps(r["votes"]) for r in first}) == 3


def test_clock_and_ids_are_injected() -> None:
    ids = iter([uuid.UUID(int=7, version=4), uuid.UUID(int=8, version=4)])
    recs = list(
        run_records(PARAMS, base_seed=1, runs=2, clock=lambda: WHEN, new_id=lambda: next(ids))
    )
    assert [r.timestamp for r in recs] == [WHEN, WHEN]
    assert [r.run_id.int & 0xFF for r in recs] == [7, 8]


def test_append_creates_parents_and_keeps_earlier_lines(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "runs.jsonl"
    assert append_records(path, [record(seed=1), record(seed=2)]) == 2
    before = path.read_bytes()
    assert append_records(path, [record(seed=3)]) == 1
    after = path.read_bytes()
    assert after.startswith(before) and after.endswith(b"\n")
    lines = after.decode().splitlines()
    assert len(lines) == 3
    for line in lines:
        RunRecord.model_validate_json(line)
    assert append_records(path, []) == 0 and path.read_bytes() == after


def test_append_refuses_a_file_whose_last_line_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    append_records(path, [record()])
    with open(path, "ab") as fh:
        fh.write(b'{"schema_version": "0.4", "run_')
    damaged = path.read_bytes()
    with pytest.raises(RecordError, match="no trailing newline"):
        append_records(path, [record()])
    assert path.read_bytes() == damaged


def test_append_writes_each_batch_with_one_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[int] = []
    real_write = os.write

    def spy(fd: int, data: bytes) -> int:
        writes.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spy)
    path = tmp_path / "runs.jsonl"
    append_records(path, [record(seed=s) for s in range(3)])
    assert len(writes) == 1 and writes[0] == path.stat().st_size


def test_large_run_tallies_stay_exact() -> None:
    result = simulate(SimParams(agents=20_000, mean_degree=8, cascade_rounds=3, rules="v0.4"), 1)
    rec = build_record(
        result,
        run_id=uuid.uuid4(),
        timestamp=WHEN,
        base_seed=0,
        run_index=0,
        agent_records=AgentRecords.NONE,
    )
    w = rec.votes.weighted
    assert w.final.yes + w.final.no == w.total_stake
    assert np.isclose(w.total_stake, float(result.agents.stake.sum()))


V05_CASES = [  # (params, seed): random_fraction with quiet rounds; synchronous 2-cycle; presets
    (
        SimParams(
            agents=300, mean_degree=25, conformity_threshold=0.3, rules="v0.5", cascade_rounds=60
        ),
        2,
    ),
    (
        SimParams(
            agents=200, mean_degree=20, conformity_threshold=0.3, rules="v0.5", cascade_rounds=60,
            schedule="synchronous",
        ),
        0,
    ),
    (SimParams(agents=400, rules="v0.5", calibration="compound"), 3),
    (SimParams(agents=400, rules="v0.5", calibration="uniswap", quorum=0.9), 4),
]  # fmt: skip


@pytest.mark.parametrize(("params", "seed"), V05_CASES)
@pytest.mark.parametrize("mode", [AgentRecords.INLINE, AgentRecords.PARQUET])
def test_v05_records_are_valid_and_tally_votes_cast(
    params: SimParams, seed: int, mode: AgentRecords, tmp_path: Path
) -> None:
    from simulator.concentration import gini
    from simulator.records.validate import validate_file

    result = simulate(params, seed)
    out = tmp_path / "runs.jsonl"
    run_id = uuid.uuid4()
    ref = (
        write_agent_parquet(agent_columns(result), out, run_id)
        if mode is AgentRecords.PARQUET
        else mode
    )
    rec = build_record(result, run_id=run_id, timestamp=datetime.now(UTC), base_seed=0,
                       run_index=0, agent_records=ref)  # fmt: skip
    append_records(out, [rec])
    report = validate_file(out)
    assert report.ok, report.problems
    voted = result.participated
    assert 0 < rec.turnout.votes_cast == int(voted.sum()) < params.agents
    assert rec.votes.final.yes == int((result.influence.final_votes & voted).sum())
    stake = result.agents.stake
    assert rec.turnout.stake_cast == float(stake[voted].sum())
    assert rec.votes.weighted.total_stake == float(stake.sum())
    assert rec.turnout.quorum_met is (
        rec.turnout.stake_cast >= rec.turnout.quorum * float(stake.sum())
    )
    assert rec.votes.passed is (
        rec.turnout.quorum_met and rec.votes.weighted.final.yes > rec.votes.weighted.final.no
    )
    assert rec.outcome_changed_by_cascade is (rec.votes.passed != rec.votes.passed_initial)
    assert rec.concentration is not None and rec.concentration.gini == gini(stake[voted])
    assert rec.cascade.ending.value == result.influence.ending.value
    assert rec.flips.whale_signal_follow_events == int(result.influence.whale_follows.sum())


def test_v05_cases_cover_quiet_rounds_cycles_and_a_missed_quorum() -> None:
    """The cases above reach what the 0.5 consistency rules newly allow."""
    results = [simulate(p, s) for p, s in V05_CASES]
    quiet = results[0].influence.flips_per_round[:-1]
    assert (quiet == 0).any() and results[0].influence.ending.value == "converged"
    assert results[1].influence.ending.value == "cycle"
    assert results[1].influence.rounds_run < V05_CASES[1][0].cascade_rounds
    stake = results[3].agents.stake
    assert float(stake[results[3].participated].sum()) < 0.9 * float(stake.sum())  # quorum missed
