"""Checkpoints: a stopped or killed task keeps its finished runs; its next attempt does the rest.

File store and a real S3 server (SeaweedFS): the checkpoint's parts and marker, the resumed
commit, and collect's view of it (every run once, records as an uninterrupted task writes them).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kit.runs import normalised, task_lines, temp_files
from kit.specs import grid_doc, write_spec

from sweep_controller.analysis.results import collect
from sweep_controller.execution.checkpoint import Checkpoint, read_checkpoint
from sweep_controller.execution.cleanup import GARBAGE_AGE, unnamed_files
from sweep_controller.execution.layout import (
    PART_SUFFIX,
    TaskState,
    checkpoint_key,
    data_key,
    new_commit,
    scan_store,
    tasks_prefix,
)
from sweep_controller.execution.runner import run_sweep
from sweep_controller.execution.worker import TaskAttempt, TaskContext, execute_task
from sweep_controller.outcomes import TaskOutcome
from sweep_controller.spec.loading import load_sweep
from sweep_controller.spec.models import Sweep
from sweep_controller.store import Store, open_store

RUNS = 18  # grid_doc: 3 x 2 points, 3 replicates


class Killed(BaseException):
    """The process dies here: nothing after this point runs (what ``kill -9`` does)."""


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.integration)])
def output(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The sweep's output: a folder, or a fresh prefix on the S3 server."""
    if request.param == "file":
        return f"file://{tmp_path}/out"
    return str(request.getfixturevalue("s3_uri"))


def one_task_sweep(tmp_path: Path, output: str, name: str = "ckpt") -> Sweep:
    """The 18 runs of ``grid_doc`` in one task, in shuffled order."""
    doc = grid_doc(name, output, runsPerTask=RUNS, order="shuffled")
    return load_sweep(write_spec(tmp_path / f"{name}.yaml", doc))


def attempt(
    sweep: Sweep,
    *,
    stop_after: int | None = None,
    die_after: int | None = None,
    checkpoint_seconds: float = 3600.0,
) -> TaskAttempt:
    """Task 0 of ``sweep`` in a fresh context, asked to stop (or dying) after some runs."""
    ctx = TaskContext.open(sweep)
    ctx.checkpoint_seconds = checkpoint_seconds
    ran = [0]

    def on_run() -> None:
        ran[0] += 1
        if die_after is not None and ran[0] >= die_after:
            raise Killed

    return execute_task(
        ctx,
        0,
        wait_for_lease=False,
        should_stop=lambda: stop_after is not None and ran[0] >= stop_after,
        on_run=on_run,
    )


def reference_lines(tmp_path: Path) -> list[bytes]:
    """Task 0's records from one uninterrupted attempt, in a folder of its own."""
    sweep = one_task_sweep(tmp_path, f"file://{tmp_path}/reference", name="ckpt")
    assert attempt(sweep).outcome is TaskOutcome.SUCCEEDED
    return task_lines(open_store(sweep.spec.output.uri), sweep)[0]


def parts(store: Store, sweep: Sweep) -> list[str]:
    """Keys of the task's checkpoint parts."""
    return [k for k in store.list(tasks_prefix(sweep.name)) if k.endswith(f".{PART_SUFFIX}")]


def test_a_stopped_task_keeps_its_runs_and_the_next_attempt_simulates_only_the_rest(
    tmp_path: Path, output: str
) -> None:
    sweep = one_task_sweep(tmp_path, output)
    store = open_store(sweep.spec.output.uri)
    stopped = attempt(sweep, stop_after=7)
    assert stopped.outcome is TaskOutcome.INTERRUPTED
    assert (stopped.runs, stopped.checkpointed, stopped.records) == (7, 7, 0)
    marker = read_checkpoint(store, sweep.name, 0)
    assert marker is not None and marker.count == 7 and len(marker.parts) == 1
    kept = store.get_bytes(parts(store, sweep)[0]).splitlines()
    assert [json.loads(line)["run_index"] for line in kept] == (
        TaskContext.open(sweep).plan.task_run_indexes(0)[:7]
    )
    assert (
        scan_store(store, sweep.name, 1, TaskContext.open(sweep).spec_hash).count(TaskState.PENDING)
        == 1
    )  # a checkpoint is not a commit

    resumed = attempt(sweep)
    assert resumed.outcome is TaskOutcome.SUCCEEDED
    assert (resumed.resumed, resumed.runs, resumed.records) == (7, RUNS - 7, RUNS)
    lines = task_lines(store, sweep)[0]
    assert lines[:7] == kept  # the kept records themselves, not new ones
    assert normalised(lines) == normalised(reference_lines(tmp_path))
    table = collect(sweep, store=store, require_complete=True)
    assert sorted(table.columns["run_index"].tolist()) == list(range(RUNS))
    # Done: the committing attempt deleted the marker and the part it named.
    assert not store.exists(checkpoint_key(sweep.name, 0))
    assert parts(store, sweep) == []
    if output.startswith("file://"):
        assert temp_files(tmp_path / "out") == []


def test_a_killed_task_resumes_after_its_last_periodic_checkpoint(
    tmp_path: Path, output: str
) -> None:
    sweep = one_task_sweep(tmp_path, output)
    store = open_store(sweep.spec.output.uri)
    # A checkpoint after every run; the process dies in run 10, which was never kept.
    with pytest.raises(Killed):
        attempt(sweep, die_after=10, checkpoint_seconds=0.0)
    marker = read_checkpoint(store, sweep.name, 0)
    assert marker is not None and marker.count == 9 and len(marker.parts) == 9
    assert len(parts(store, sweep)) == 9
    resumed = attempt(sweep)
    assert (resumed.outcome, resumed.resumed, resumed.runs) == (TaskOutcome.SUCCEEDED, 9, 9)
    assert normalised(task_lines(store, sweep)[0]) == normalised(reference_lines(tmp_path))
    assert parts(store, sweep) == [] and not store.exists(checkpoint_key(sweep.name, 0))


def test_stopped_twice_the_task_keeps_both_attempts_runs(tmp_path: Path) -> None:
    sweep = one_task_sweep(tmp_path, f"file://{tmp_path}/out")
    store = open_store(sweep.spec.output.uri)
    assert attempt(sweep, stop_after=4).checkpointed == 4
    second = attempt(sweep, stop_after=5)
    assert (second.resumed, second.runs, second.checkpointed) == (4, 5, 9)
    marker = read_checkpoint(store, sweep.name, 0)
    assert marker is not None and marker.count == 9 and len(marker.parts) == 2
    last = attempt(sweep)
    assert (last.resumed, last.runs, last.records) == (9, RUNS - 9, RUNS)
    assert parts(store, sweep) == []  # both attempts' parts: the last marker named them all
    assert normalised(task_lines(store, sweep)[0]) == normalised(reference_lines(tmp_path))


@pytest.mark.parametrize("damage", ["part changed", "part missing", "other spec", "marker garbled"])
def test_a_checkpoint_that_does_not_check_out_is_ignored_and_the_task_runs_whole(
    tmp_path: Path, damage: str
) -> None:
    sweep = one_task_sweep(tmp_path, f"file://{tmp_path}/out")
    store = open_store(sweep.spec.output.uri)
    assert attempt(sweep, stop_after=6).checkpointed == 6
    (part,) = parts(store, sweep)
    key = checkpoint_key(sweep.name, 0)
    marker = Checkpoint.model_validate_json(store.get_bytes(key))
    if damage == "part changed":
        store.put_bytes(part, store.get_bytes(part).replace(b'"run_index":', b'"run_index": '))
    elif damage == "part missing":
        store.delete(part)
    elif damage == "other spec":
        other = marker.model_copy(update={"spec_hash": "0" * 64})
        store.put_bytes(key, other.model_dump_json().encode())
    else:
        store.put_bytes(key, b'{"checkpoint_version": 1, "count": "many"}')
    whole = attempt(sweep)
    assert (whole.outcome, whole.resumed, whole.runs) == (TaskOutcome.SUCCEEDED, 0, RUNS)
    assert normalised(task_lines(store, sweep)[0]) == normalised(reference_lines(tmp_path))
    collect(sweep, store=store, require_complete=True)


def test_the_runner_counts_kept_runs_and_simulates_only_the_others(tmp_path: Path) -> None:
    doc = grid_doc("ckpt-run", f"file://{tmp_path}/out", runsPerTask=6)  # 3 tasks of 6 runs
    sweep = load_sweep(write_spec(tmp_path / "s.yaml", doc))
    ctx = TaskContext.open(sweep)
    ran = [0]

    def on_run() -> None:
        ran[0] += 1

    stopped = execute_task(ctx, 1, wait_for_lease=False, should_stop=lambda: ran[0] >= 4,
                           on_run=on_run)  # fmt: skip
    assert stopped.checkpointed == 4
    summary = run_sweep(sweep, workers=1, progress=False, handle_signals=False)
    assert summary.exit_code == 0
    assert (summary.runs_resumed, summary.runs_simulated) == (4, RUNS - 4)
    assert summary.runs_done == RUNS
    table = collect(sweep, require_complete=True)
    assert sorted(table.columns["run_index"].tolist()) == list(range(RUNS))
    assert len(set(table.columns["run_index"].tolist())) == RUNS


def test_cleanup_keeps_the_parts_of_unfinished_tasks_and_drops_checkpoints_of_done_ones(
    tmp_path: Path,
) -> None:
    doc = grid_doc("ckpt-clean", f"file://{tmp_path}/out", runsPerTask=6)
    sweep = load_sweep(write_spec(tmp_path / "s.yaml", doc))
    ctx = TaskContext.open(sweep)
    store = ctx.store
    assert execute_task(ctx, 0, wait_for_lease=False).outcome is TaskOutcome.SUCCEEDED
    now = datetime.now(UTC)
    old = new_commit(now - GARBAGE_AGE - timedelta(minutes=1), "a" * 8)
    fresh = new_commit(now, "b" * 8)
    keys = {
        "old part of done task 0": data_key(sweep.name, 0, old, PART_SUFFIX),
        "fresh part of done task 0": data_key(sweep.name, 0, fresh, PART_SUFFIX),
        "marker of done task 0": checkpoint_key(sweep.name, 0),
        "old part of unfinished task 1": data_key(sweep.name, 1, old, PART_SUFFIX),
        "marker of unfinished task 1": checkpoint_key(sweep.name, 1),
        "old unnamed data of task 1": data_key(sweep.name, 1, old, "jsonl"),
    }
    for key in keys.values():
        store.put_bytes(key, b"{}\n")
    scan = scan_store(store, sweep.name, sweep.spec.n_tasks, ctx.spec_hash)
    removed = set(unnamed_files(scan.keys, tasks_prefix(sweep.name), scan, now))
    assert {what for what, key in keys.items() if key in removed} == {
        "old part of done task 0",
        "marker of done task 0",
        "old unnamed data of task 1",
    }
