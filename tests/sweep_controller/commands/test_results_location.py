"""Local commands find a sweep's results from the spec file's folder, or from ``--output``.

Each command runs as a user runs it (a subprocess), from a working directory that is not the
spec's folder; ``status`` tells results it cannot use by its exit code.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from kit.cli import sweepctl
from kit.specs import grid_doc, write_spec

from sweep_controller.execution.layout import manifest_key, spec_copy_key
from sweep_controller.execution.runner import run_sweep
from sweep_controller.spec.location import load_local_sweep
from sweep_controller.store import FileStore

pytestmark = pytest.mark.slow  # a handful of sweepctl processes each


def folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A spec (output ``file://results``) in ``specs/``, and two other working directories."""
    specs, a, b = tmp_path / "specs", tmp_path / "a", tmp_path / "b"
    for folder in (specs, a, b):
        folder.mkdir()
    write_spec(specs / "s.yaml", grid_doc("loc", "file://results"))
    return specs / "s.yaml", a, b


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_every_command_reads_a_relative_output_from_the_spec_s_folder(tmp_path: Path) -> None:
    spec, a, b = folders(tmp_path)
    results = spec.parent / "results" / "loc"
    ran = sweepctl("run", "../specs/s.yaml", "--workers", "1", "--no-progress", cwd=a)
    assert ran.returncode == 0, ran.stderr
    assert f"-> file://{results}/" in ran.stderr
    assert sorted(p.name for p in results.iterdir()) == ["sweep.json", "tasks"]

    status = sweepctl("status", spec, "--format", "json", cwd=b)
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert doc["uri"] == f"file://{results}/" and doc["done"] == 5
    collected = sweepctl("collect", "../specs/s.yaml", "--out", "runs.csv", cwd=b)
    assert collected.returncode == 0, collected.stderr
    assert len(rows(b / "runs.csv")) == 18  # --out is a command-line path: the working directory
    report = sweepctl("report", spec, "--out", "report", cwd=b)
    assert report.returncode == 0, report.stderr
    assert (b / "report" / "index.html").is_file()
    worker = sweepctl("worker", spec, "--index", "2", cwd=b)
    assert worker.returncode == 0 and "already done" in worker.stderr, worker.stderr
    validate = sweepctl("validate", spec, cwd=b)
    assert f"output: file://results (local commands: file://{spec.parent}/results)" in (
        validate.stdout.splitlines()
    )
    assert not (a / "results").exists() and not (b / "results").exists()


def test_output_flag_replaces_the_spec_s_location(tmp_path: Path) -> None:
    spec, a, b = folders(tmp_path)
    ran = sweepctl("run", spec, "--output", "elsewhere", "--workers", "1", "--no-progress", cwd=a)
    assert ran.returncode == 0, ran.stderr
    moved = a / "elsewhere" / "loc"
    assert (moved / "sweep.json").is_file() and not (spec.parent / "results").exists()

    # without the flag, the spec's own location: nothing there, one line naming it, no file
    missing = sweepctl("collect", spec, "--out", "runs.csv", cwd=a)
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"sweepctl: error: loc: no runs found in file://{spec.parent}/results/loc/ (0 of 5 "
        "tasks are done); run `sweepctl run` first, or give the output location the sweep "
        "wrote to"
    )
    assert not (a / "runs.csv").exists()
    found = sweepctl("collect", spec, "--output", f"file://{a}/elsewhere", "--out", "r.csv", cwd=b)
    assert found.returncode == 0, found.stderr
    assert len(rows(b / "r.csv")) == 18
    status = sweepctl("status", spec, "--output", "../a/elsewhere", "--format", "json", cwd=b)
    assert json.loads(status.stdout)["done"] == 5

    worker = sweepctl("worker", spec, "--index", "0", "--output", "one-task", cwd=b)
    assert worker.returncode == 0, worker.stderr
    store = FileStore(b / "one-task")
    assert store.exists(manifest_key("loc", 0)) and store.exists(spec_copy_key("loc"))
    assert not store.exists(manifest_key("loc", 1))


def test_status_exits_1_when_tasks_are_invalid_or_foreign(tmp_path: Path) -> None:
    spec, _, b = folders(tmp_path)
    sweep = load_local_sweep(spec)
    assert run_sweep(sweep, workers=1, progress=False, handle_signals=False).exit_code == 0
    clean = sweepctl("status", spec, cwd=b)
    assert clean.returncode == 0 and clean.stderr == "", clean.stderr

    store = FileStore(spec.parent / "results")
    manifest = json.loads(store.get_bytes(manifest_key("loc", 3)))
    records = store.root / "loc" / "tasks" / manifest["files"]["records"]["name"]
    records.write_bytes(records.read_bytes() + b"\n")  # task 3 no longer matches its manifest
    invalid = sweepctl("status", spec, cwd=b)
    assert invalid.returncode == 1
    assert "invalid        1" in invalid.stdout  # the table is printed all the same
    assert invalid.stderr.strip() == (
        "sweepctl: error: 1 task(s) invalid (their files do not match their manifests; "
        "`sweepctl run` rewrites them): 3"
    )

    other = json.loads(store.get_bytes(manifest_key("loc", 1)))
    other["spec_hash"] = other["runs_hash"] = "0" * 64  # task 1 written by another sweep
    store.put_bytes(manifest_key("loc", 1), json.dumps(other).encode())
    both = sweepctl("status", spec, "--format", "json", cwd=b)
    assert both.returncode == 1
    doc = json.loads(both.stdout)  # stdout stays a JSON document
    assert (doc["invalid_indexes"], doc["foreign_indexes"]) == ([3], [1])
    assert both.stderr.strip().endswith(
        "rewrites them): 3; 1 task(s) foreign (written by a sweep with another spec hash): 1"
    )

    # without the foreign manifest, a run rewrites both tasks and status is 0 again
    store.delete(manifest_key("loc", 1))
    repaired = sweepctl("run", spec, "--workers", "1", "--no-progress", cwd=b)
    assert repaired.returncode == 0, repaired.stderr
    assert sweepctl("status", spec, cwd=b).returncode == 0
