"""Small runs pinned field for field: any change to draws, rules or the record shows up here.

``golden/small_run.json`` is a v0.4-rules run as schema 0.4 wrote it; it stays as it was: its
record, lifted by the migration, must equal the record the same run writes today, and its
parameters alone must reproduce it. ``golden/small_run_v05.json`` pins a v0.5-rules run
(population, turnout, random_fraction schedule) as schema 0.5 wrote it; lifted to today's schema
it must equal today's record of the same run.

Regenerate the v0.5 file deliberately (after an intended model change, a numpy upgrade that changes
its random streams, or on a platform whose libm differs) with:

    GOVSIM_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/simulator/records/test_golden.py

and review the diff like code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from simulator.params import RuleSet, SimParams
from simulator.records.building import run_records
from simulator.records.legacy import upgrade
from simulator.records.schema import SCHEMA_VERSION, RunRecord

GOLDEN = Path(__file__).parent / "golden"
V04_GOLDEN = GOLDEN / "small_run.json"
V05_GOLDEN = GOLDEN / "small_run_v05.json"
V04_PARAMS = SimParams(
    agents=24,
    cascade_rounds=4,
    network_density=0.25,
    conformity_threshold=0.5,
    rules=RuleSet.V0_4,
)
V05_PARAMS = SimParams(
    agents=40, mean_degree=8, conformity_threshold=0.5, rules=RuleSet.V0_5, calibration="compound"
)
BASE_SEED = 2024


def pinned_record(params: SimParams) -> dict[str, Any]:
    (rec,) = run_records(params, base_seed=BASE_SEED, runs=1, first_index=3)
    data = json.loads(rec.model_dump_json(by_alias=True))
    del data["run_id"], data["timestamp"]
    return data


def lifted_v04_golden() -> dict[str, Any]:
    """The v0.4 golden record lifted to today's schema (run_id and timestamp for the migration)."""
    old = json.loads(V04_GOLDEN.read_text())
    assert old["schema_version"] == "0.4"
    ids = {"run_id": "00000000-0000-4000-8000-000000000000", "timestamp": "2024-01-01T00:00:00Z"}
    lifted = json.loads(
        RunRecord.model_validate(upgrade({**old, **ids})).model_dump_json(by_alias=True)
    )
    del lifted["run_id"], lifted["timestamp"]
    return lifted


def test_v04_golden_reproduces_bit_for_bit_from_its_params() -> None:
    lifted = lifted_v04_golden()
    params = SimParams.model_validate(lifted["params"])
    assert params == V04_PARAMS and params.rules is RuleSet.V0_4
    current = pinned_record(params)
    for agent in current["agents"]:  # schema 0.4 did not record these
        agent["utility"] = agent["whale_signal_follows"] = None
    current["code_version"] = lifted["code_version"]
    assert current == lifted


def test_v05_run_matches_golden_file() -> None:
    """The v0.5-rules golden run, written in schema 0.5, lifted to today's schema by the
    migration, equals the record the same run writes today (0.6 changed nothing a run without
    scenarios writes but the version)."""
    current = pinned_record(V05_PARAMS)
    if os.environ.get("GOVSIM_REGEN_GOLDEN"):
        V05_GOLDEN.write_text(
            json.dumps({**current, "schema_version": "0.5"}, indent=2, sort_keys=True) + "\n"
        )
        pytest.skip(f"regenerated {V05_GOLDEN}")
    golden = json.loads(V05_GOLDEN.read_text())
    assert golden["schema_version"] == "0.5"
    ids = {"run_id": "00000000-0000-4000-8000-000000000000", "timestamp": "2024-01-01T00:00:00Z"}
    lifted = json.loads(
        RunRecord.model_validate(upgrade({**golden, **ids})).model_dump_json(by_alias=True)
    )
    del lifted["run_id"], lifted["timestamp"]
    assert current["schema_version"] == SCHEMA_VERSION != "0.5"
    assert current == lifted


def test_v05_golden_is_a_run_with_abstainers_and_flips() -> None:
    """The pinned v0.5 run exercises what v0.5 adds (so the golden file can catch changes)."""
    golden = json.loads(V05_GOLDEN.read_text())
    assert 0 < golden["turnout"]["votes_cast"] < V05_PARAMS.agents
    assert golden["flips"]["total"] > 0
    assert golden["cascade"]["ending"] == "converged"
    assert {a["participated"] for a in golden["agents"]} == {True, False}
