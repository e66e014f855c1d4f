"""``sweepctl run``: determinism across pool sizes, resume after kill -9, failures, signals, S3."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kit.cli import start_sweepctl, sweepctl
from kit.mounts import bind_mount
from kit.runs import (
    all_run_indexes,
    data_files,
    manifests,
    normalised,
    open_output,
    task_lines,
    temp_files,
)
from kit.servers import SeaweedFS, aws_env_for, free_port
from kit.specs import grid_doc, write_spec
from kit.waiting import wait_until
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from simulator.records.validate import check_json
from sweep_controller.execution.cleanup import GARBAGE_AGE
from sweep_controller.execution.layout import TaskState, data_key, new_commit, scan_tasks
from sweep_controller.execution.lease import Holder, TaskLease
from sweep_controller.execution.runner import run_sweep
from sweep_controller.execution.worker import TaskContext
from sweep_controller.metrics import RunnerMetrics
from sweep_controller.spec.loading import load_sweep
from sweep_controller.spec.models import spec_hash

pytestmark = pytest.mark.slow  # subprocess sweeps and CLI runs: seconds each


def assert_complete(spec: Path) -> None:
    """Every task committed and verified; every run present exactly once."""
    sweep, store = open_output(spec)
    checks = scan_tasks(store, sweep.name, sweep.spec.n_tasks, spec_hash(sweep))
    assert [c.state for c in checks] == [TaskState.DONE] * sweep.spec.n_tasks
    assert sorted(all_run_indexes(store, sweep)) == list(range(sweep.spec.n_runs))


def slow_doc(name: str, output: str, **spec: object) -> dict[str, object]:
    """60 tasks of 12 runs of 8,000 agents: seconds of work, long enough to interrupt."""
    return grid_doc(
        name,
        output,
        simulator={"agents": 8000, "mean_degree": 10},
        replicates=120,
        runsPerTask=12,
        **spec,
    )


def children_of(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def readable(server: SeaweedFS, bucket: str) -> bool:
    """Whether the restarted server serves existing objects again (its volumes reconnected)."""
    client = server.client()
    try:
        page = client.list_objects_v2(Bucket=bucket, Prefix="sweeps/", MaxKeys=1)
        client.get_object(Bucket=bucket, Key=page["Contents"][0]["Key"])["Body"].read()
    except Exception:
        return False
    return True


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_results_identical_for_any_pool_size_and_to_worker_by_worker(tmp_path: Path) -> None:
    docs = {
        key: write_spec(tmp_path / f"{key}.yaml", grid_doc("same", f"file://{tmp_path}/{key}",
                                                           order="shuffled", replicates=5))
        for key in ("one", "two", "worker")
    }  # fmt: skip
    one = sweepctl("run", docs["one"], "--workers", "1")
    assert one.returncode == 0, one.stderr
    two = sweepctl("run", docs["two"], "--workers", "2")
    assert two.returncode == 0, two.stderr
    assert "on 2 worker(s)" in two.stderr and "8/8 tasks done" in two.stderr
    sweep = load_sweep(docs["worker"])
    for index in range(sweep.spec.n_tasks):
        assert sweepctl("worker", docs["worker"], "--index", str(index)).returncode == 0
    contents = {}
    for key, spec in docs.items():
        assert_complete(spec)
        s, store = open_output(spec)
        contents[key] = {i: normalised(lines) for i, lines in task_lines(store, s).items()}
    assert contents["one"] == contents["two"] == contents["worker"]
    (s1, store1), (s2, store2) = open_output(docs["one"]), open_output(docs["two"])
    assert task_lines(store1, s1) != task_lines(store2, s2)  # only run_id and timestamp differ


def test_kill_9_mid_sweep_then_rerun_finishes_without_loss_or_duplicates(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "s.yaml", slow_doc("resume", f"file://{tmp_path}/out"))
    sweep, store = open_output(spec)
    proc = start_sweepctl("run", spec, "--workers", "2")
    wait_until(lambda: len(manifests(store, sweep)) >= 4, timeout=120, what="4 committed tasks")
    pool = children_of(proc.pid)
    proc.kill()  # SIGKILL: no cleanup at all in the runner
    proc.communicate(timeout=30)
    # The pool notices its parent's death (PR_SET_PDEATHSIG) and stops instead of writing on.
    wait_until(lambda: not any(alive(p) for p in pool), timeout=30, what="the pool to exit")
    done = manifests(store, sweep)
    assert 4 <= len(done) < sweep.spec.n_tasks
    for keys in data_files(store, sweep).values():
        for key in keys:  # a JSONL its manifest does not name is uncommitted, never partial
            lines = store.get_bytes(key).splitlines()
            if key.endswith(".part.jsonl"):  # a checkpoint's part: whole records, fewer
                assert 1 <= len(lines) <= 12 and all(check_json(line) == [] for line in lines)
            else:
                assert len(lines) == 12
    again = sweepctl("run", spec, "--workers", "2")
    assert again.returncode == 0, again.stderr
    assert f"{len(done)} done, {sweep.spec.n_tasks - len(done)} to run" in again.stderr
    assert_complete(spec)
    assert temp_files(tmp_path / "out") == []


def test_ctrl_c_stops_cleanly_and_the_rerun_completes(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "s.yaml", slow_doc("ctrl-c", f"file://{tmp_path}/out"))
    sweep, store = open_output(spec)
    proc = start_sweepctl("run", spec, "--workers", "2")
    wait_until(lambda: len(manifests(store, sweep)) >= 2, timeout=120, what="2 committed tasks")
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to the whole foreground group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "SIGINT: stopping" in err and "stopped by SIGINT" in err and "Traceback" not in err
    assert temp_files(tmp_path / "out") == []
    assert len(manifests(store, sweep)) < sweep.spec.n_tasks
    assert sweepctl("run", spec).returncode == 0
    assert_complete(spec)


def blocker(tmp_path: Path, index: int) -> Path:
    """Where a directory makes task ``index`` of sweep ``fails`` fail: its manifest's key."""
    return tmp_path / "out" / "fails" / "tasks" / f"{index:06d}.manifest.json"


def failing_setup(tmp_path: Path, blocked: tuple[int, ...], **spec: object) -> Path:
    """A sweep whose tasks ``blocked`` cannot commit (their manifest's key is a directory)."""
    path = write_spec(tmp_path / "s.yaml", grid_doc("fails", f"file://{tmp_path}/out", **spec))
    for index in blocked:
        blocker(tmp_path, index).mkdir(parents=True)
    return path


def test_a_permanent_failure_is_not_retried_summarised_and_fails_the_run(tmp_path: Path) -> None:
    spec = failing_setup(tmp_path, (3,), backoffLimitPerIndex=2)
    result = sweepctl("run", spec, "--workers", "2", "--no-progress")
    assert result.returncode == 1
    err = result.stderr
    assert err.count("task 3 failed") == 1  # exit 2: retrying cannot help, so it is final
    assert "will retry" not in err
    assert "1 task(s) failed, exceeds maxFailedIndexes (unset: any failure fails the sweep)" in err
    assert "  task 3: exit 2: " in err and "put failed" in err
    assert "4/5 tasks done" in err and "run the same command again to resume" in err
    status = sweepctl("status", spec)
    assert "failed         1" in status.stdout and "task 3:" in status.stdout
    blocker(tmp_path, 3).rmdir()
    assert sweepctl("run", spec).returncode == 0
    assert_complete(spec)
    assert "failed         0" in sweepctl("status", spec).stdout


def test_a_transient_failure_is_retried_up_to_the_backoff_limit(tmp_path: Path) -> None:
    # Task 2's manifest key is a mount point (a file bind-mounted over it): the commit fails with
    # EBUSY, which a network file system may clear, so the task fails with exit 75 and the
    # runner retries it, once per backoffLimitPerIndex. The store answers all along, so
    # the circuit breaker for an unreachable store stays shut.
    spec = write_spec(
        tmp_path / "s.yaml", grid_doc("busy", f"file://{tmp_path}/out", backoffLimitPerIndex=1)
    )
    target = tmp_path / "out" / "busy" / "tasks" / "000002.manifest.json"
    target.parent.mkdir(parents=True)
    target.touch()
    (source := tmp_path / "source").touch()
    with bind_mount(source, target):
        result = sweepctl("run", spec, "--workers", "1", "--no-progress")
    assert result.returncode == 1, result.stderr
    err = result.stderr
    assert err.count("task 2 failed") == 2  # the first attempt and one retry
    assert "task 2 failed (attempt 1, exit 75, will retry)" in err
    assert "  task 2: exit 75: " in err and "Device or resource busy" in err
    assert "unreachable" not in err
    assert "4/5 tasks done" in err and "Traceback" not in err
    assert sweepctl("run", spec).returncode == 0
    assert_complete(spec)


def test_failures_within_max_failed_indexes_are_tolerated(tmp_path: Path) -> None:
    spec = failing_setup(tmp_path, (1,), backoffLimitPerIndex=0, maxFailedIndexes=1)
    result = sweepctl("run", spec, "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "1 task(s) failed, within maxFailedIndexes (1 tolerated)" in result.stderr


def test_exceeding_max_failed_indexes_stops_starting_tasks(tmp_path: Path) -> None:
    spec = failing_setup(tmp_path, (0, 1), backoffLimitPerIndex=0, maxFailedIndexes=0)
    result = sweepctl("run", spec, "--workers", "1", "--no-progress")
    assert result.returncode == 1
    assert "4 task(s) not finished (the failure budget was exceeded" in result.stderr
    sweep, store = open_output(spec)
    assert manifests(store, sweep) == {}


def test_another_sweeps_output_is_refused_before_running(tmp_path: Path) -> None:
    out = f"file://{tmp_path}/out"
    assert sweepctl("run", write_spec(tmp_path / "a.yaml", grid_doc("mine", out))).returncode == 0
    other = write_spec(tmp_path / "b.yaml", grid_doc("mine", out, seed=12))
    refused = sweepctl("run", other)
    assert refused.returncode == 2
    assert "belongs to another sweep" in refused.stderr and "(5 such task(s))" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr


def test_runner_metrics_count_tasks(tmp_path: Path) -> None:
    sweep = load_sweep(write_spec(tmp_path / "s.yaml", grid_doc("m", f"file://{tmp_path}/o")))
    registry = CollectorRegistry()
    summary = run_sweep(
        sweep, workers=2, metrics=RunnerMetrics(registry), progress=False, handle_signals=False
    )
    assert summary.exit_code == 0 and summary.runs_simulated == 18
    value = registry.get_sample_value
    assert value("govsim_runner_tasks_total", {"sweep": "m", "status": "succeeded"}) == 5
    assert value("govsim_runner_sweep_tasks", {"sweep": "m"}) == 5
    assert value("govsim_runner_tasks_running", {"sweep": "m"}) == 0
    again = run_sweep(sweep, workers=2, progress=False, handle_signals=False)
    assert (again.done_before, again.attempts, again.runs_simulated) == (5, 0, 0)


@pytest.mark.integration
def test_runner_passes_the_pushgateway_to_its_tasks(tmp_path: Path, pushgateway: object) -> None:
    spec = write_spec(tmp_path / "s.yaml", grid_doc("pushed", f"file://{tmp_path}/o"))
    url = pushgateway.url  # type: ignore[attr-defined]
    args = ("run", spec, "--pushgateway", url, "--no-progress", "--workers", "2")
    assert sweepctl(*args).returncode == 0
    text = pushgateway.metrics_text()  # type: ignore[attr-defined]
    succeeded = {
        s.labels["slot"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "govsim_tasks_total"
        and s.labels.get("sweep") == "pushed"
        and s.labels.get("status") == "succeeded"
    }
    # The pool's two processes took turns on two slots, whose totals add up to the 5 tasks.
    assert set(succeeded) <= {"0", "1"} and sum(succeeded.values()) == 5


@pytest.mark.integration
@pytest.mark.parametrize("workers", [1, 2])
def test_s3_server_killed_mid_sweep_then_restarted_and_resumed(
    tmp_path: Path, fresh_seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "GOVSIM_S3_ADDRESSING"):
        monkeypatch.delenv(name, raising=False)
    for name, value in aws_env_for(fresh_seaweedfs, tmp_path).items():
        monkeypatch.setenv(name, value)
    bucket = fresh_seaweedfs.create_bucket()
    doc = slow_doc("s3-resume", f"s3://{bucket}/sweeps", backoffLimitPerIndex=0, maxFailedIndexes=0)
    spec = write_spec(tmp_path / "s.yaml", doc)
    sweep, store = open_output(spec)
    proc = start_sweepctl("run", spec, "--workers", str(workers), "--no-progress")
    wait_until(lambda: len(manifests(store, sweep)) >= 4, timeout=120, what="4 tasks in S3")
    fresh_seaweedfs.stop()  # SIGKILL the server mid-sweep
    _, err = proc.communicate(timeout=180)
    # The store's retries give up, and after 2 x workers task attempts in a row that could not
    # reach it the runner stops starting tasks: exit 75, one line saying so, at most one line
    # per task, no traceback. A task that could not reach the store is left for the next run,
    # not counted against maxFailedIndexes (0 here), so the budget never ends the run first.
    assert proc.returncode == 75, err
    limit = 2 * workers
    assert (
        err.count(f"sweepctl run: stopping: the store is unreachable ({limit} task attempts") == 1
    )
    assert "exceeds maxFailedIndexes" not in err
    assert "gave up after 6 attempts" in err and "Traceback" not in err
    per_task = re.findall(r"^sweepctl run: task (\d+)", err, flags=re.MULTILINE)
    assert len(per_task) == len(set(per_task)) <= 6, err
    assert "task(s) not finished (the store is unreachable)" in err
    fresh_seaweedfs.start()  # same ports, same data
    wait_until(lambda: readable(fresh_seaweedfs, bucket), timeout=60, what="S3 reads to work")
    before = manifests(store, sweep)
    assert 4 <= len(before) < sweep.spec.n_tasks
    rerun = sweepctl("run", spec, "--workers", "2", "--no-progress")
    assert rerun.returncode == 0, rerun.stderr
    assert_complete(spec)
    after = manifests(store, sweep)
    assert all(after[i] == m for i, m in before.items())  # committed tasks were kept, not redone


def test_a_closed_port_fails_the_run_in_one_line(
    tmp_path: Path, s3_env: SeaweedFS, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens: the first listing gives up after the store's retries (exit 75), and
    # the retries themselves print nothing.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    spec = write_spec(tmp_path / "s.yaml", grid_doc("closed", "s3://nobody-listens/sweeps"))
    result = sweepctl("run", spec, "--no-progress")
    assert result.returncode == 75, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("sweepctl: error: s3://nobody-listens/sweeps/closed/tasks/: list failed")
    assert line.endswith("(gave up after 6 attempts)")


KILLED_WRITER = """
import os, signal, sys
from sweep_controller.store import open_store
def chunks():
    yield b"partial"
    os.kill(os.getpid(), signal.SIGKILL)
open_store(sys.argv[1]).put_stream(sys.argv[2], chunks())
"""


def test_the_next_run_removes_what_killed_writers_left(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "s.yaml", grid_doc("tidy", f"file://{tmp_path}/out"))
    sweep, store = open_output(spec)
    for key in ("tidy/tasks/000001.20260101T000000Z-0123abcd.jsonl", "tidy/tasks/000002.x"):
        killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, store.uri, key],
                                capture_output=True, timeout=60)  # fmt: skip
        assert killed.returncode == -9, killed.stderr
    old = datetime.now(UTC) - GARBAGE_AGE * 2
    store.put_bytes(data_key("tidy", 3, new_commit(old, "0123abcd"), "jsonl"), b"{}\n")
    assert len(temp_files(tmp_path / "out")) == 2
    result = sweepctl("run", spec, "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "removed 2 partial write(s) and 1 unnamed data file(s)" in result.stderr
    assert temp_files(tmp_path / "out") == []
    assert_complete(spec)
    assert all(len(keys) == 1 for keys in data_files(store, sweep).values())


def test_a_task_held_elsewhere_is_taken_over_when_its_lease_expires(tmp_path: Path) -> None:
    sweep = load_sweep(write_spec(tmp_path / "s.yaml", grid_doc("gone", f"file://{tmp_path}/o")))
    ctx = TaskContext.open(sweep)
    # A holder on another machine that stopped renewing: its lease runs out in two seconds.
    elsewhere = TaskLease(ctx.store, "gone", 3, Holder("x" * 32, "elsewhere", 1, "", 0), ttl=2)
    assert elsewhere.acquire() is None
    summary = run_sweep(sweep, workers=1, progress=False, handle_signals=False)
    assert summary.exit_code == 0
    assert summary.ran == (0, 1, 2, 3, 4) and summary.done_by_others == ()
    assert summary.held_seen == 1 and summary.attempts == 5
    assert_complete(tmp_path / "s.yaml")
