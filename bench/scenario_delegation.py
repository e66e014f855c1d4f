"""What the delegation scenario costs a large run: delegation on against off.

``python -m simulator`` with N = 10^6 agents, mean degree 10, rules v0.5 at their defaults and
``--agent-records none``, once without delegation and once per delegation case, each in a
subprocess of its own (interpreter start, imports, network, rounds and the record included),
alternating so that a change in the machine's load falls on every variant. Cases: preferential
and similarity delegation at ``--delegation-rate 0.5`` (half the holders delegate to the largest
1%), and preferential at rate 1 with overrides. Prints the best and median wall times, peak RSS and
the ratio on/off (best wall), then the time of the delegation step alone
(``simulator.delegation.delegate``, in this process, on one drawn population), and the load
average before and after: the machine may be shared, and a high load makes every number larger
and noisier.

Run: ``python -m bench.scenario_delegation [--agents N] [--repeats K]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.engine import timed

CASES: dict[str, list[str]] = {
    "off": [],
    "preferential, rate 0.5": ["--delegation-rate", "0.5"],
    "similarity, rate 0.5": ["--delegation-rate", "0.5", "--delegation-mode", "similarity"],
    "preferential, rate 1, override 0.5": [
        "--delegation-rate", "1", "--delegation-override", "0.5",
    ],
}  # fmt: skip


def _command(n: int, case: list[str], output: Path) -> list[str]:
    return [
        sys.executable, "-m", "simulator", "--agents", str(n), "--mean-degree", "10", *case,
        "--agent-records", "none", "--output", str(output),
    ]  # fmt: skip


def compare(n: int, repeats: int) -> dict[str, float]:
    """Time every case ``repeats`` times, alternating; print them; return the ratios to off."""
    load_before = os.getloadavg()
    walls: dict[str, list[float]] = {name: [] for name in CASES}
    rss = dict.fromkeys(CASES, 0)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.jsonl"
        for _ in range(repeats):
            for name, case in CASES.items():
                w, _, peak = timed(_command(n, case, out), 1)
                walls[name] += w
                rss[name] = max(rss[name], peak)
    load_after = os.getloadavg()
    best = {name: min(v) for name, v in walls.items()}
    print(
        f"govsim N={n:.0e}, mean degree 10, rules v0.5 defaults, --agent-records none; "
        f"{repeats} runs of each case, alternating (CLI subprocesses)"
    )
    ratios = {}
    for name in CASES:
        ratios[name] = best[name] / best["off"]
        print(
            f"  {name:36s} wall best {best[name]:.2f} s, median "
            f"{statistics.median(walls[name]):.2f} s; peak RSS {rss[name] / 2**20:.0f} MiB; "
            f"on/off {ratios[name]:.2f}x"
        )
    cores = os.cpu_count() or 1
    busy = max(load_before[0], load_after[0]) > cores / 2
    print(
        f"  load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f} on "
        f"{cores} cores{': a busy machine, times are inflated and noisy' if busy else ''}"
    )
    return ratios


def delegation_step(n: int, repeats: int) -> None:
    """Time ``delegate`` alone on one population of ``n`` agents, per mode."""
    from simulator.delegation import delegate
    from simulator.params import SimParams
    from simulator.population import (
        draw_population,
        participation_draws,
        population_utilities,
        resolve_population,
    )
    from simulator.proposal import draw_vetted_proposal
    from simulator.seeding import make_rng

    rng = make_rng(1)
    base = SimParams(agents=n, mean_degree=10)
    population = resolve_population(base)
    proposal = draw_vetted_proposal(rng, population.favourability)
    agents = draw_population(base, population, rng)
    draws = participation_draws(agents, rng)
    votes = population_utilities(agents, proposal) > 0.0
    for mode in ("preferential", "similarity"):
        params = SimParams(agents=n, mean_degree=10, delegation_rate=0.5, delegation_mode=mode)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            delegate(params, 1, agents, draws, votes)
            times.append(time.perf_counter() - t0)
        print(f"  delegate() alone, {mode}, rate 0.5: best {min(times) * 1000:.0f} ms")


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and time the delegation step."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.scenario_delegation", description=__doc__
    )
    parser.add_argument("--agents", type=int, default=1_000_000, help="N (default 10^6)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each case (3)")
    args = parser.parse_args(argv)
    compare(args.agents, args.repeats)
    delegation_step(args.agents, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
