"""Bad input to ``govsim`` and the record tools: one line each, exit 2, never a traceback.

The table's rows are flags and what the user must see: the exit code and a pattern for the single
line on stderr. They run through ``main(argv)`` in this process (a traceback would fail the test
as an uncaught exception). Inputs that need a process of their own (a memory cap, a signal) run
as subprocesses below the table.
"""

from __future__ import annotations

import re
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from kit.paths import REPO
from kit.waiting import wait_until

from simulator.cli import main

LEGACY = REPO / "tests" / "simulator" / "records" / "fixtures" / "legacy" / "v0_3.jsonl"

# (id, flags, exit code, pattern of the one stderr line); "{tmp}" is the test's directory
ROWS: list[tuple[str, tuple[str, ...], int, str]] = [
    # archetype weights: finite, with a finite sum
    ("mix-inf", ("--archetype-mix", "optimizer=inf"), 2,
     r"^govsim: error: --archetype-mix: optimizer=inf is not a finite number$"),
    ("mix-1e309", ("--archetype-mix", "optimizer=1e309"), 2,
     r"^govsim: error: --archetype-mix: optimizer=1e309 is not a finite number$"),
    ("mix-nan", ("--archetype-mix", "retail=nan,optimizer=1"), 2,
     r"^govsim: error: --archetype-mix: retail=nan is not a finite number$"),
    ("mix-sum-overflows", ("--archetype-mix", "optimizer=1e308,retail=1e308"), 2,
     r"^govsim: error: --archetype-mix: the weights add up to inf; their sum must be finite$"),
    ("mix-negative", ("--archetype-mix", "retail=-1"), 2,
     r"^govsim: error: --archetype-mix: retail=-1 is outside \[0, inf\)$"),
    ("mix-all-zero", ("--archetype-mix", "retail=0"), 2,
     r"^govsim: error: --archetype-mix: at least one weight must be positive$"),
    ("mix-whale", ("--archetype-mix", "whale=1"), 2,
     r"^govsim: error: --archetype-mix: 'whale' is not one of optimizer, "),
    ("mix-twice", ("--archetype-mix", "retail=1,retail=2"), 2,
     r"^govsim: error: --archetype-mix: retail is given twice$"),
    # one limit per parameter, the same as sweeps
    ("seed-10^26", ("--seed", "100000000000000000000000000"), 2,
     r"^govsim: error: --seed: 100000000000000000000000000 is outside \[0, 9223372036854775807\]$"),
    ("seed-5000-digits", ("--seed", "9" * 5000), 2,
     r"^govsim: error: --seed: '9{57}\.\.\.' is not an integer$"),
    ("seed-negative", ("--seed", "-1"), 2,
     r"^govsim: error: --seed: -1 is outside \[0, 9223372036854775807\]$"),
    ("runs-0", ("--runs", "0"), 2, r"^govsim: error: --runs: 0 is outside \[1, inf\)$"),
    ("runs-float", ("--runs", "1e3"), 2, r"^govsim: error: --runs: '1e3' is not an integer$"),
    ("mean-degree-inf", ("--mean-degree", "inf"), 2,
     r"^govsim: error: --mean-degree: inf is not a finite number$"),
    ("mean-degree-nan", ("--mean-degree", "nan"), 2,
     r"^govsim: error: --mean-degree: nan is not a finite number$"),
    ("whale-ratio-nan", ("--whale-ratio", "nan"), 2,
     r"^govsim: error: --whale-ratio: nan is not a finite number$"),
    ("whale-ratio-1.7", ("--whale-ratio", "1.7"), 2,
     r"^govsim: error: --whale-ratio: 1\.7 is outside \[0, 1\]$"),
    ("update-fraction-inf", ("--rules", "v0.5", "--update-fraction", "inf"), 2,
     r"^govsim: error: --update-fraction: inf is not a finite number$"),
    ("quorum-nan", ("--rules", "v0.5", "--quorum", "nan"), 2,
     r"^govsim: error: --quorum: nan is not a finite number$"),
    ("agents-word", ("--agents", "many"), 2,
     r"^govsim: error: --agents: 'many' is not an integer$"),
    ("agents-over-the-limit", ("--agents", "50000001"), 2,
     r"^govsim: error: --agents: 50000001 is outside \[1, 50000000\]$"),
    ("network-over-the-edge-limit", ("--rules", "v0.4", "--agents", "1000000"), 2,
     r"^govsim: error: network: 1000000 agents at mean degree 2e\+05 means about 1e\+11 edges, "
     r"over the limit of 1\.1e\+09"),
    ("density-and-degree", ("--mean-degree", "4", "--network-density", "0.1"), 2,
     r"^govsim: error: --mean-degree: not allowed with --network-density \(give one\)$"),
    ("influence-model", ("--influence-model", "scale_free"), 2,
     r"^govsim: error: --influence-model: 'scale_free' is not one of erdos_renyi, small_world$"),
    ("rules", ("--rules", "v0.6"), 2,
     r"^govsim: error: --rules: 'v0\.6' is not one of v0\.4, v0\.5$"),
    ("agent-records", ("--agent-records", "csv"), 2,
     r"^govsim: error: --agent-records: 'csv' is not one of inline, parquet, none$"),
    ("unknown-flag", ("--bogus",), 2, r"^govsim: error: unrecognized arguments: --bogus$"),
    ("misspelt-flag", ("--whale-ratoi", "0.1"), 2,
     r"^govsim: error: unrecognized arguments: --whale-ratoi 0\.1; did you mean --whale-ratio\?$"),
    # outputs
    ("output-directory", ("--output", "{tmp}"), 2,
     r"^govsim: error: --output: '.*' is a directory; give a JSONL file to append to$"),
    ("output-unwritable", ("--output", "/proc/sys/runs.jsonl"), 2,
     r"^govsim: error: --output: cannot write '/proc/sys/runs\.jsonl': "),
    ("output-under-a-file", ("--output", "{tmp}/file/runs.jsonl"), 2,
     r"^govsim: error: --output: '.*/file/runs\.jsonl': '.*/file' is not a directory$"),
    ("parquet-without-output", ("--agent-records", "parquet"), 2,
     r"^govsim: error: --agent-records: parquet needs --output"),
]  # fmt: skip


def only_line(stderr: str) -> str:
    """The one non-empty line of ``stderr`` (the test fails on none, several or a traceback)."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize(("flags", "code", "line"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_flags_are_one_line(
    flags: tuple[str, ...],
    code: int,
    line: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "file").write_text("a file, not a directory\n")
    status = main([flag.format(tmp=tmp_path) for flag in flags])
    captured = capsys.readouterr()
    shown = only_line(captured.err)
    assert status == code, shown
    assert re.search(line, shown), shown
    assert captured.out == ""


# --- inputs that need a process of their own -----------------------------------------------------


def _memory_capped(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.mark.slow
def test_a_run_larger_than_the_memory_left_is_refused_up_front() -> None:
    """10^5 agents at the v0.4 default density is about 10^9 edges; under a 3 GB cap: one line."""
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "--agents", "100000", "--rules", "v0.4"],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: _memory_capped(3 << 30),
        check=False,
    )
    assert result.returncode == 2
    assert re.match(
        r"^govsim: error: parameters: 100000 agents at mean degree 2e\+04 \(about 1e\+09 edges\) "
        r"need about 64 GB of memory, and [\d.]+ GB is available; use fewer agents",
        only_line(result.stderr),
    ), result.stderr


@pytest.mark.slow
def test_ctrl_c_in_migrate_is_one_line_and_leaves_no_file(tmp_path: Path) -> None:
    old, new = tmp_path / "old.jsonl", tmp_path / "new.jsonl"
    old.write_bytes(LEGACY.read_bytes() * 2000)  # 6000 lines: seconds of work
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator.migrate", str(old), str(new)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    # The atomic writer's temporary file appears once migrating has begun.
    wait_until(lambda: any(tmp_path.glob(".new.jsonl*")), timeout=120, what="the temporary file")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert only_line(err) == f"migrate: interrupted; {new} was not written"
    assert out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.jsonl"]
