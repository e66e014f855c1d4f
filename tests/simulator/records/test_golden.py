"""A small run pinned field for field: any change to draws, rules or the record shows up here.

Regenerate deliberately (after an intended model change, a numpy upgrade that changes its random
streams, or on a platform whose libm differs) with:

    GOVSIM_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/simulator/records/test_golden.py

and review the diff of tests/simulator/records/golden/small_run.json like code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from simulator.params import SimParams
from simulator.records.building import run_records

GOLDEN = Path(__file__).parent / "golden" / "small_run.json"
PARAMS = SimParams(agents=24, cascade_rounds=4, network_density=0.25, conformity_threshold=0.5)
BASE_SEED = 2024


def pinned_record() -> dict[str, Any]:
    (rec,) = run_records(PARAMS, base_seed=BASE_SEED, runs=1, first_index=3)
    data = json.loads(rec.model_dump_json(by_alias=True))
    del data["run_id"], data["timestamp"]
    return data


def test_small_run_matches_golden_file() -> None:
    current = pinned_record()
    if os.environ.get("GOVSIM_REGEN_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
        pytest.skip(f"regenerated {GOLDEN}")
    assert current == json.loads(GOLDEN.read_text())
