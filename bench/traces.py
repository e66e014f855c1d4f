"""What flip traces cost a large run: ``--traces parquet`` against ``--traces none``.

``python -m simulator`` with N = 10^6 agents, mean degree 10 and ``--agent-records none``, once
without and once with ``--traces parquet``, each in a subprocess of its own (interpreter start,
imports, network generation and the record written included), alternating so that a change in the
machine's load falls on both. Two cases: ``--rules v0.5`` at its defaults (random_fraction, run
until the cascade converges; about an eighth of the agents vote, so the trace is short), and, as a
heavy trace, ``--rules v0.4 --cascade-rounds 10`` (everyone votes; over 10^5 flips).
Prints the best and median wall times, peak RSS, the ratio traced/untraced (target <= 2x) and the
size of the traces, and the load average before and after: the machine may be shared, and a high
load makes every number larger and noisier.

Run: ``python -m bench.traces [--agents N] [--repeats K]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench.engine import timed

TARGET_RATIO = 2.0
CASES = {
    "--rules v0.5 (random_fraction, to convergence)": ["--rules", "v0.5"],
    "--rules v0.4 --cascade-rounds 10": ["--rules", "v0.4", "--cascade-rounds", "10"],
}


def _command(n: int, case: list[str], traces: str, output: Path) -> list[str]:
    return [
        sys.executable, "-m", "simulator", "--agents", str(n), "--mean-degree", "10", *case,
        "--agent-records", "none", "--traces", traces, "--output", str(output),
    ]  # fmt: skip


def compare(n: int, repeats: int, name: str, case: list[str]) -> float:
    """Time both variants ``repeats`` times each, alternating; print them; return the ratio."""
    load_before = os.getloadavg()
    walls: dict[str, list[float]] = {"none": [], "parquet": []}
    rss: dict[str, int] = {"none": 0, "parquet": 0}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.jsonl"
        for _ in range(repeats):
            for traces in ("none", "parquet"):
                w, _, peak = timed(_command(n, case, traces, out), 1)
                walls[traces] += w
                rss[traces] = max(rss[traces], peak)
        records = [json.loads(line) for line in out.read_text().splitlines()]
        traced = [r for r in records if r["traces"] is not None]
        rows = [r["traces"]["count"] for r in traced]
        sizes = [(Path(tmp) / r["traces"]["path"]).stat().st_size for r in traced]
        rounds = [r["cascade_rounds"] for r in traced]
    load_after = os.getloadavg()
    best = {k: min(v) for k, v in walls.items()}
    ratio = best["parquet"] / best["none"]
    print(
        f"govsim N={n:.0e}, mean degree 10, {name}, --agent-records none; {repeats} runs each, "
        "alternating (CLI subprocesses)"
    )
    for traces in ("none", "parquet"):
        print(
            f"  --traces {traces:7s} wall best {best[traces]:.2f} s, median "
            f"{statistics.median(walls[traces]):.2f} s; peak RSS {rss[traces] / 2**20:.0f} MiB"
        )
    print(
        f"  trace: {statistics.median(rows):,.0f} rows (flip events) in "
        f"{statistics.median(rounds):.0f} rounds, {statistics.median(sizes) / 1024:,.0f} KiB "
        "of Parquet per run (medians)"
    )
    print(
        f"  ratio traced/untraced (best wall) {ratio:.2f}x; median "
        f"{statistics.median(walls['parquet']) / statistics.median(walls['none']):.2f}x; target "
        f"<= {TARGET_RATIO:.1f}x  {'OK' if ratio <= TARGET_RATIO else 'MISS'}"
    )
    cores = os.cpu_count() or 1
    busy = max(load_before[0], load_after[0]) > cores / 2
    print(
        f"  load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f} on "
        f"{cores} cores{': a busy machine, times are inflated and noisy' if busy else ''}"
    )
    return ratio


def main(argv: list[str] | None = None) -> int:
    """Run the comparison (it prints OK or MISS against the target)."""
    parser = argparse.ArgumentParser(prog="python -m bench.traces", description=__doc__)
    parser.add_argument("--agents", type=int, default=1_000_000, help="N (default 10^6)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each variant (3)")
    args = parser.parse_args(argv)
    for name, case in CASES.items():
        compare(args.agents, args.repeats, name, case)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
