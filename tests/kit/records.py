"""Hand-built, internally consistent v0.5 run records for the schema, validator and migration tests.

The records come from a toy cascade (random flips per round, stopping after the first round without
flips; under rules v0.5 a random set of agents abstains and never flips), not from the engine, so
the validator's rules are tested against an independent producer; with ``traces`` the toy cascade's
flips are also written as a flip-trace side file. ``build_v04_record`` gives the same run in the
schema 0.4 shape, for the migration tests.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.concentration import gini, nakamoto
from simulator.params import ARCHETYPES, SimParams
from simulator.records.schema import SCHEMA_VERSION, RunRecord

Record = dict[str, Any]


def build_record(
    *,
    agents: int = 8,
    max_rounds: int = 3,
    seed: int = 0,
    flip_prob: float = 0.3,
    mode: str = "inline",
    base_dir: Path | None = None,
    influence_model: str = "erdos_renyi",
    rules: str = "v0.4",
    traces: bool = False,
) -> Record:
    """A consistent v0.5 record as ``json.loads`` would return it (parquet mode writes a file).

    ``rules`` v0.5 runs with calibration compound (quorum 0.04) and random abstainers. ``traces``
    writes the flips to ``<base_dir>/traces/<run_id>.parquet``: the first ``whale_signal_follows``
    flips of each agent are caused by the whale signal, the others by its neighbours.
    """
    rng = np.random.default_rng(seed)
    n = agents
    v05 = rules == "v0.5"
    stake = [float(s) for s in np.round(rng.pareto(1.5, n) * 100 + 1, 3)]
    upper = np.triu(rng.random((n, n)) < 0.4, k=1)
    degree = [int(d) for d in (upper | upper.T).sum(axis=1)]
    initial = rng.random(n) < 0.5
    voted = rng.random(n) < 0.6 if v05 else np.ones(n, dtype=bool)
    utility = np.where(initial, 1.0, -1.0) * (rng.random(n) + 0.01)
    votes = initial.copy()
    flip_count = np.zeros(n, dtype=np.int64)
    flip_round = np.zeros(n, dtype=np.int64)
    per_round: list[int] = []
    yes_to_no = no_to_yes = 0
    events: list[tuple[int, int, bool]] = []  # (round, agent, vote before the flip)
    for r in range(1, max_rounds + 1):
        flippers = (rng.random(n) < flip_prob) & voted
        per_round.append(int(flippers.sum()))
        if not flippers.any():
            break
        events += [(r, int(i), bool(votes[i])) for i in np.flatnonzero(flippers)]
        yes_to_no += int((flippers & votes).sum())
        no_to_yes += int((flippers & ~votes).sum())
        votes = votes ^ flippers
        flip_round[flippers & (flip_count == 0)] = r
        flip_count += flippers
    total = int(flip_count.sum())

    def tally(v: np.ndarray) -> tuple[dict[str, int], dict[str, float]]:
        yes = math.fsum(s for s, x, c in zip(stake, v, voted, strict=True) if x and c)
        no = math.fsum(s for s, x, c in zip(stake, v, voted, strict=True) if c and not x)
        return {"yes": int((v & voted).sum()), "no": int((~v & voted).sum())}, {
            "yes": yes,
            "no": no,
        }

    count_i, stake_i = tally(initial)
    count_f, stake_f = tally(votes)
    sim = SimParams(
        agents=n,
        cascade_rounds=max_rounds,
        influence_model=influence_model,
        rules=rules,
        **({"calibration": "compound"} if v05 else {}),
    )
    params = sim.model_dump(mode="json")
    quorum = 0.04 if v05 else 0.0
    total_stake = math.fsum(stake)
    cast = stake_f["yes"] + stake_f["no"]
    met = cast >= quorum * total_stake
    passed, passed_initial = (
        met and stake_f["yes"] > stake_f["no"],
        met and stake_i["yes"] > stake_i["no"],
    )
    power = np.array(stake)[voted]
    follows = [int(rng.integers(0, c + 1)) for c in flip_count]
    if per_round[-1] == 0:
        changed = [k + 1 for k, f in enumerate(per_round) if f]
        cascade = {
            "ending": "converged",
            "converged_round": changed[-1] if changed else 0,
            "period": None,
        }
    else:
        cascade = {"ending": "round_cap", "converged_round": None, "period": None}
    rows = [
        {
            "id": i,
            "archetype": ARCHETYPES[int(rng.integers(len(ARCHETYPES)))].value,
            "stake": stake[i],
            "risk_tolerance": float(rng.random()),
            "conformity": float(rng.random()),
            "threshold": float(rng.random()),
            "degree": degree[i],
            "initial_vote": bool(initial[i]),
            "final_vote": bool(votes[i]),
            "flip_count": int(flip_count[i]),
            "flip_round": int(flip_round[i]) or None,
            "participated": bool(voted[i]),
            "utility": float(utility[i]),
            "whale_signal_follows": follows[i],
        }
        for i in range(n)
    ]
    record: Record = {
        "schema_version": SCHEMA_VERSION,
        "run_id": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
        "timestamp": "2024-05-01T12:00:00Z",
        "seed": seed,
        "base_seed": seed,
        "run_index": 0,
        "code_version": "0.4.0",
        "params": params,
        "rules": rules,
        "schedule": sim.schedule.value,
        "calibration": sim.calibration.value,
        "proposal": {"risk": 0.25, "yield": 0.75, "complexity": 0.5},
        "turnout": {
            "votes_cast": int(voted.sum()),
            "stake_cast": cast,
            "quorum": quorum,
            "quorum_met": met,
        },
        "votes": {
            "initial": count_i,
            "final": count_f,
            "weighted": {"initial": stake_i, "final": stake_f, "total_stake": total_stake},
            "passed": passed,
            "passed_initial": passed_initial,
        },
        "outcome_changed_by_cascade": passed != passed_initial,
        "concentration": {"gini": gini(power), "nakamoto": nakamoto(power)},
        "flips": {
            "total": total,
            "yes_to_no": yes_to_no,
            "no_to_yes": no_to_yes,
            "per_round": per_round,
            "whale_signal_follow_events": sum(follows),
        },
        "influence_model": influence_model,
        "cascade_rounds": len(per_round),
        "cascade": cascade,
        "agents_flipped_total": int((flip_count > 0).sum()),
        "agent_records": {"mode": mode, "path": None, "sha256": None, "count": n},
        "agents": None,
        "traces": None,
    }
    if mode == "inline":
        record["agents"] = rows
    elif mode == "none":
        record["agent_records"]["count"] = 0
    else:
        assert base_dir is not None, "parquet mode writes a side file next to the JSONL file"
        rel = f"agents/{record['run_id']}.parquet"
        write_side_file(base_dir / rel, rows)
        record["agent_records"].update(path=rel, sha256=sha256_of(base_dir / rel))
    if traces:
        assert base_dir is not None, "a trace is a side file next to the JSONL file"
        done = [0] * n
        rows = []
        for r, i, before in events:
            cause = "whale_signal" if done[i] < follows[i] else "neighbours"
            done[i] += 1
            rows.append(
                {
                    "run": record["run_index"],
                    "agent": i,
                    "round": r,
                    "from_vote": before,
                    "to_vote": not before,
                    "cause": cause,
                }
            )
        rel = f"traces/{record['run_id']}.parquet"
        write_trace_file(base_dir / rel, rows)
        record["traces"] = {"path": rel, "sha256": sha256_of(base_dir / rel), "count": len(rows)}
    RunRecord.model_validate(record)
    return record


V05_ONLY_TOP = (
    "traces",
    "rules",
    "schedule",
    "calibration",
    "turnout",
    "outcome_changed_by_cascade",
    "concentration",
    "cascade",
)
V05_ONLY_AGENT = ("participated", "utility", "whale_signal_follows")


def build_v04_record(**kwargs: Any) -> Record:
    """The same (v0.4-rules) run as :func:`build_record`, in the schema 0.4 shape."""
    mode = kwargs.get("mode", "inline")
    record = build_record(**{**kwargs, "mode": "inline" if mode == "parquet" else mode})
    old = {k: v for k, v in record.items() if k not in V05_ONLY_TOP}
    old["schema_version"] = "0.4"
    old["params"] = {k: v for k, v in record["params"].items() if k != "rules"}
    flips = dict(record["flips"])
    flips["whale_signal_followers"] = flips.pop("whale_signal_follow_events")
    old["flips"] = flips
    if record["agents"] is not None:
        old["agents"] = [
            {k: v for k, v in a.items() if k not in V05_ONLY_AGENT} for a in record["agents"]
        ]
    if mode == "parquet":
        base_dir = kwargs["base_dir"]
        rows = old["agents"]
        rel = f"agents/{record['run_id']}.parquet"
        schema = pa.schema([f for f in side_file_schema() if f.name not in V05_ONLY_AGENT])
        write_side_file(base_dir / rel, rows, schema)
        old["agents"] = None
        old["agent_records"] = {
            "mode": "parquet",
            "path": rel,
            "sha256": sha256_of(base_dir / rel),
            "count": len(rows),
        }
    return old


def write_side_file(path: Path, rows: list[Record], schema: pa.Schema | None = None) -> None:
    """Write per-agent rows as a Parquet side file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schema or side_file_schema())
    pq.write_table(table, path)


def write_trace_file(path: Path, rows: list[Record], schema: pa.Schema | None = None) -> None:
    """Write flip-trace rows as a Parquet side file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schema or trace_file_schema())
    pq.write_table(table, path)


def trace_file_schema() -> pa.Schema:
    """Column types of a flip-trace side file."""
    return pa.schema(
        [
            ("run", pa.int64()),
            ("agent", pa.int32()),
            ("round", pa.int32()),
            ("from_vote", pa.bool_()),
            ("to_vote", pa.bool_()),
            ("cause", pa.dictionary(pa.int8(), pa.string())),
        ]
    )


def side_file_schema() -> pa.Schema:
    """Column types of a side file."""
    return pa.schema(
        [
            ("id", pa.int64()),
            ("archetype", pa.dictionary(pa.int8(), pa.string())),
            ("stake", pa.float64()),
            ("risk_tolerance", pa.float64()),
            ("conformity", pa.float64()),
            ("threshold", pa.float64()),
            ("degree", pa.int32()),
            ("initial_vote", pa.bool_()),
            ("final_vote", pa.bool_()),
            ("flip_count", pa.int32()),
            ("flip_round", pa.int32()),
            ("participated", pa.bool_()),
            ("utility", pa.float64()),
            ("whale_signal_follows", pa.int32()),
        ]
    )


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dumps(record: Record) -> str:
    """One JSONL line (with its newline)."""
    return json.dumps(record, separators=(",", ":")) + "\n"


def write_jsonl(path: Path, records: list[Record]) -> Path:
    """Write records as a JSONL file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(dumps(r) for r in records))
    return path
