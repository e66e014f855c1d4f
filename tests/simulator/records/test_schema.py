"""The checked-in JSON Schema is the generated one, and it agrees with the pydantic model."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from kit.records import build_record

from simulator.records.migrate import migrate_file
from simulator.records.schema import SCHEMA_PATH, SCHEMA_VERSION, json_schema, render_json_schema

FIXTURES = Path(__file__).parent / "fixtures" / "legacy"


def test_checked_in_schema_is_current() -> None:
    """Regenerate with ``python -m simulator.records.schema --write`` when this fails."""
    assert SCHEMA_PATH.read_text() == render_json_schema()


def test_schema_is_a_valid_2020_12_schema_of_version_0_4() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert schema["additionalProperties"] is False
    assert "yield" in schema["$defs"]["ProposalBlock"]["properties"]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json_schema())


@pytest.mark.parametrize("mode", ["inline", "none"])
def test_valid_records_satisfy_the_json_schema(
    validator: jsonschema.Draft202012Validator, mode: str
) -> None:
    for seed in range(10):
        record = build_record(seed=seed, mode=mode)
        assert [e.message for e in validator.iter_errors(record)] == [], f"seed {seed}"


def test_migrated_fixtures_satisfy_the_json_schema(
    validator: jsonschema.Draft202012Validator, tmp_path: Path
) -> None:
    out = tmp_path / "mixed.jsonl"
    assert migrate_file(FIXTURES / "mixed.jsonl", out).ok
    for line in out.read_text().splitlines():
        validator.validate(json.loads(line))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("schema_version",), "0.3"),
        (("votes", "initial", "yes"), -1),
        (("proposal", "risk"), 2.0),
        (("agents", 0, "archetype"), "shark"),
        (("flips", "extra"), 1),
        (("seed",), "42"),
    ],
)
def test_json_schema_rejects_what_the_model_rejects(
    validator: jsonschema.Draft202012Validator, path: tuple[str | int, ...], value: object
) -> None:
    record = copy.deepcopy(build_record(seed=1))
    node: Any = record
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    assert not validator.is_valid(record)
