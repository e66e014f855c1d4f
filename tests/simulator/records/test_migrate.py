"""Migration to v0.5: every legacy fixture migrates to valid records without losing what it held."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from kit.cli import python_module
from kit.records import Record, build_record, build_v04_record, dumps, write_jsonl

from simulator.errors import MigrationError
from simulator.records.legacy import (
    STEPS,
    UNKNOWN_CODE_VERSION,
    derived_uuid4,
    detect_version,
    upgrade,
)
from simulator.records.migrate import migrate_file, migrate_line
from simulator.records.validate import TRUNCATED, validate_file

FIXTURES = Path(__file__).parent / "fixtures" / "legacy"
FIXTURE_VERSIONS = {"v0_1": "0.1", "v0_2": "0.2", "v0_3": "0.3"}


def _lines(path: Path) -> list[Record]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return python_module("simulator.migrate", *args)


@pytest.mark.parametrize("name", ["v0_1", "v0_2", "v0_3", "mixed"])
def test_fixture_migrates_to_valid_records_and_old_is_untouched(tmp_path: Path, name: str) -> None:
    old = FIXTURES / f"{name}.jsonl"
    before, mtime = _sha(old), old.stat().st_mtime_ns
    new = tmp_path / "out" / f"{name}.jsonl"
    report = migrate_file(old, new)
    assert report.ok and report.written == report.lines == len(old.read_text().splitlines())
    validated = validate_file(new)
    assert validated.ok and validated.lines == report.lines, validated.problems
    assert (_sha(old), old.stat().st_mtime_ns) == (before, mtime)
    if name in FIXTURE_VERSIONS:
        assert report.by_version == ((FIXTURE_VERSIONS[name], report.lines),)
    else:
        assert dict(report.by_version) == {"0.1": 2, "0.2": 1, "0.3": 2, "0.4": 2}
    assert sorted(os.listdir(new.parent)) == [new.name], "no temporary file is left behind"


def test_migration_is_deterministic_and_idempotent(tmp_path: Path) -> None:
    first, second, again = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    migrate_file(FIXTURES / "mixed.jsonl", first)
    migrate_file(FIXTURES / "mixed.jsonl", second)
    assert first.read_bytes() == second.read_bytes()
    report = migrate_file(first, again)
    assert report.by_version == (("0.6", report.lines),)
    assert again.read_bytes() == first.read_bytes()


def test_current_lines_pass_through_byte_for_byte(tmp_path: Path) -> None:
    records = [build_record(seed=s, agents=6, rules=r) for s, r in ((1, "v0.4"), (2, "v0.5"))]
    old = write_jsonl(tmp_path / "old.jsonl", records)
    report = migrate_file(old, tmp_path / "new.jsonl")
    assert report.by_version == (("0.6", 2),)
    assert (tmp_path / "new.jsonl").read_bytes() == old.read_bytes()


@pytest.mark.parametrize("mode", ["inline", "parquet"])
def test_v05_lines_become_the_same_records_in_0_6(tmp_path: Path, mode: str) -> None:
    """A 0.5 line (today's record with its old version) lifts to exactly today's record; its
    side files (agents, trace) move with it to another directory and still check there."""
    src = tmp_path / "src"
    records = [
        build_record(seed=s, agents=8, rules=r, mode=mode, base_dir=src, traces=mode == "parquet")
        for s, r in ((1, "v0.4"), (2, "v0.5"))
    ]
    old = write_jsonl(src / "old.jsonl", [{**r, "schema_version": "0.5"} for r in records])
    new = tmp_path / "elsewhere" / "new.jsonl"
    report = migrate_file(old, new)
    assert report.ok and report.by_version == (("0.5", 2),)
    assert _lines(new) == records
    assert validate_file(new).ok  # the side files are beside NEW
    assert validate_file(new).ok


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("mode", ["inline", "none", "parquet"])
def test_v04_record_lifts_to_the_same_run_in_0_5(tmp_path: Path, seed: int, mode: str) -> None:
    """A 0.4 record becomes the 0.5 record of the same v0.4 run, less what 0.4 did not hold."""
    kwargs: dict[str, Any] = {"seed": seed, "agents": 9, "max_rounds": 3, "mode": mode}
    if mode == "parquet":
        kwargs["base_dir"] = tmp_path
    old = build_v04_record(**kwargs)
    assert old["schema_version"] == "0.4" and "rules" not in old["params"]
    line, version = migrate_line(json.dumps(old).encode(), old_dir=tmp_path, new_dir=tmp_path)
    assert version == "0.4"
    lifted = json.loads(line)
    expected = build_record(**{**kwargs, "mode": "inline" if mode == "parquet" else mode})
    if mode == "parquet":
        expected["agents"], expected["agent_records"] = None, old["agent_records"]
    if mode != "inline":
        expected["concentration"] = None  # no per-agent stakes in the line
    if expected["agents"] is not None:
        for agent in expected["agents"]:
            agent.update(utility=None, whale_signal_follows=None)
    assert lifted == expected
    write_jsonl(tmp_path / "new.jsonl", [lifted])
    report = validate_file(tmp_path / "new.jsonl")
    assert report.ok, report.problems  # a 0.4 side file (without the 0.5 columns) still checks


def test_migrated_v04_record_keeps_pinning_its_v04_run(tmp_path: Path) -> None:
    """The migrated 0.4 fixture lines say rules v0.4, so their params still select the v0.4 run."""
    new = tmp_path / "new.jsonl"
    migrate_file(FIXTURES / "mixed.jsonl", new)
    old_lines = _lines(FIXTURES / "mixed.jsonl")
    for old, lifted in zip(old_lines, _lines(new), strict=True):
        if old.get("schema_version") != "0.4":
            continue
        assert {k: v for k, v in lifted["params"].items() if k != "rules"} == old["params"]
        assert lifted["params"].get("rules", "v0.4") == "v0.4"
        assert (lifted["rules"], lifted["schedule"]) == ("v0.4", "synchronous")
        assert lifted["votes"] == old["votes"]
        assert lifted["turnout"]["votes_cast"] == old["params"]["agents"]
        flips = dict(old["flips"])
        flips["whale_signal_follow_events"] = flips.pop("whale_signal_followers")
        assert lifted["flips"] == flips


# --- round trips: the 0.5 record still holds everything the legacy line said -------------------


def _as_v01(r: Record) -> Record:
    p, v, w = r["params"], r["votes"], r["votes"]["weighted"]
    return {
        "seed": r["seed"],
        "num_agents": p["agents"],
        "conformity_threshold": p["conformity_threshold"],
        "whale_ratio": p["whale_ratio"],
        "proposal_risk": r["proposal"]["risk"],
        "proposal_yield": r["proposal"]["yield"],
        "proposal_complexity": r["proposal"]["complexity"],
        "yes_initial": v["initial"]["yes"],
        "no_initial": v["initial"]["no"],
        "yes_final": v["final"]["yes"],
        "no_final": v["final"]["no"],
        "stake_yes_initial": w["initial"]["yes"],
        "stake_no_initial": w["initial"]["no"],
        "stake_yes_final": w["final"]["yes"],
        "stake_no_final": w["final"]["no"],
        "flips": r["flips"]["total"],
        "whale_followers": r["flips"]["whale_signal_follow_events"],
        "passed": v["passed"],
    }


def _as_v02_body(r: Record) -> Record:
    """The 0.2 fields other than run_id and timestamp."""
    v, f = r["votes"], r["flips"]
    keys = ("agents", "conformity_threshold", "whale_ratio", "influence_model")
    return {
        "seed": r["seed"],
        "params": {
            **{k: r["params"][k] for k in keys},
            "network_density": r["params"]["network_density"],
            "rewire_prob": r["params"]["rewire_prob"],
        },
        "proposal": r["proposal"],
        "votes": {
            "initial": v["initial"],
            "final": v["final"],
            "weighted": {"initial": v["weighted"]["initial"], "final": v["weighted"]["final"]},
            "passed": v["passed"],
        },
        "flips": {
            "total": f["total"],
            "yes_to_no": f["yes_to_no"],
            "no_to_yes": f["no_to_yes"],
            "whale_followers": f["whale_signal_follow_events"],
        },
    }


def _as_v03_agent(a: Record, neighbors: list[int]) -> Record:
    assert a["degree"] == len(neighbors)
    return {
        "id": a["id"],
        "archetype": a["archetype"],
        "stake": a["stake"],
        "risk_tolerance": a["risk_tolerance"],
        "conformity": a["conformity"],
        "threshold": a["threshold"],
        "neighbors": neighbors,
        "initial_vote": "yes" if a["initial_vote"] else "no",
        "final_vote": "yes" if a["final_vote"] else "no",
    }


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[Record, Record]]]:
    """(legacy line, migrated record) pairs of every single-version fixture."""
    out = tmp_path_factory.mktemp("migrated")
    pairs = {}
    for name in FIXTURE_VERSIONS:
        migrate_file(FIXTURES / f"{name}.jsonl", out / f"{name}.jsonl")
        pairs[name] = list(
            zip(_lines(FIXTURES / f"{name}.jsonl"), _lines(out / f"{name}.jsonl"), strict=True)
        )
    return pairs


def test_v01_round_trip(migrated: dict[str, list[tuple[Record, Record]]]) -> None:
    for old, new in migrated["v0_1"]:
        assert _as_v01(new) == old
        assert new["run_id"] == derived_uuid4(old)
        assert uuid.UUID(new["run_id"]).version == 4
        assert new["timestamp"] == "1970-01-01T00:00:00Z"
        assert new["params"]["network_density"] == 1.0  # global influence: the complete graph
        assert new["params"]["influence_model"] == "erdos_renyi"
        assert (new["base_seed"], new["run_index"]) == (old["seed"], 0)
        assert new["code_version"] == UNKNOWN_CODE_VERSION
        assert new["cascade_rounds"] == 1 and new["flips"]["per_round"] == [old["flips"]]
        assert new["agent_records"] == {"mode": "none", "path": None, "sha256": None, "count": 0}


def test_v02_round_trip(migrated: dict[str, list[tuple[Record, Record]]]) -> None:
    pairs = migrated["v0_2"]
    for old, new in pairs:
        assert _as_v02_body(new) == {k: v for k, v in old.items() if k in _as_v02_body(new)}
    # a naive 0.2 time is UTC; an offset is converted; a UUID4 run_id is kept, another replaced
    assert [new["timestamp"] for _, new in pairs] == [
        "2023-03-14T09:26:53.589793Z",
        "2023-03-14T09:27:01Z",
        "2023-06-01T16:00:00Z",
    ]
    assert [new["run_id"] == old["run_id"] for old, new in pairs] == [True, True, False]
    assert uuid.UUID(pairs[2][1]["run_id"]).version == 4


def test_v03_round_trip(migrated: dict[str, list[tuple[Record, Record]]]) -> None:
    for old, new in migrated["v0_3"]:
        assert new["run_id"] == old["run_id"]
        assert new["code_version"] == old["code_version"]
        assert new["votes"] == old["votes"]
        renamed = {"whale_signal_followers": "whale_signal_follow_events"}
        assert {k: new["flips"][renamed.get(k, k)] for k in old["flips"]} == old["flips"]
        if old.get("agents") is None:
            assert new["agents"] is None and new["agent_records"]["mode"] == "none"
            continue
        assert new["agent_records"]["mode"] == "inline"
        back = [
            _as_v03_agent(a, o["neighbors"])
            for a, o in zip(new["agents"], old["agents"], strict=True)
        ]
        assert back == old["agents"]
        for a in new["agents"]:
            changed = a["initial_vote"] != a["final_vote"]
            assert (a["flip_count"], a["flip_round"]) == ((1, 1) if changed else (0, None))


# --- unmigratable lines are reported by number ---------------------------------------------------


def _v01() -> Record:
    return _lines(FIXTURES / "v0_1.jsonl")[0]


def _v03_with_agents() -> Record:
    return _lines(FIXTURES / "v0_3.jsonl")[0]


def _bad_lines() -> list[tuple[str, str | None]]:
    """(line text, expected reason or None for a line that migrates)."""
    missing = _v01()
    del missing["whale_ratio"]
    parity = _v01()
    parity["flips"] += 1
    asymmetric = _v03_with_agents()
    asymmetric["agents"][0]["neighbors"].append(5)
    bad04 = build_record(seed=5)
    bad04["votes"]["initial"]["yes"] += 1
    wrong_type = _v01()
    wrong_type["seed"] = "11"
    return [
        (json.dumps(_v01()), None),
        (
            '{"seed": 1,',
            "invalid JSON: EOF while parsing a value at column 11",
        ),
        (json.dumps({**build_record(seed=6), "schema_version": "0.9"}), None),
        (json.dumps(missing), "0.1 record: whale_ratio: missing field"),
        (
            json.dumps(parity),
            f"flips: {parity['flips']} flips cannot change the yes count by "
            f"{parity['yes_final'] - parity['yes_initial']:+d} (a flip moves one vote)",
        ),
        ("", "empty line"),
        (
            json.dumps(asymmetric),
            "agents.0.neighbors: lists 5, but agent 5 does not list 0 (the network is undirected)",
        ),
        (dumps(bad04).rstrip("\n"), None),
        (
            json.dumps(wrong_type),
            '0.1 record: seed: wrong type: Input should be a valid integer, got "11"',
        ),
        ("[1]", "expected a JSON object, got list"),
        (dumps(build_record(seed=7)).rstrip("\n"), None),
    ]


@pytest.mark.slow
def test_unmigratable_lines_are_reported_by_number(tmp_path: Path) -> None:
    cases = _bad_lines()
    old = tmp_path / "old.jsonl"
    old.write_text("".join(text + "\n" for text, _ in cases) + '{"seed": 3, "num_ag')
    new = tmp_path / "new.jsonl"
    result = _cli(old, new)
    assert result.returncode == 1
    errors = result.stderr.splitlines()
    expected = {i + 1: reason for i, (_, reason) in enumerate(cases) if reason is not None}
    for line_no, reason in expected.items():
        assert f"{old}:{line_no}: {reason}" in errors, errors
    assert (
        f'{old}:3: schema_version: "0.9" is not a known version (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, or '
        "absent for 0.1)" in errors
    )
    assert any(
        e.startswith(f"{old}:8: invalid 0.6 record: votes.initial: yes + no =") for e in errors
    )
    last = len(cases) + 1
    assert (
        f"{old}:{last}: {TRUNCATED}; invalid JSON: EOF while parsing a string at column 19"
        in errors
    )
    assert len(errors) == len(expected) + 3
    written = _lines(new)
    assert len(written) == 2  # the good 0.1 line and the good 0.6 line, in order
    assert written[1] == json.loads(cases[10][0])
    assert result.stdout.strip() == (
        f"{old}: {last} lines, 2 written to {new} (1 from 0.1, 1 already 0.6), "
        f"{last - 2} not migrated"
    )
    assert validate_file(new).ok


def test_truncated_last_line_that_parses_is_migrated(tmp_path: Path) -> None:
    old = tmp_path / "old.jsonl"
    old.write_text(json.dumps(_v01()))
    report = migrate_file(old, tmp_path / "new.jsonl")
    assert report.ok and report.written == 1
    assert (tmp_path / "new.jsonl").read_text().endswith("\n")


# --- files: --force, OLD is never NEW, atomic replacement -----------------------------------------


@pytest.mark.slow
def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    old = FIXTURES / "v0_2.jsonl"
    new = tmp_path / "new.jsonl"
    new.write_text("precious\n")
    refused = _cli(old, new)
    assert refused.returncode == 2
    assert refused.stderr == f"migrate: {new}: exists; pass --force to overwrite\n"
    assert new.read_text() == "precious\n"
    forced = _cli(old, new, "--force")
    assert forced.returncode == 0, forced.stderr
    assert validate_file(new).ok and validate_file(new).lines == 3
    assert sorted(os.listdir(tmp_path)) == ["new.jsonl"]


@pytest.mark.slow
def test_never_writes_old_even_with_force(tmp_path: Path) -> None:
    old = tmp_path / "old.jsonl"
    old.write_bytes((FIXTURES / "v0_1.jsonl").read_bytes())
    before = _sha(old)
    for args in ((old, old), (old, old, "--force"), (old, tmp_path / "." / "old.jsonl", "--force")):
        result = _cli(*args)
        assert result.returncode == 2
        assert result.stderr.strip().endswith("is OLD itself; OLD is never modified")
    assert _sha(old) == before


@pytest.mark.slow
def test_missing_old_is_a_usage_error(tmp_path: Path) -> None:
    result = _cli(tmp_path / "nope.jsonl", tmp_path / "new.jsonl")
    assert (result.returncode, result.stderr) == (
        2,
        f"migrate: {tmp_path / 'nope.jsonl'}: no such file\n",
    )
    assert not (tmp_path / "new.jsonl").exists()
    with pytest.raises(FileNotFoundError):
        migrate_file(tmp_path / "nope.jsonl", tmp_path / "new.jsonl")


def test_parquet_side_files_are_copied_beside_new_in_another_directory(tmp_path: Path) -> None:
    """A side file must stay inside its JSONL file's folder, so it moves with the line."""
    src = tmp_path / "src"
    records = [build_record(seed=s, agents=10, mode="parquet", base_dir=src) for s in range(2)]
    old = write_jsonl(src / "runs.jsonl", records)
    same_dir = migrate_file(old, src / "runs-v04.jsonl")
    assert same_dir.ok and (src / "runs-v04.jsonl").read_bytes() == old.read_bytes()
    elsewhere = tmp_path / "dst" / "deep" / "runs.jsonl"
    assert migrate_file(old, elsewhere).ok
    assert elsewhere.read_bytes() == old.read_bytes()  # the lines need no change
    for r in records:
        path = r["agent_records"]["path"]
        assert (elsewhere.parent / path).read_bytes() == (src / path).read_bytes()
    assert validate_file(elsewhere).ok


def test_a_trace_is_copied_beside_new_in_another_directory(tmp_path: Path) -> None:
    """A trace must stay inside its JSONL file's folder, so it moves with the line, unchanged."""
    src = tmp_path / "src"
    records = [
        build_record(seed=s, agents=10, mode="parquet", base_dir=src, traces=True) for s in range(2)
    ]
    old = write_jsonl(src / "runs.jsonl", records)
    elsewhere = tmp_path / "dst" / "runs.jsonl"
    assert migrate_file(old, elsewhere).ok
    for before, after in zip(records, _lines(elsewhere), strict=True):
        assert after["traces"] == before["traces"]
        path = before["traces"]["path"]
        assert (tmp_path / "dst" / path).read_bytes() == (src / path).read_bytes()
    assert validate_file(elsewhere).ok
    assert migrate_file(old, elsewhere, force=True).ok  # again: the copies are already there


# --- the per-version steps ---------------------------------------------------------------------


def test_chain_reaches_the_current_version_from_every_legacy_version() -> None:
    version, seen = "0.1", ["0.1"]
    while version in STEPS:
        version = STEPS[version][0]
        seen.append(version)
    assert seen == ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6"]


@pytest.mark.parametrize(
    ("obj", "version"),
    [({"seed": 1}, "0.1"), ({"schema_version": "0.2"}, "0.2"), ({"schema_version": "0.4"}, "0.4")],
)
def test_detect_version(obj: Record, version: str) -> None:
    assert detect_version(obj) == version


@pytest.mark.parametrize("bad", ["0.7", 0.3, None])
def test_unknown_versions_are_refused(bad: Any) -> None:
    with pytest.raises(MigrationError, match=r"schema_version: .* is not a known version"):
        detect_version({"schema_version": bad})


def test_each_step_output_is_the_next_versions_shape() -> None:
    """0.1 -> 0.2 -> 0.3 -> 0.4 -> 0.5 -> 0.6, each intermediate accepted by the next step."""
    obj: Record = _v01()
    for version in ("0.2", "0.3", "0.4", "0.5", "0.6"):
        obj = STEPS[detect_version(obj)][1](obj)
        assert obj["schema_version"] == version
    assert upgrade(_v01()) == obj
    assert upgrade(obj) is obj


def test_derived_uuid4_is_a_deterministic_version_4_uuid() -> None:
    a, b = _v01(), _v01()
    b["seed"] += 1
    assert derived_uuid4(a) == derived_uuid4(copy.deepcopy(a))
    assert derived_uuid4(a) != derived_uuid4(b)
    parsed = uuid.UUID(derived_uuid4(a))
    assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_migrate_line_reports_invalid_current_records() -> None:
    record = build_record(seed=2)
    record["flips"]["total"] += 1
    with pytest.raises(MigrationError, match=r"^invalid 0.6 record: flips.total: "):
        migrate_line(json.dumps(record).encode())
