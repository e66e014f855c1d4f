"""Sweeps with ``traces: parquet``: each run's flip trace sits beside its task's JSONL, valid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from kit.cli import python_module, sweepctl
from kit.runs import manifests, open_output, task_lines
from kit.specs import grid_doc, write_spec

from simulator.records.trace_rows import check_trace
from simulator.records.validate import parse_record, validate_file
from sweep_controller.execution.layout import TaskState, records_key, scan_tasks, trace_key
from sweep_controller.execution.worker import TaskContext, execute_task
from sweep_controller.outcomes import TaskOutcome
from sweep_controller.spec.models import spec_hash

V05 = {"agents": 300, "rules": "v0.5", "mean_degree": 12}


def traced_doc(name: str, output: str, **spec: Any) -> dict[str, Any]:
    return grid_doc(name, output, simulator=V05, traces="parquet", **spec)


def test_every_run_of_a_traced_sweep_has_a_trace_that_validates(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "s.yaml", traced_doc("tr1", f"file://{tmp_path}/out"))
    sweep, store = open_output(spec)
    ctx = TaskContext.open(sweep)
    attempts = [execute_task(ctx, i) for i in range(sweep.spec.n_tasks)]
    assert {a.outcome for a in attempts} == {TaskOutcome.SUCCEEDED}
    checks = scan_tasks(store, "tr1", sweep.spec.n_tasks, spec_hash(sweep))
    assert {c.state for c in checks} == {TaskState.DONE}
    flips = 0
    for index, manifest in manifests(store, sweep).items():
        jsonl = tmp_path / "out" / records_key("tr1", manifest)
        report = validate_file(jsonl)  # opens each trace beside the task's JSONL
        assert report.ok, report.problems
        for line in jsonl.read_text().splitlines():
            record = json.loads(line)
            ref = record["traces"]
            assert ref["path"] == f"{index:06d}.traces/{record['run_id']}.parquet"
            table = pq.read_table(jsonl.parent / ref["path"])
            assert table.num_rows == ref["count"] == record["flips"]["total"]
            assert set(table.column("run").to_pylist()) <= {record["run_index"]}
            flips += ref["count"]
    assert flips > 0
    # bytes written: the traces count as well as the JSONL and manifests
    on_disk = sum(
        p.stat().st_size
        for p in (tmp_path / "out").rglob("*")
        # leases and the spec's copy are bookkeeping, not results
        if p.is_file() and ".lease." not in p.name and p.name != "sweep.json"
    )
    assert sum(a.bytes_written for a in attempts) == on_disk


def test_a_sweep_without_traces_writes_none(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "s.yaml", grid_doc("tr2", f"file://{tmp_path}/out", simulator=V05))
    sweep, store = open_output(spec)
    assert execute_task(TaskContext.open(sweep), 0).outcome is TaskOutcome.SUCCEEDED
    assert not [k for k in store.list("tr2/") if ".traces/" in k]
    for line in task_lines(store, sweep)[0]:
        assert json.loads(line)["traces"] is None


@pytest.mark.slow
def test_sweepctl_run_writes_traces_that_the_validator_accepts(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "s.yaml", traced_doc("tr3", f"file://{tmp_path}/out"))
    done = sweepctl("run", spec, "--workers", "2", "--no-progress")
    assert done.returncode == 0, done.stderr
    files = sorted((tmp_path / "out" / "tr3" / "tasks").glob("*.jsonl"))
    assert len(files) == 5
    check = python_module("simulator.validate", *[a for f in files for a in ("--file", f)])
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.integration
def test_traces_on_s3_are_keyed_beside_the_task_and_match_their_records(
    tmp_path: Path, s3_uri: str
) -> None:
    spec = write_spec(tmp_path / "s.yaml", traced_doc("tr4", s3_uri))
    sweep, store = open_output(spec)
    assert execute_task(TaskContext.open(sweep), 1).outcome is TaskOutcome.SUCCEEDED
    lines = task_lines(store, sweep)[1]
    assert lines
    for line in lines:
        record, problems = parse_record(line)
        assert record is not None and record.traces is not None, problems
        data = store.get_bytes(trace_key("tr4", 1, record.run_id))
        assert check_trace(record, data) == []
