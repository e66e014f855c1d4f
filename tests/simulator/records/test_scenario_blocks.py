"""The ``mev`` and ``trace_stats`` record blocks: written only when on, valid, and every
corruption reported in one line naming the field."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic_core import to_json

from simulator.model import simulate
from simulator.params import AgentRecords, SimParams, Traces
from simulator.records.building import record_fields, run_records
from simulator.records.schema import SCHEMA_PATH, RunRecord
from simulator.records.validate import check_record

VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
PARAMS = SimParams(agents=2000, mean_degree=20, conformity_threshold=0.3, mev_share=0.2,
                   mev_value=3.0)  # fmt: skip
SEED = 3


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """A record with both blocks (its trace file beside it) and its directory."""
    base = tmp_path_factory.mktemp("blocks")
    rec = next(run_records(PARAMS, base_seed=SEED, runs=1, agent_records=AgentRecords.NONE,
                           traces=Traces.PARQUET, output=base / "runs.jsonl"))  # fmt: skip
    return json.loads(rec.model_dump_json(by_alias=True)), base


def test_blocks_are_valid_and_informative(traced: tuple[dict[str, Any], Path]) -> None:
    data, base = traced
    assert check_record(data, base_dir=base) == []
    VALIDATOR.validate(data)
    m, t = data["mev"], data["trace_stats"]
    # the run exercises what the rules check: changed votes, trees with parents, whale signals
    assert m["extractors"] == 400 and m["votes_changed"] > 0
    assert t["cascades"] < data["flips"]["total"] and t["whale_signal_cascades"] > 0
    assert sum(s * c for s, c in t["size_counts"]) == data["flips"]["total"]
    assert list(data)[-2:] == ["mev", "trace_stats"]


def test_blocks_are_left_out_when_their_scenario_is_off() -> None:
    rec = next(run_records(SimParams(agents=300), base_seed=1, runs=1,
                           agent_records=AgentRecords.NONE))  # fmt: skip
    data = json.loads(rec.model_dump_json(by_alias=True))
    assert "mev" not in data and "trace_stats" not in data and data["traces"] is None
    assert "mev_share" not in data["params"]


def test_the_workers_serialisation_is_the_records_json() -> None:
    rec = next(run_records(PARAMS, base_seed=SEED, runs=1, agent_records=AgentRecords.NONE))
    result = simulate(PARAMS, rec.seed)
    fields = record_fields(result, run_id=rec.run_id, timestamp=rec.timestamp, base_seed=SEED,
                           run_index=0, agent_records=AgentRecords.NONE)  # fmt: skip
    assert to_json(fields, by_alias=True) == rec.model_dump_json(by_alias=True).encode()
    assert RunRecord.model_validate(fields).mev == rec.mev


def _mutate(path: str, value: Any) -> Any:
    def apply(r: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = r
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is DELETE:
            del node[last]
        elif callable(value):
            node[int(last) if isinstance(node, list) else last] = value(
                node[int(last) if isinstance(node, list) else last]
            )
        else:
            node[int(last) if isinstance(node, list) else last] = value

    return apply


DELETE = object()

CASES: list[tuple[str, str, Any, str]] = [
    # (id, field path, new value or function of the old one, pattern of one reported line)
    ("mev-missing", "mev", DELETE, r"^mev: missing, but params\.mev_share = 0\.2 > 0$"),
    ("mev-off", "params.mev_share", 0.0, r"^mev: present, but params\.mev_share is 0"),
    ("extractors", "mev.extractors", lambda v: v + 1, r"^mev\.extractors: 401, but round"),
    ("voting", "mev.extractors_voting", 10**6, r"^mev\.extractors_voting: 1000000 exceeds"),
    ("changed", "mev.votes_changed", lambda v: v + 10**4, r"^mev\.votes_changed: \d+ exceeds"),
    ("scale", "mev.value_scale", lambda v: v * 2, r"^mev\.value_scale: .* but params\.mev_value"),
    ("honest", "mev.passed_honest", lambda v: not v, r"^mev\.passed_honest: "),
    ("changed-flag", "mev.outcome_changed_by_mev", lambda v: not v,
     r"^mev\.outcome_changed_by_mev: .* but votes\.passed"),
    ("yes-honest", "mev.yes_stake_honest", 1e15, r"must not exceed turnout\.stake_cast"),
    ("loss", "mev.welfare_loss", lambda v: v + 0.25, r"^mev\.welfare_loss: "),
    ("regret", "mev.welfare_regret", lambda v: min(1.0, v + 0.25), r"^mev\.welfare_regret: "),
    ("welfare-range", "mev.welfare_pass", 1.5,
     r"^mev\.welfare_pass: invalid value: .*less than or equal to 1, got 1\.5$"),
    ("mev-unknown", "mev.bribe", 1, r"^mev\.bribe: unknown field$"),
    ("stats-without-trace", "traces", None, r"^trace_stats: present, but the run wrote no trace"),
    ("sizes", "trace_stats.size_counts.0.1", lambda v: v + 1,
     r"^trace_stats\.size_counts: the trees hold \d+ flips, but flips\.total = \d+$"),
    ("sizes-order", "trace_stats.size_counts", lambda v: v[::-1],
     r"^trace_stats\.size_counts: sizes .* must increase strictly$"),
    ("size-zero", "trace_stats.size_counts.0.0", 0,
     r"^trace_stats\.size_counts\.0\.0: invalid value: .*greater than 0, got 0$"),
    ("depth-tail", "trace_stats.depth_counts", lambda v: [*v, 0],
     r"^trace_stats\.depth_counts: must end at the deepest tree"),
    ("depth-sum", "trace_stats.depth_counts.0", lambda v: v + 1, r"^trace_stats\.cascades: "),
    ("influence", "trace_stats.top_influence", 1e9, r"^trace_stats\.top_influence: 1000000000"),
    ("influencers", "trace_stats.influencers", 10**6, r"^trace_stats\.influencers: 1000000"),
    ("whale-roots", "trace_stats.whale_signal_cascades", 10**6,
     r"^trace_stats\.whale_signal_cascades: 1000000 exceeds"),
    ("share", "trace_stats.whale_signal_share", lambda v: v / 2,
     r"^trace_stats\.whale_signal_share: .* but whale_signal_stake / changed_stake"),
    ("whale-stake", "trace_stats.whale_signal_stake", 1e15,
     r"^trace_stats\.whale_signal_stake: .* exceeds changed_stake"),
    ("changed-stake", "trace_stats.changed_stake", 0.0, r"^trace_stats\.changed_stake: 0\.0 is "),
]  # fmt: skip


@pytest.mark.parametrize(("path", "value", "pattern"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_corruptions_are_reported(
    traced: tuple[dict[str, Any], Path], path: str, value: Any, pattern: str
) -> None:
    data, base = traced
    bad = copy.deepcopy(data)
    _mutate(path, value)(bad)
    problems = check_record(bad, base_dir=base)
    assert any(re.search(pattern, p) for p in problems), problems


def test_a_trace_without_statistics_is_valid(traced: tuple[dict[str, Any], Path]) -> None:
    # records written before cascade trees were computed have a trace and no trace_stats
    data, base = traced
    older = {k: v for k, v in data.items() if k != "trace_stats"}
    assert check_record(older, base_dir=base) == []


def test_a_decisive_whale_signal_needs_whale_driven_stake(
    traced: tuple[dict[str, Any], Path],
) -> None:
    data, base = traced
    bad = copy.deepcopy(data)
    t = bad["trace_stats"]
    t["whale_signal_stake"], t["whale_signal_share"], t["whale_signal_decisive"] = 0.0, 0.0, True
    assert "trace_stats.whale_signal_decisive: true, but whale_signal_stake is 0" in check_record(
        bad, base_dir=base
    )
