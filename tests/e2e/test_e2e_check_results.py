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


def write_sweep(path: Path, name: str, uri: str) -> Path:
    """A two-task sweep (2 points x 2 replicates, 2 runs per task) writing to ``uri``."""
    doc = {
        "apiVersion": "govsim.io/v1alpha1",
        "kind": "Sweep",
        "metadata": {"name": name},
        "spec": {
            "simulator": {"agents": 40, "cascade_rounds": 2},
            "parameters": {"whale_ratio": {"values": [0.05, 0.2]}},
            "replicates": 2,
            "seed": 11,
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


@pytest.fixture
def finished_sweep(s3_env: Any, s3_uri: str, tmp_path: Path) -> tuple[Path, Any, str, str]:
    """A sweep real workers have written to S3: (spec, S3 client, bucket, tasks key prefix)."""
    spec = write_sweep(tmp_path / "sweep.yaml", "check-me", s3_uri)
    for index in range(2):
        done = subprocess.run(
            [venv_tool("sweepctl"), "worker", str(spec), "--index", str(index)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
    bucket, _, prefix = s3_uri.removeprefix("s3://").partition("/")
    return spec, s3_env.client(), bucket, f"{prefix}/check-me/tasks/"


def test_check_passes_on_real_worker_output(finished_sweep: tuple[Path, Any, str, str]) -> None:
    """Every task done, every record valid: exit 0, with `sweepctl status` output shown."""
    spec, _, _, _ = finished_sweep
    done = run_check("--require-scheme=s3", str(spec))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "check-me: 2 tasks, 4 records" in done.stdout
    assert "1 sweeps checked: ok" in done.stdout


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
