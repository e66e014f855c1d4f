"""examples/plot_pass_rate.py redraws the report's pass-rate panel from a finished sweep's results.

The example is run as its docstring says (``python examples/plot_pass_rate.py SPEC OUT``) on a
small grid sweep, after ``sweepctl run``; the pass rates it prints must be those of the results
table ``sweepctl collect`` writes, and it must write a PNG.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from kit.cli import sweepctl
from kit.paths import REPO
from kit.specs import write_spec

EXAMPLE = REPO / "examples" / "plot_pass_rate.py"
LINE = re.compile(
    r"^whale_ratio=(\S+) conformity_threshold=(\S+) pass rate (\S+) \[(\S+), (\S+)\] n=(\d+)$"
)


def test_example_prints_the_pass_rates_of_the_results_table_and_draws_them(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path / "sweep.yaml",
        {
            "apiVersion": "govsim.io/v1alpha1",
            "kind": "Sweep",
            "metadata": {"name": "pass-rate"},
            "spec": {
                "simulator": {"agents": 60},
                "parameters": {
                    "whale_ratio": {"values": [0.02, 0.3]},
                    "conformity_threshold": {"values": [0.3, 0.9]},
                },
                "method": "grid",
                "replicates": 12,
                "seed": 5,
                "runsPerTask": 12,
                "output": {"uri": "file://results"},
            },
        },
    )
    out = tmp_path / "pass_rate.png"
    early = _example(spec, out, tmp_path)  # before the sweep ran: one line, no figure
    assert early.returncode == 1
    assert early.stderr.count("\n") == 1 and "run `sweepctl run`" in early.stderr, early.stderr
    assert not out.exists()

    assert sweepctl("run", spec, "--workers", "1", cwd=tmp_path).returncode == 0
    table = tmp_path / "runs.csv"
    assert sweepctl("collect", spec, "--out", table, cwd=tmp_path).returncode == 0
    passed: dict[tuple[float, float], list[bool]] = defaultdict(list)
    with table.open() as f:
        for row in csv.DictReader(f):
            key = (float(row["whale_ratio"]), float(row["conformity_threshold"]))
            passed[key].append(row["passed"].lower() == "true")

    done = _example(spec, out, tmp_path)
    assert done.returncode == 0, done.stderr
    printed = {}
    for line in done.stdout.splitlines():
        m = LINE.match(line)
        assert m, line
        x, group, rate, low, high, n = m.groups()
        printed[(float(x), float(group))] = (float(rate), float(low), float(high), int(n))
    assert printed.keys() == passed.keys()
    for key, (rate, low, high, n) in printed.items():
        runs = passed[key]
        assert n == len(runs) == 12
        assert abs(rate - sum(runs) / n) < 1e-4
        assert low <= rate <= high
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _example(spec: Path, out: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE), str(spec), str(out)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
