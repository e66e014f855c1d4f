"""scripts/collect-validated.sh stages only run-record files that validate (ci.yml's upload)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kit.paths import REPO

from simulator.records.schema import SCHEMA_VERSION

pytestmark = pytest.mark.slow  # subprocess sweeps and CLI runs: seconds each

SCRIPT = REPO / "scripts" / "collect-validated.sh"


def simulate(path: Path, seed: int) -> None:
    """Write real run records with the simulator CLI."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "simulator",
            "--agents",
            "20",
            "--runs",
            "2",
            "--seed",
            str(seed),
            "--output",
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )


def collect(src: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    """Run the script with this interpreter as the validator."""
    return subprocess.run(
        [str(SCRIPT), str(src), str(dest)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_valid_outputs_and_their_derived_files_are_staged(tmp_path: Path) -> None:
    """All JSONL valid: each is staged at its relative path, with the plots beside them."""
    src = tmp_path / "results"
    simulate(src / "demo.jsonl", 1)
    simulate(src / "sweep-a" / "tasks" / "000000.jsonl", 2)
    (src / "sweep-a" / "plot.png").write_bytes(b"\x89PNG")
    done = collect(src, tmp_path / "out")
    assert done.returncode == 0, done.stderr
    staged = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.*")
    )
    assert staged == ["demo.jsonl", "sweep-a/plot.png", "sweep-a/tasks/000000.jsonl"]
    assert (tmp_path / "out" / "demo.jsonl").read_bytes() == (src / "demo.jsonl").read_bytes()


def test_an_invalid_file_is_left_out_and_fails_the_step(tmp_path: Path) -> None:
    """One corrupt JSONL: it is not staged, neither are derived files, and the exit code is 1."""
    src = tmp_path / "results"
    simulate(src / "good.jsonl", 3)
    lines = (src / "good.jsonl").read_text().splitlines()
    bad = lines[0].replace(f'"schema_version":"{SCHEMA_VERSION}"', '"schema_version":"0.3"')
    assert bad != lines[0]
    (src / "bad.jsonl").write_text(bad + "\n")
    (src / "table.csv").write_text("a,b\n")
    done = collect(src, tmp_path / "out")
    assert done.returncode == 1
    assert "bad.jsonl failed validation" in done.stderr
    staged = sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert staged == ["good.jsonl"]


def test_no_outputs_is_a_failure(tmp_path: Path) -> None:
    """An empty results directory must not pass as 'everything validated'."""
    (tmp_path / "results").mkdir()
    done = collect(tmp_path / "results", tmp_path / "out")
    assert done.returncode == 1
    assert "no *.jsonl" in done.stderr


def test_usage_error_exits_2(tmp_path: Path) -> None:
    """A missing source directory is a usage error."""
    done = collect(tmp_path / "absent", tmp_path / "out")
    assert done.returncode == 2
    assert "is not a directory" in done.stderr
