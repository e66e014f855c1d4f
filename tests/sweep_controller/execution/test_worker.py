"""``sweepctl worker``: one task as a Job pod runs it (real subprocesses; file and S3 stores)."""

from __future__ import annotations

import json
import os
import signal
import uuid
from pathlib import Path

import pytest
from kit.cli import start_sweepctl, sweepctl
from kit.runs import manifests, normalised, open_output, task_lines, temp_files
from kit.servers import SeaweedFS
from kit.specs import grid_doc, write_spec
from prometheus_client.parser import text_string_to_metric_families

from simulator.model import simulate
from simulator.params import AgentRecords
from simulator.records.building import build_record
from simulator.records.validate import check_json
from simulator.seeding import content_seed
from sweep_controller.execution.layout import (
    FailureMarker,
    checkpoint_key,
    failure_key,
    lease_key,
    manifest_key,
    records_key,
    sha256_hex,
    spec_copy_key,
)
from sweep_controller.execution.lease import Holder, TaskLease
from sweep_controller.spec.expand import SweepPlan
from sweep_controller.spec.models import spec_hash

pytestmark = pytest.mark.slow  # subprocess sweeps and CLI runs: seconds each


def job_env(index: int | str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "JOB_COMPLETION_INDEX"}
    if index is not None:
        env["JOB_COMPLETION_INDEX"] = str(index)
    return env


def check_committed_task(spec: Path, index: int) -> list[bytes]:
    """Assert task ``index`` is committed, valid and holds exactly its runs; return its lines."""
    sweep, store = open_output(spec)
    plan = SweepPlan(sweep)
    manifest = manifests(store, sweep)[index]
    data = store.get_bytes(records_key(sweep.name, manifest))
    positions = plan.task_positions(index)
    assert manifest.records.sha256 == sha256_hex(data) and manifest.records.bytes == len(data)
    assert manifest.manifest_version == 2 and list(manifest.files) == ["records"]
    assert manifest.spec_hash == spec_hash(sweep) and manifest.index == index
    assert (manifest.position_start, manifest.position_stop) == (positions.start, positions.stop)
    lines = data.splitlines()
    assert manifest.count == len(lines) == len(positions)
    for line, run in zip(lines, plan.task_runs(index), strict=True):
        assert check_json(line) == []
        record = json.loads(line)
        assert record["run_index"] == run.run_index
        content = plan.point_content(run.point_index)
        assert record["seed"] == run.seed == content_seed(sweep.spec.seed, content, run.replicate)
        assert record["base_seed"] == sweep.spec.seed
        assert record["params"] == run.params.model_dump(mode="json")
        assert record["agent_records"] == {"mode": "none", "path": None, "sha256": None, "count": 0}
    return lines


def test_job_completion_index_runs_that_task_and_commits_it(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path / "s.yaml", grid_doc("w1", f"file://{tmp_path}/out", order="shuffled")
    )
    done = sweepctl("worker", spec, env=job_env(2))
    assert done.returncode == 0, done.stderr
    assert "wrote 4 runs" in done.stderr
    lines = check_committed_task(spec, 2)
    sweep, store = open_output(spec)
    manifest = manifests(store, sweep)[2]
    assert sorted(store.list("w1/")) == sorted(
        [manifest_key("w1", 2), records_key("w1", manifest), lease_key("w1", 2, 1),
         spec_copy_key("w1")]
    )  # fmt: skip
    # The records are the engine's own, for the same params and seed (only run_id/timestamp vary).
    run = SweepPlan(sweep).task_runs(2)[0]
    expected = build_record(
        simulate(run.params, run.seed),
        run_id=json.loads(lines[0])["run_id"],
        timestamp=json.loads(lines[0])["timestamp"],
        base_seed=sweep.spec.seed,
        run_index=run.run_index,
        agent_records=AgentRecords.NONE,
    )
    assert lines[0] == expected.model_dump_json(by_alias=True).encode()


def test_index_flag_wins_over_the_environment(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "s.yaml", grid_doc("w2", f"file://{tmp_path}/out"))
    assert sweepctl("worker", spec, "--index", "4", env=job_env(1)).returncode == 0
    sweep, store = open_output(spec)
    assert sorted(manifests(store, sweep)) == [4]
    assert len(check_committed_task(spec, 4)) == 2  # the last task holds the remaining 2 runs


def test_a_done_task_is_skipped_and_left_untouched(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "s.yaml", grid_doc("w3", f"file://{tmp_path}/out"))
    assert sweepctl("worker", spec, env=job_env(0)).returncode == 0
    _, store = open_output(spec)
    before = {key: store.get_bytes(key) for key in store.list("w3/")}
    again = sweepctl("worker", spec, env=job_env(0))
    assert again.returncode == 0, again.stderr
    assert "already done (4 runs); skipped" in again.stderr
    assert {key: store.get_bytes(key) for key in store.list("w3/")} == before


def test_a_corrupt_task_is_rewritten(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "s.yaml", grid_doc("w4", f"file://{tmp_path}/out"))
    assert sweepctl("worker", spec, "--index", "1").returncode == 0
    sweep, store = open_output(spec)
    store.put_bytes(records_key("w4", manifests(store, sweep)[1]), b'{"truncated": tr')
    fixed = sweepctl("worker", spec, "--index", "1")
    assert fixed.returncode == 0, fixed.stderr
    assert "rewriting" in fixed.stderr and "does not match its manifest" in fixed.stderr
    check_committed_task(spec, 1)


def test_another_sweeps_results_under_the_prefix_are_a_permanent_error(tmp_path: Path) -> None:
    out = f"file://{tmp_path}/out"
    first = write_spec(tmp_path / "a.yaml", grid_doc("same-name", out))
    assert sweepctl("worker", first, "--index", "0").returncode == 0
    _, store = open_output(first)
    before = {key: store.get_bytes(key) for key in store.list("same-name/")}
    other = write_spec(tmp_path / "b.yaml", grid_doc("same-name", out, seed=12))
    refused = sweepctl("worker", other, "--index", "0")
    assert refused.returncode == 2
    assert "belongs to another sweep" in refused.stderr and "spec hash" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert {key: store.get_bytes(key) for key in store.list("same-name/")} == before
    # Only a task whose own manifest conflicts is refused; a worker cannot see the rest.
    assert sweepctl("worker", other, "--index", "1").returncode == 0


@pytest.mark.parametrize(
    ("args", "env_index", "message"),
    [
        (["--index", "5"], None, "task index 5 is outside [0, 4] (sweep w5 has 5 tasks)"),
        ([], "9", "task index 9 is outside [0, 4] (sweep w5 has 5 tasks)"),
        ([], None, "--index: not given and JOB_COMPLETION_INDEX is not set"),
        ([], "two", "JOB_COMPLETION_INDEX: 'two' is not an integer"),
        (["--index", "-1"], None, "--index: -1 is outside [0, inf)"),
    ],
)
def test_bad_indexes_exit_2_without_writing(
    tmp_path: Path, args: list[str], env_index: str | None, message: str
) -> None:
    spec = write_spec(tmp_path / "s.yaml", grid_doc("w5", f"file://{tmp_path}/out"))
    result = sweepctl("worker", spec, *args, env=job_env(env_index))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"sweepctl: error: {message}"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("four", "GOVSIM_PARALLELISM: 'four' is not an integer"),
        ("0", "GOVSIM_PARALLELISM: 0 is outside [1, inf)"),
    ],
)
def test_a_bad_parallelism_exits_2_without_writing(
    tmp_path: Path, value: str, message: str
) -> None:
    spec = write_spec(tmp_path / "s.yaml", grid_doc("w5", f"file://{tmp_path}/out"))
    result = sweepctl("worker", spec, env={**job_env(1), "GOVSIM_PARALLELISM": value})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"sweepctl: error: {message}"
    assert not (tmp_path / "out").exists()


def test_a_bad_spec_exits_2(tmp_path: Path) -> None:
    doc = grid_doc("w6", f"file://{tmp_path}/out", replicates=0)
    result = sweepctl("worker", write_spec(tmp_path / "s.yaml", doc), "--index", "0")
    assert result.returncode == 2
    assert "spec.replicates" in result.stderr and "Traceback" not in result.stderr


def test_a_permanent_storage_failure_exits_2_and_leaves_a_failure_marker(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "s.yaml", grid_doc("w7", f"file://{tmp_path}/out"))
    blocker = tmp_path / "out" / "w7" / "tasks" / "000003.manifest.json"
    blocker.mkdir(parents=True)  # the manifest's key is a directory: the commit fails
    failed = sweepctl("worker", spec, "--index", "3")
    assert failed.returncode == 2  # the Job's podFailurePolicy fails the index at once
    assert "000003.manifest.json: put failed" in failed.stderr
    _, store = open_output(spec)
    marker = FailureMarker.model_validate_json(store.get_bytes(failure_key("w7", 3)))
    assert marker.exit_code == 2 and "put failed" in marker.error and marker.index == 3
    blocker.rmdir()
    assert sweepctl("worker", spec, "--index", "3").returncode == 0
    assert not store.exists(failure_key("w7", 3))
    check_committed_task(spec, 3)


def test_sigterm_stops_the_task_without_a_partial_object(tmp_path: Path) -> None:
    # One task of 1,000 runs of 10,000 agents: several seconds of work.
    doc = grid_doc(
        "w8",
        f"file://{tmp_path}/out",
        simulator={"agents": 10_000, "mean_degree": 10},
        replicates=1000,
        runsPerTask=1000,
    )
    spec = write_spec(tmp_path / "s.yaml", doc)
    proc = start_sweepctl("worker", spec, "--index", "0")
    assert proc.stderr is not None
    header = proc.stderr.readline()  # printed once the task is about to start
    assert "task 0 of 6 (1000 runs)" in header
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "SIGTERM received" in err and "stopped" in err
    sweep, store = open_output(spec)
    # Neither records nor a manifest nor a failure marker: at most the lease, released, the
    # spec's copy, written before the runs (a stop that comes before the worker first reads the
    # store leaves nothing at all), and the checkpoint of the runs finished before the stop: a
    # marker and one part of whole, valid records, the task's first runs.
    left = sorted(store.list("w8/"))
    kept = [key for key in left if key.endswith(".part.jsonl")]
    assert [key for key in left if key not in kept] in (
        [],
        [spec_copy_key("w8"), lease_key("w8", 0, 1)],
        sorted([spec_copy_key("w8"), checkpoint_key("w8", 0), lease_key("w8", 0, 1)]),
    )
    if left:
        assert b'"released":true' in store.get_bytes(lease_key("w8", 0, 1))
    if kept:
        (part,) = kept
        lines = store.get_bytes(part).splitlines()
        assert all(check_json(line) == [] for line in lines)
        indexes = [json.loads(line)["run_index"] for line in lines]
        assert indexes == SweepPlan(sweep).task_run_indexes(0)[: len(lines)]
    assert temp_files(tmp_path / "out") == []


@pytest.mark.integration
def test_worker_against_s3(tmp_path: Path, s3_uri: str) -> None:
    spec = write_spec(tmp_path / "s.yaml", grid_doc("w9", s3_uri, order="shuffled"))
    assert (done := sweepctl("worker", spec, env=job_env(1))).returncode == 0, done.stderr
    check_committed_task(spec, 1)
    again = sweepctl("worker", spec, env=job_env(1))
    assert again.returncode == 0 and "skipped" in again.stderr
    sweep, store = open_output(spec)
    manifest = manifests(store, sweep)[1]
    assert sorted(store.list("w9/")) == sorted(
        [manifest_key("w9", 1), records_key("w9", manifest), lease_key("w9", 1, 1),
         spec_copy_key("w9")]
    )  # fmt: skip
    assert len(task_lines(store, sweep)[1]) == 4


@pytest.mark.integration
def test_worker_pushes_task_metrics_under_its_slot(tmp_path: Path, pushgateway: object) -> None:
    url = pushgateway.url  # type: ignore[attr-defined]
    spec = write_spec(tmp_path / "s.yaml", grid_doc("w10", f"file://{tmp_path}/out"))

    def pushed(slot: str) -> dict[tuple[str, str | None], float]:
        text = pushgateway.metrics_text()  # type: ignore[attr-defined]
        return {
            (s.name, s.labels.get("status") or s.labels.get("outcome")): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.labels.get("sweep") == "w10" and s.labels.get("slot") == slot
        }

    env = {**job_env(None), "GOVSIM_PARALLELISM": "3"}
    assert sweepctl("worker", spec, "--index", "2", "--pushgateway", url, env=env).returncode == 0
    samples = pushed("2")  # index 2 mod 3
    assert samples[("govsim_runs_total", "ok")] == 4
    assert samples[("govsim_tasks_total", "succeeded")] == 1
    assert samples[("govsim_sweep_tasks", None)] == 5
    assert samples[("govsim_storage_written_bytes_total", None)] > 0
    # Task 4 (its last 2 runs) takes slot 4 mod 3 = 1. A re-run of task 2 takes slot 2 again
    # and carries its totals on, adding its own attempt.
    assert sweepctl("worker", spec, "--index", "4", "--pushgateway", url, env=env).returncode == 0
    assert pushed("1")[("govsim_runs_total", "ok")] == 2
    assert sweepctl("worker", spec, "--index", "2", "--pushgateway", url, env=env).returncode == 0
    again = pushed("2")
    assert again[("govsim_runs_total", "ok")] == 4  # the re-run ran nothing: it found task 2 done
    assert (
        again[("govsim_tasks_total", "succeeded")],
        again[("govsim_tasks_total", "skipped")],
    ) == (1, 1)


def test_an_unreachable_pushgateway_never_fails_the_task(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "s.yaml", grid_doc("w11", f"file://{tmp_path}/out"))
    env = {**job_env(0), "PUSHGATEWAY_URL": "http://127.0.0.1:9"}
    result = sweepctl("worker", spec, env=env)
    assert result.returncode == 0, result.stderr
    assert "push of sweep w11 slot 0 failed" in result.stderr
    check_committed_task(spec, 0)


def test_same_task_same_records_whoever_runs_it(tmp_path: Path) -> None:
    a = write_spec(tmp_path / "a.yaml", grid_doc("w12", f"file://{tmp_path}/a", order="shuffled"))
    b = write_spec(tmp_path / "b.yaml", grid_doc("w12", f"file://{tmp_path}/b", order="shuffled"))
    assert sweepctl("worker", a, "--index", "3").returncode == 0
    assert sweepctl("worker", b, "--index", "3").returncode == 0
    (sa, store_a), (sb, store_b) = open_output(a), open_output(b)
    lines_a, lines_b = task_lines(store_a, sa)[3], task_lines(store_b, sb)[3]
    assert lines_a != lines_b  # run ids differ...
    assert normalised(lines_a) == normalised(lines_b)  # ...and nothing else


def test_a_worker_waits_for_the_lease_another_attempt_holds(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "s.yaml", grid_doc("w13", f"file://{tmp_path}/out"))
    sweep, store = open_output(spec)
    holder = TaskLease(store, "w13", 1, Holder.here("a" * 32))
    assert holder.acquire() is None  # as a pod of this index elsewhere would
    proc = start_sweepctl("worker", spec, "--index", "1")
    assert proc.stderr is not None
    lines = [proc.stderr.readline(), proc.stderr.readline()]
    assert "task 1 is held by" in lines[1] and "attempt aaaaaaaa" in lines[1]
    assert manifests(store, sweep) == {}
    holder.release()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "wrote 4 runs" in err
    check_committed_task(spec, 1)


@pytest.mark.integration
def test_a_missing_bucket_fails_with_its_name_and_is_never_created(
    tmp_path: Path, s3_env: SeaweedFS
) -> None:
    bucket = f"missing-{uuid.uuid4().hex[:12]}"
    spec = write_spec(tmp_path / "s.yaml", grid_doc("w14", f"s3://{bucket}/sweeps"))
    for attempt in (1, 2):  # the retry must not find a bucket made by the first attempt
        failed = sweepctl("worker", spec, "--index", "0")
        assert failed.returncode != 0, failed.stderr
        last = failed.stderr.strip().splitlines()[-1]
        assert last.startswith("sweepctl: error: s3://") and f"{bucket}" in last, attempt
        assert "Traceback" not in failed.stderr
        names = [b["Name"] for b in s3_env.client().list_buckets()["Buckets"]]
        assert bucket not in names
