"""``sweepctl collect``: one verified row per run, in Parquet and CSV, with honest gaps."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from kit.cli import sweepctl
from kit.mounts import fill, tmpfs
from kit.runs import manifests, open_output, task_lines
from kit.specs import grid_doc, write_spec

from simulator.records.validate import validate_file
from sweep_controller.analysis.results import BASE_COLUMNS, OUTCOME_COLUMNS, collect
from sweep_controller.errors import ResultsError
from sweep_controller.execution.layout import (
    RECORDS,
    DataFile,
    Manifest,
    manifest_json,
    manifest_key,
    records_key,
    sha256_hex,
)
from sweep_controller.execution.runner import run_sweep
from sweep_controller.spec.loading import load_sweep


def finished(tmp_path: Path, name: str = "col", **spec: object) -> Path:
    """A spec whose sweep has run to the end (in-process, one worker)."""
    path = write_spec(tmp_path / "s.yaml", grid_doc(name, f"file://{tmp_path}/out", **spec))
    summary = run_sweep(load_sweep(path), workers=1, progress=False, handle_signals=False)
    assert summary.exit_code == 0
    return path


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_one_row_per_run_with_parameters_and_outcomes(tmp_path: Path, suffix: str) -> None:
    spec = finished(tmp_path, order="shuffled")
    out = tmp_path / f"runs{suffix}"
    result = sweepctl("collect", spec, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "18 runs from 5 of 5 tasks" in result.stderr
    table = pq.read_table(out) if suffix == ".parquet" else pacsv.read_csv(out)
    swept = ("whale_ratio", "conformity_threshold")
    fixed = [c for c in table.column_names[len(BASE_COLUMNS) + 2 :] if c not in OUTCOME_COLUMNS]
    assert table.column_names == [*BASE_COLUMNS, *swept, *fixed, *OUTCOME_COLUMNS]
    assert {"agents", "cascade_rounds", "rules", "archetype_mix.retail"} <= set(fixed)
    rows = table.to_pylist()
    assert [r["run_index"] for r in rows] == list(range(18))
    sweep, store = open_output(spec)
    records = {
        (r := json.loads(line))["run_index"]: (index, r)
        for index, lines in task_lines(store, sweep).items()
        for line in lines
    }
    for row in rows:
        task, record = records[row["run_index"]]
        votes, weighted = record["votes"], record["votes"]["weighted"]
        assert row["sweep"] == "col" and row["task"] == task and row["seed"] == record["seed"]
        assert (row["point_index"], row["replicate"]) == divmod(row["run_index"], 3)
        assert row["whale_ratio"] == record["params"]["whale_ratio"]
        assert row["conformity_threshold"] == record["params"]["conformity_threshold"]
        assert row["agents"] == record["params"]["agents"] == 60  # fixed in the spec
        assert row["cascade_rounds"] == record["params"]["cascade_rounds"] == 3
        assert row["passed"] is votes["passed"]
        assert row["passed_initial"] is votes["passed_initial"]
        turnout = record["turnout"]
        share = weighted["final"]["yes"] / turnout["stake_cast"]
        assert row["yes_share_weighted_final"] == pytest.approx(share, rel=1e-12)
        assert row["yes_share_final"] == pytest.approx(
            votes["final"]["yes"] / turnout["votes_cast"]
        )
        assert row["turnout_share"] == pytest.approx(turnout["votes_cast"] / 60)
        assert row["outcome_changed_by_cascade"] is (votes["passed"] != votes["passed_initial"])
        assert row["outcome_changed_by_cascade"] is record["outcome_changed_by_cascade"]
        assert row["cascade_ending"] == record["cascade"]["ending"]
        assert row["gini_cast"] == record["concentration"]["gini"]
        assert row["flips_total"] == record["flips"]["total"]
        assert row["agents_flipped_total"] == record["agents_flipped_total"]
        assert row["agents_flipped_share"] == pytest.approx(record["agents_flipped_total"] / 60)
        assert row["rounds_run"] == record["cascade_rounds"]
        assert row["whale_signal_follow_events"] == record["flips"]["whale_signal_follow_events"]
    assert {r["whale_ratio"] for r in rows} == {0.05, 0.15, 0.3}


@pytest.mark.slow
def test_missing_tasks_are_warned_about_or_refused(tmp_path: Path) -> None:
    spec = finished(tmp_path)
    _, store = open_output(spec)
    store.delete(manifest_key("col", 2))  # task 2 uncommitted: its JSONL must not be read
    result = sweepctl("collect", spec, "--out", tmp_path / "part.csv")
    assert result.returncode == 0, result.stderr
    assert "1 of 5 tasks are not done (indexes 2); collecting the 4 that are" in result.stderr
    rows = pacsv.read_csv(tmp_path / "part.csv").to_pylist()
    assert len(rows) == 14 and {r["task"] for r in rows} == {0, 1, 3, 4}
    strict = sweepctl("collect", spec, "--out", tmp_path / "all.csv", "--require-complete")
    assert strict.returncode == 1
    assert "indexes 2" in strict.stderr and not (tmp_path / "all.csv").exists()


@pytest.mark.slow
def test_a_corrupt_task_is_an_error_naming_its_key(tmp_path: Path) -> None:
    spec = finished(tmp_path)
    sweep, store = open_output(spec)
    key = records_key("col", manifests(store, sweep)[1])
    data = bytearray(store.get_bytes(key))
    data[10] ^= 1
    store.put_bytes(key, bytes(data))
    result = sweepctl("collect", spec, "--out", tmp_path / "x.parquet")
    assert result.returncode == 1
    assert f"{key}: sha256" in result.stderr and "does not match" in result.stderr
    assert not (tmp_path / "x.parquet").exists()


def test_a_task_holding_other_runs_is_an_error(tmp_path: Path) -> None:
    spec = finished(tmp_path)
    sweep, store = open_output(spec)
    # Task 1's records under task 0, with a manifest that verifies: the wrong runs are caught.
    found = manifests(store, sweep)
    data = store.get_bytes(records_key("col", found[1]))
    manifest = Manifest.model_validate_json(store.get_bytes(manifest_key("col", 0)))
    records = DataFile(name=manifest.records.name, sha256=sha256_hex(data), bytes=len(data))
    forged = manifest.model_copy(update={"files": {"records": records}})
    store.put_bytes(records_key("col", manifest), data)
    store.put_bytes(manifest_key("col", 0), manifest_json(forged))
    with pytest.raises(
        ResultsError,
        match=r"000000\.[^:]+\.jsonl: holds runs 4-7 \(4\), not task 0's runs 0-3 \(4\)",
    ):
        collect(sweep)


@pytest.mark.slow
def test_bad_output_suffix_is_a_usage_error(tmp_path: Path) -> None:
    spec = finished(tmp_path)
    result = sweepctl("collect", spec, "--out", tmp_path / "runs.xlsx")
    assert result.returncode == 2
    assert "must end in .parquet or .csv" in result.stderr


def test_zipped_and_categorical_parameters_are_columns(tmp_path: Path) -> None:
    spec = finished(
        tmp_path,
        parameters={
            "whale_ratio": {"values": [0.1, 0.3]},
            "conformity_threshold": {"values": [0.8, 0.4]},
            "influence_model": {"values": ["erdos_renyi", "small_world"]},
        },
        zip=[["whale_ratio", "conformity_threshold"]],
        replicates=2,
    )
    collected = collect(load_sweep(spec))
    pairs = set(
        zip(collected.columns["whale_ratio"].tolist(),
            collected.columns["conformity_threshold"].tolist(), strict=True)
    )  # fmt: skip
    assert pairs == {(0.1, 0.8), (0.3, 0.4)}
    assert set(collected.columns["influence_model"].tolist()) == {"erdos_renyi", "small_world"}
    assert collected.n_rows == 8 and collected.n_missing == 0


def _edit_line(line: bytes, edit: str) -> bytes:
    """One stored record line, edited the way someone tampering with results might."""
    record = json.loads(line)
    if edit == "tally":
        record["votes"]["final"]["yes"] += 1
        return json.dumps(record).encode()
    if edit == "type":
        record["flips"]["total"] = str(record["flips"]["total"])
        return json.dumps(record).encode()
    assert edit == "repeated-key"  # the record unchanged, plus "seed" a second time
    text = json.dumps(record)
    return ("{" + f'"seed": {record["seed"] + 1}, ' + text[1:]).encode()


@pytest.mark.slow
@pytest.mark.parametrize("edit", ["tally", "type", "repeated-key"])
def test_a_record_edited_and_rehashed_into_its_manifest_is_refused(
    tmp_path: Path, edit: str
) -> None:
    spec = finished(tmp_path, simulator={"agents": 60, "cascade_rounds": 3, "rules": "v0.5"})
    _, store = open_output(spec)
    manifest = Manifest.model_validate_json(store.get_bytes(manifest_key("col", 2)))
    key = records_key("col", manifest)
    lines = store.get_bytes(key).splitlines(keepends=True)
    lines[1] = _edit_line(lines[1], edit) + b"\n"
    data = b"".join(lines)
    records = manifest.records.model_copy(update={"sha256": sha256_hex(data), "bytes": len(data)})
    rehashed = manifest.model_copy(update={"files": {**manifest.files, RECORDS: records}})
    store.put_bytes(key, data)
    store.put_bytes(manifest_key("col", 2), manifest_json(rehashed))
    # What python -m simulator.validate says about that line is what collect refuses it for.
    local = tmp_path / "task2.jsonl"
    local.write_bytes(data)
    (problem, *_) = [p for p in validate_file(local).problems if p.line == 2]
    result = sweepctl("collect", spec, "--out", tmp_path / "x.parquet")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    uri = store.uri_for(key)
    assert line.startswith(
        f"sweepctl: error: task 2: record 2 of {uri} is not a valid run record: {problem.reason}"
    )
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.slow
def test_collect_onto_a_full_disk_is_one_line(tmp_path: Path) -> None:
    spec = finished(tmp_path)
    with tmpfs(tmp_path / "disk", size="256k") as disk:
        fill(disk)
        out = disk / "runs.parquet"
        result = sweepctl("collect", spec, "--out", out)
        assert result.returncode == 2  # the same on every attempt
        assert result.stderr.splitlines() == [
            f"sweepctl: error: --out: cannot write '{out}': No space left on device"
        ]
        assert sorted(p.name for p in disk.iterdir()) == ["padding"]


def _rewrite_task(store: Any, name: str, index: int, edit: Callable[[bytes], bytes]) -> None:
    """Rewrite every line of a committed task and re-hash it into its manifest."""
    manifest = Manifest.model_validate_json(store.get_bytes(manifest_key(name, index)))
    key = records_key(name, manifest)
    data = b"".join(edit(line) + b"\n" for line in store.get_bytes(key).splitlines())
    records = manifest.records.model_copy(update={"sha256": sha256_hex(data), "bytes": len(data)})
    rehashed = manifest.model_copy(update={"files": {**manifest.files, RECORDS: records}})
    store.put_bytes(key, data)
    store.put_bytes(manifest_key(name, index), manifest_json(rehashed))


def test_a_task_committed_in_an_older_record_schema_is_read_lifted(tmp_path: Path) -> None:
    """A sweep resumed after an upgrade holds tasks of schema 0.5 beside today's: collect lifts
    them through the migration and gives the rows the current records give."""
    spec = finished(tmp_path, simulator={"agents": 40, "rules": "v0.5"})
    before = collect(load_sweep(spec)).columns
    _, store = open_output(spec)

    def as_v05(line: bytes) -> bytes:
        return json.dumps({**json.loads(line), "schema_version": "0.5"}).encode()

    _rewrite_task(store, "col", 1, as_v05)
    after = collect(load_sweep(spec)).columns
    assert before.keys() == after.keys()
    for column, values in before.items():
        assert list(values) == list(after[column]), column

    def broken_v05(line: bytes) -> bytes:
        record = json.loads(as_v05(line))
        record["flips"]["total"] += 1
        return json.dumps(record).encode()

    _rewrite_task(store, "col", 1, broken_v05)
    with pytest.raises(ResultsError, match=r"migrated 0.5 record is not valid: flips.total"):
        collect(load_sweep(spec))
