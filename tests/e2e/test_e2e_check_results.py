"""The kind run's results check (scripts/e2e/check_results.py), exercised here against real S3.

The check is the last judge of the end-to-end run, so it must pass on real worker output and fail
on each way results can be wrong. Real workers (``sweepctl worker`` subprocesses, one per index)
write a small sweep to the SeaweedFS test server; then the check runs as the cluster runs it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kit.charts import E2E_DIR, venv_tool

CHECK = E2E_DIR / "check_results.py"
pytestmark = pytest.mark.integration


def write_sweep(path: Path, name: str, uri: str, seed: int = 11) -> Path:
    """A two-task sweep (2 points x 2 replicates, 2 runs per task) writing to ``uri``."""
    doc = {
        "apiVersion": "govsim.io/v1alpha1",
        "kind": "Sweep",
        "metadata": {"name": name},
        "spec": {
            "simulator": {"agents": 40, "cascade_rounds": 2},
            "parameters": {"whale_ratio": {"values": [0.05, 0.2]}},
            "replicates": 2,
            "seed": seed,
            "runsPerTask": 2,
            "output": {"uri": uri},
        },
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_check(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the check as the cluster's Job does (same interpreter as the project)."""
    return subprocess.run(
        [sys.executable, str(CHECK), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run_worker(spec: Path, index: int, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``sweepctl worker SPEC --index I``, as a Job pod runs it."""
    return subprocess.run(
        [venv_tool("sweepctl"), "worker", str(spec), "--index", str(index)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
    )


@pytest.fixture
def finished_sweep(s3_env: Any, s3_uri: str, tmp_path: Path) -> tuple[Path, Any, str, str]:
    """A sweep real workers have written to S3: (spec, S3 client, bucket, tasks key prefix)."""
    spec = write_sweep(tmp_path / "sweep.yaml", "check-me", s3_uri)
    for index in range(2):
        done = run_worker(spec, index, tmp_path)
        assert done.returncode == 0, done.stderr
    bucket, _, prefix = s3_uri.removeprefix("s3://").partition("/")
    return spec, s3_env.client(), bucket, f"{prefix}/check-me/tasks/"


def test_check_passes_on_real_worker_output(finished_sweep: tuple[Path, Any, str, str]) -> None:
    """Every task done, every record valid: exit 0, with `sweepctl status` output shown."""
    spec, _, _, _ = finished_sweep
    done = run_check("--require-scheme=s3", str(spec))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "check-me: 2 tasks (0 expected to fail), 4 records" in done.stdout
    assert "1 sweeps checked: ok" in done.stdout


def test_a_directory_stands_for_its_specs(
    finished_sweep: tuple[Path, Any, str, str], tmp_path: Path
) -> None:
    """A directory argument checks every *.yaml in it, as the cluster's Job passes it."""
    spec, _, _, _ = finished_sweep
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "check-me.yaml").write_text(spec.read_text())
    (specs / "check_results.py").write_text("not a spec\n")
    done = run_check("--require-scheme=s3", str(specs))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 sweeps checked: ok" in done.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_check(str(empty)).returncode == 2


@pytest.fixture
def sweep_with_foreign_task(s3_env: Any, s3_uri: str, tmp_path: Path) -> Path:
    """A directory with spec check-me.yaml whose task 1 holds another spec's results.

    As in the kind scenario failing-index: another spec of the same name wrote task 1 first, so
    this spec's worker for index 1 refuses the prefix with exit 2 (the permanent code the Job's
    podFailurePolicy fails an index on), and only task 0 is done.
    """
    specs = tmp_path / "specs"
    specs.mkdir()
    spec = write_sweep(specs / "check-me.yaml", "check-me", s3_uri)
    other = write_sweep(tmp_path / "other.yaml", "check-me", s3_uri, seed=12)
    assert run_worker(other, 1, tmp_path).returncode == 0
    assert run_worker(spec, 0, tmp_path).returncode == 0
    conflict = run_worker(spec, 1, tmp_path)
    assert conflict.returncode == 2, conflict.stderr
    assert "belongs to another sweep" in conflict.stderr
    return specs


def test_expected_failed_indexes_pass_when_only_they_failed(
    sweep_with_foreign_task: Path,
) -> None:
    """<sweep>.failed-indexes names task 1: it must not be done, task 0 must; 2 of 4 runs."""
    specs = sweep_with_foreign_task
    (specs / "check-me.failed-indexes").write_text("1\n")
    done = run_check("--require-scheme=s3", str(specs))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "check-me: task 1 is foreign as expected" in done.stdout
    assert "check-me: 2 tasks (1 expected to fail), 2 records" in done.stdout


@pytest.mark.parametrize(
    ("expected", "problem"),
    [
        (None, "task 1 is foreign"),
        ("0", "task 0 is done, it was expected to fail"),
        ("0-1", "task 0 is done, it was expected to fail"),
    ],
)
def test_failures_other_than_the_expected_fail_the_check(
    sweep_with_foreign_task: Path, expected: str | None, problem: str
) -> None:
    """An unexpected failed task, or an expected failure that is done, is a problem."""
    specs = sweep_with_foreign_task
    if expected is not None:
        (specs / "check-me.failed-indexes").write_text(expected)
    done = run_check(str(specs))
    assert done.returncode == 1, done.stdout
    problems = [line for line in done.stdout.splitlines() if line.startswith("PROBLEM")]
    assert any(problem in p for p in problems), problems


def rewrite_task(
    client: Any, bucket: str, prefix: str, index: int, data: bytes, **fields: Any
) -> str:
    """Replace task ``index``'s records with ``data``, its manifest matching; the records key."""
    manifest_key = f"{prefix}{index:06d}.manifest.json"
    manifest = json.loads(client.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    records = manifest["files"]["records"]
    records["sha256"] = hashlib.sha256(data).hexdigest()
    records["bytes"] = len(data)
    manifest["count"] = len(data.decode().splitlines())
    manifest.update(fields)
    client.put_object(Bucket=bucket, Key=f"{prefix}{records['name']}", Body=data)
    client.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest).encode())
    return str(records["name"])


def task_records(client: Any, bucket: str, prefix: str, index: int) -> bytes:
    """The records task ``index``'s manifest names."""
    manifest_key = f"{prefix}{index:06d}.manifest.json"
    manifest = json.loads(client.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    key = f"{prefix}{manifest['files']['records']['name']}"
    return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_a_run_present_twice_fails_the_check(finished_sweep: tuple[Path, Any, str, str]) -> None:
    """Task 1 holding task 0's runs (a consistent manifest) is not "each run exactly once"."""
    spec, client, bucket, prefix = finished_sweep
    name = rewrite_task(client, bucket, prefix, 1, task_records(client, bucket, prefix, 0))
    done = run_check(str(spec))
    assert done.returncode == 1, done.stdout
    assert f"{name}:1: run_id" in done.stdout
    assert "appears twice in the sweep" in done.stdout


def test_a_task_holding_other_positions_fails_the_check(
    finished_sweep: tuple[Path, Any, str, str],
) -> None:
    """A manifest whose run positions are not its task's slice of the run order is a problem."""
    spec, client, bucket, prefix = finished_sweep
    data = task_records(client, bucket, prefix, 1)
    rewrite_task(client, bucket, prefix, 1, data, position_start=0, position_stop=2)
    done = run_check(str(spec))
    assert done.returncode == 1, done.stdout
    assert "holds positions 0-1, task 1 is positions 2-3" in done.stdout


def test_check_fails_on_an_invalid_record(finished_sweep: tuple[Path, Any, str, str]) -> None:
    """A record that breaks the v0.4 schema fails the check, even with a matching manifest."""
    spec, client, bucket, prefix = finished_sweep
    manifest_key = f"{prefix}000001.manifest.json"
    manifest = json.loads(client.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    records = manifest["files"]["records"]
    key = f"{prefix}{records['name']}"
    lines = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
    record = json.loads(lines[0])
    record["schema_version"] = "0.3"
    lines[0] = json.dumps(record)
    data = ("\n".join(lines) + "\n").encode()
    records["sha256"] = hashlib.sha256(data).hexdigest()
    records["bytes"] = len(data)
    client.put_object(Bucket=bucket, Key=key, Body=data)
    client.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest).encode())
    done = run_check(str(spec))
    assert done.returncode == 1, done.stdout
    assert f"{records['name']}:1:" in done.stdout
    assert "FAILED" in done.stdout


def test_check_fails_on_a_tampered_or_missing_task(
    finished_sweep: tuple[Path, Any, str, str],
) -> None:
    """A JSONL that no longer matches its manifest, or a task without one, fails the check."""
    spec, client, bucket, prefix = finished_sweep
    manifest = client.get_object(Bucket=bucket, Key=f"{prefix}000000.manifest.json")["Body"]
    name = json.loads(manifest.read())["files"]["records"]["name"]
    client.put_object(Bucket=bucket, Key=f"{prefix}{name}", Body=b"{}\n")
    client.delete_object(Bucket=bucket, Key=f"{prefix}000001.manifest.json")
    done = run_check(str(spec))
    assert done.returncode == 1, done.stdout
    problems = [line for line in done.stdout.splitlines() if line.startswith("PROBLEM")]
    assert any(f"{name}: task 0 is invalid" in p for p in problems), problems
    assert any("000001.manifest.json: task 1 is pending" in p for p in problems), problems
    assert any("0 run records, the sweep has 4 runs" in p for p in problems), problems


def test_check_refuses_a_sweep_that_does_not_write_to_s3(tmp_path: Path) -> None:
    """--require-scheme s3 catches a spec whose file:// output was not replaced."""
    spec = write_sweep(tmp_path / "sweep.yaml", "local-one", "file://results")
    done = run_check("--require-scheme=s3", str(spec))
    assert done.returncode == 1
    assert "spec.output.uri is file://results, not s3://" in done.stdout


def test_check_reports_a_bad_spec_without_traceback(tmp_path: Path) -> None:
    """A spec that does not parse exits 2 with one line."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: govsim.io/v1alpha1\nkind: Sweep\nmetadata: {name: Bad}\n")
    done = run_check(str(bad))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("check_results: error:")
