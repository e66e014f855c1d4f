"""``govsim --output`` when the disk fills up: one error line, and only complete lines in the file.

Two real ways to run out of room: a small tmpfs filled to the brim (ENOSPC; mounting needs
root, kit.mounts), and a file size limit (RLIMIT_FSIZE: EFBIG, no root needed; Python ignores
SIGXFSZ, so the write fails instead of the process being killed).
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
from kit.mounts import fill, tmpfs
from kit.paths import REPO

from simulator.atomic import TEMP_MARKER
from simulator.records.validate import validate_file

pytestmark = pytest.mark.slow  # several simulations in subprocesses

# 30 runs of 300 agents with inline agent records: about 60 KiB a record.
RUNS = ("--agents", "300", "--runs", "30", "--rules", "v0.5", "--seed", "5")


def govsim(*args: str | Path, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    """``govsim ARGS``, under a file size limit of ``limit`` bytes when given."""

    def limited() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "simulator", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
        preexec_fn=limited,
    )


def assert_complete_lines(path: Path) -> int:
    """Every line of ``path`` is a whole, valid record; return how many there are."""
    data = path.read_bytes()
    assert data.endswith(b"\n"), "the file ends in a partial line"
    report = validate_file(path)
    assert report.ok, report.problems[:3]
    return report.lines


def test_a_full_disk_leaves_only_complete_lines(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", size="256k") as disk:
        out = disk / "runs.jsonl"
        result = govsim(*RUNS, "--output", out)
        assert result.returncode == 2, result.stderr  # deterministic: the same on every attempt
        assert result.stderr.splitlines() == [
            f"govsim: error: --output: cannot write '{out}': No space left on device"
        ]
        kept = assert_complete_lines(out)
        assert 1 <= kept < 30
        # Full to the last page now: appending again changes nothing and says so in one line.
        fill(disk)
        before = out.read_bytes()
        again = govsim(*RUNS, "--output", out)
        assert again.returncode == 2
        assert again.stderr.splitlines() == [
            f"govsim: error: --output: cannot write '{out}': No space left on device"
        ]
        assert out.read_bytes() == before
        assert [p.name for p in disk.iterdir() if TEMP_MARKER in p.name] == []


def test_a_file_size_limit_leaves_only_complete_lines(tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    result = govsim(*RUNS, "--output", out, limit=200_000)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"govsim: error: --output: cannot write '{out}': File too large"
    ]
    assert 1 <= assert_complete_lines(out) < 30
    assert out.stat().st_size <= 200_000


def test_parquet_side_files_on_a_full_disk_leave_no_temporary_file(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", size="256k") as disk:
        out = disk / "runs.jsonl"
        result = govsim(*RUNS, "--agent-records", "parquet", "--output", out)
        assert result.returncode == 1, result.stderr
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"govsim: error: {disk}/") and line.endswith(
            ": No space left on device"
        )
        if out.exists():
            assert_complete_lines(out)
        assert [p for p in disk.rglob(f"*{TEMP_MARKER}*")] == []
