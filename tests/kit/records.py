"""Hand-built, internally consistent v0.4 run records for the schema, validator and migration tests.

The records come from a toy cascade (random flips per round, stopping after the first round without
flips), not from the engine, so the validator's rules are tested against an independent producer.
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

from simulator.params import ARCHETYPES, SimParams
from simulator.records.schema import RunRecord

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
) -> Record:
    """A consistent v0.4 record as ``json.loads`` would return it (parquet mode writes a file)."""
    rng = np.random.default_rng(seed)
    n = agents
    stake = [float(s) for s in np.round(rng.pareto(1.5, n) * 100 + 1, 3)]
    upper = np.triu(rng.random((n, n)) < 0.4, k=1)
    degree = [int(d) for d in (upper | upper.T).sum(axis=1)]
    initial = rng.random(n) < 0.5
    votes = initial.copy()
    flip_count = np.zeros(n, dtype=np.int64)
    flip_round = np.zeros(n, dtype=np.int64)
    per_round: list[int] = []
    yes_to_no = no_to_yes = 0
    for r in range(1, max_rounds + 1):
        flippers = rng.random(n) < flip_prob
        per_round.append(int(flippers.sum()))
        if not flippers.any():
            break
        yes_to_no += int((flippers & votes).sum())
        no_to_yes += int((flippers & ~votes).sum())
        votes = votes ^ flippers
        flip_round[flippers & (flip_count == 0)] = r
        flip_count += flippers
    total = int(flip_count.sum())

    def tally(v: np.ndarray) -> tuple[dict[str, int], dict[str, float]]:
        yes = math.fsum(s for s, x in zip(stake, v, strict=True) if x)
        no = math.fsum(s for s, x in zip(stake, v, strict=True) if not x)
        return {"yes": int(v.sum()), "no": int(n - v.sum())}, {"yes": yes, "no": no}

    count_i, stake_i = tally(initial)
    count_f, stake_f = tally(votes)
    params = SimParams(
        agents=n, cascade_rounds=max_rounds, influence_model=influence_model
    ).model_dump(mode="json")
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
        }
        for i in range(n)
    ]
    record: Record = {
        "schema_version": "0.4",
        "run_id": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
        "timestamp": "2024-05-01T12:00:00Z",
        "seed": seed,
        "base_seed": seed,
        "run_index": 0,
        "code_version": "0.4.0",
        "params": params,
        "proposal": {"risk": 0.25, "yield": 0.75, "complexity": 0.5},
        "votes": {
            "initial": count_i,
            "final": count_f,
            "weighted": {"initial": stake_i, "final": stake_f, "total_stake": math.fsum(stake)},
            "passed": stake_f["yes"] > stake_f["no"],
            "passed_initial": stake_i["yes"] > stake_i["no"],
        },
        "flips": {
            "total": total,
            "yes_to_no": yes_to_no,
            "no_to_yes": no_to_yes,
            "per_round": per_round,
            "whale_signal_followers": int(rng.integers(0, total + 1)),
        },
        "influence_model": influence_model,
        "cascade_rounds": len(per_round),
        "agents_flipped_total": int((flip_count > 0).sum()),
        "agent_records": {"mode": mode, "path": None, "sha256": None, "count": n},
        "agents": None,
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
    RunRecord.model_validate(record)
    return record


def write_side_file(path: Path, rows: list[Record], schema: pa.Schema | None = None) -> None:
    """Write per-agent rows as a Parquet side file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schema or side_file_schema())
    pq.write_table(table, path)


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
