"""``sweepctl status``: done, failed, pending (and invalid, foreign) tasks read from the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kit.cli import sweepctl
from kit.runs import open_output
from kit.specs import grid_doc, write_spec

from sweep_controller.execution.layout import (
    TaskState,
    check_task,
    failure_key,
    manifest_key,
    records_key,
    scan_tasks,
)
from sweep_controller.execution.runner import run_sweep
from sweep_controller.execution.worker import TaskContext, execute_task
from sweep_controller.outcomes import TaskOutcome
from sweep_controller.spec.loading import load_sweep
from sweep_controller.spec.models import spec_hash


@pytest.mark.slow
def test_status_reports_every_state(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "s.yaml", grid_doc("st", f"file://{tmp_path}/out"))
    sweep, store = open_output(spec)
    ctx = TaskContext.open(sweep)
    for index in (0, 1, 2):
        assert execute_task(ctx, index).outcome is TaskOutcome.SUCCEEDED
    manifest = check_task(store, "st", 1, spec_hash(sweep)).manifest
    assert manifest is not None
    store.put_bytes(records_key("st", manifest), b"tampered\n")  # task 1: no longer matches
    (tmp_path / "out" / "st" / "tasks" / "000003.manifest.json").mkdir()  # task 3 fails
    failed = execute_task(ctx, 3)
    assert failed.exit_code == 2
    result = sweepctl("status", spec, "--format", "json")
    assert result.returncode == 1  # an invalid task: results that cannot be used as they are
    assert result.stderr.strip().endswith("rewrites them): 1")  # a failed task is no reason
    doc = json.loads(result.stdout)
    assert {k: doc[k] for k in ("tasks", "runs", "runs_done", "complete")} == {
        "tasks": 5, "runs": 18, "runs_done": 8, "complete": False
    }  # fmt: skip
    assert [doc[s.value] for s in TaskState] == [
        2,
        1,
        1,
        1,
        0,
    ]  # done pending failed invalid foreign
    assert doc["failed_indexes"] == [3] and doc["invalid_indexes"] == [1]
    assert "put failed" in doc["errors"]["3"] and "does not match" in doc["errors"]["1"]
    table = sweepctl("status", spec).stdout
    assert "runs done: 8 of 18" in table
    assert "done           2   40.0%" in table and "failed tasks: 3" in table
    # --no-verify trusts the manifest of the tampered task.
    quick = json.loads(sweepctl("status", spec, "--format", "json", "--no-verify").stdout)
    assert quick["done"] == 3 and quick["invalid"] == 0


def test_a_success_clears_the_failure_marker(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "s.yaml", grid_doc("clear", f"file://{tmp_path}/out"))
    sweep, store = open_output(spec)
    blocker = tmp_path / "out" / "clear" / "tasks" / "000000.manifest.json"
    blocker.mkdir(parents=True)
    ctx = TaskContext.open(sweep)
    assert execute_task(ctx, 0).exit_code == 2
    assert store.exists(failure_key("clear", 0))
    blocker.rmdir()
    assert execute_task(ctx, 0).outcome is TaskOutcome.SUCCEEDED
    assert not store.exists(failure_key("clear", 0))
    checks = scan_tasks(store, "clear", sweep.spec.n_tasks, spec_hash(sweep))
    assert checks[0].state is TaskState.DONE


@pytest.mark.slow
def test_foreign_manifests_are_shown(tmp_path: Path) -> None:
    out = f"file://{tmp_path}/out"
    first = load_sweep(write_spec(tmp_path / "a.yaml", grid_doc("f", out)))
    assert run_sweep(first, workers=1, progress=False, handle_signals=False).exit_code == 0
    other = write_spec(tmp_path / "b.yaml", grid_doc("f", out, seed=99))
    doc = json.loads(sweepctl("status", other, "--format", "json").stdout)
    assert doc["foreign"] == 5 and doc["done"] == 0
    assert "spec hash" in doc["errors"]["0"]
    assert (
        "foreign tasks were written by a sweep with another spec hash"
        in sweepctl("status", other).stdout
    )
    _, store = open_output(other)
    assert store.exists(manifest_key("f", 0))  # status only reads
