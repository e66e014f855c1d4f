"""What whale coalitions cost a large run: ``govsim`` with coalitions on against off.

``python -m simulator`` with N = 10^6 agents, mean degree 10, rules v0.5 at its defaults and
``--agent-records none``, once with coalitions off and once per coalition setting, each in a
subprocess of its own (interpreter start, imports, network, influence rounds and the record
included), in rotation so that a change in the machine's load falls on every variant. Settings:
blocs of 10 whales (stake majority), one bloc of every whale (no size limit), pairs led by their
largest member, and blocs of 10 that never revise their round-0 vote. Prints the best and median
wall and CPU times, peak RSS, and each setting's ratio to the run without coalitions (best wall
and best CPU), then the load average: the machine may be shared, and a high load makes every
number larger and noisier.

Run: ``python -m bench.scenario_coalitions [--agents N] [--repeats K]``.
"""

from __future__ import annotations

import argparse
import statistics

from bench.engine import time_cli_cases

CASES: dict[str, list[str]] = {
    "off": [],
    "stake_majority, size 10": ["--coalition-rule", "stake_majority", "--coalition-size", "10"],
    "stake_majority, no size limit": ["--coalition-rule", "stake_majority"],
    "leader, size 2": ["--coalition-rule", "leader", "--coalition-size", "2"],
    "stake_majority, size 10, never revised": [
        "--coalition-rule", "stake_majority", "--coalition-size", "10",
        "--coalition-revision", "never",
    ],
}  # fmt: skip


def compare(n: int, repeats: int) -> dict[str, float]:
    """Time every case ``repeats`` times, in rotation; print them; return each wall ratio."""
    times = time_cli_cases(n, CASES, repeats)
    walls, cpus, rss = times.walls, times.cpus, times.rss
    print(
        f"govsim N={n:.0e}, mean degree 10, rules v0.5 defaults, --agent-records none; "
        f"{repeats} runs of each case, in rotation (CLI subprocesses)"
    )
    base_wall, base_cpu = min(walls["off"]), min(cpus["off"])
    ratios = {}
    for name in CASES:
        ratios[name] = min(walls[name]) / base_wall
        print(
            f"  {name:40s} wall best {min(walls[name]):.2f} s (median "
            f"{statistics.median(walls[name]):.2f} s), CPU best {min(cpus[name]):.2f} s, peak RSS "
            f"{rss[name] / 2**20:.0f} MiB; on/off: wall {ratios[name]:.2f}x, CPU "
            f"{min(cpus[name]) / base_cpu:.2f}x"
        )
    print(times.load_line())
    return ratios


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print the ratios."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.scenario_coalitions", description=__doc__
    )
    parser.add_argument("--agents", type=int, default=1_000_000, help="N (default 10^6)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each case (3)")
    args = parser.parse_args(argv)
    compare(args.agents, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
