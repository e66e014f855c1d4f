"""What a governance attack costs a large run: the attack scenario on against off.

One process runs ``simulate`` and builds the run record (no per-agent records) for N = 10^6
agents, mean degree 10, rules v0.5 at their defaults, once with the attack off and once under each
attack below, alternating variants over ``--repeats`` rounds so that a change in the machine's
load falls on all of them. An attack runs the influence rounds twice (without and with it, for
the counterfactual outcome), prices and sorts the holders that could be bought, and with sybils
draws their links and rebuilds the network with them. Prints each variant's best and median wall
time and best CPU time (this process's), its ratios to the attack off (best against best), and
the load average: on a shared machine wall times are inflated and noisy, and the CPU ratio is the
steadier figure.

Run: ``python -m bench.scenario_attack [--agents N] [--repeats K]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from datetime import UTC, datetime

from simulator.model import simulate
from simulator.params import AgentRecords, SimParams
from simulator.records.building import record_fields
from simulator.seeding import run_seed

VARIANTS: dict[str, dict[str, object]] = {
    "off": {},
    "budget 0.05": {"attack_target": "auto", "attack_budget": 0.05},
    "budget 1.0": {"attack_target": "auto", "attack_budget": 1.0},
    "borrowed 0.2": {"attack_target": "auto", "attack_borrowed_share": 0.2},
    "sybils 1% of N": {"attack_target": "auto", "attack_sybils": -1},  # -1: N / 100
    "all three": {
        "attack_target": "auto",
        "attack_budget": 0.05,
        "attack_borrowed_share": 0.2,
        "attack_sybils": -1,
    },
    "delegation 0.5": {"delegation_rate": 0.5},
    "budget 0.05, delegation 0.5": {
        "attack_target": "auto",
        "attack_budget": 0.05,
        "delegation_rate": 0.5,
    },
}


def run_once(params: SimParams, seed: int) -> tuple[float, float]:
    """Wall and CPU seconds of one simulation and its record."""
    t0, c0 = time.perf_counter(), time.process_time()
    result = simulate(params, seed)
    record_fields(
        result,
        run_id=uuid.uuid4(),
        timestamp=datetime.now(UTC),
        base_seed=0,
        run_index=0,
        agent_records=AgentRecords.NONE,
    )
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    """Time every variant and print the ratios to the attack off."""
    parser = argparse.ArgumentParser(prog="python -m bench.scenario_attack", description=__doc__)
    parser.add_argument("--agents", type=int, default=1_000_000, help="N (default 10^6)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of every variant (3)")
    args = parser.parse_args(argv)
    n = args.agents
    params = {}
    for name, fields in VARIANTS.items():
        values = {k: (n // 100 if v == -1 else v) for k, v in fields.items()}
        params[name] = SimParams.model_validate({"agents": n, "mean_degree": 10} | values)
    load_before = os.getloadavg()
    walls: dict[str, list[float]] = {name: [] for name in VARIANTS}
    cpus: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for k in range(args.repeats):
        seed = run_seed(2022, k)
        for name, p in params.items():
            wall, cpu = run_once(p, seed)
            walls[name].append(wall)
            cpus[name].append(cpu)
    load_after = os.getloadavg()
    off, off_cpu = min(walls["off"]), min(cpus["off"])
    print(
        f"simulate + record, N={n:.0e}, mean degree 10, rules v0.5 defaults, no per-agent "
        f"records; {args.repeats} rounds of every variant, alternating (one process)"
    )
    for name, times in walls.items():
        cpu = min(cpus[name])
        print(
            f"  {name:16s} wall best {min(times):.2f} s, median {statistics.median(times):.2f} s;"
            f" CPU best {cpu:.2f} s; ratio to off {min(times) / off:.2f}x wall, "
            f"{cpu / off_cpu:.2f}x CPU"
        )
    cores = os.cpu_count() or 1
    busy = max(load_before[0], load_after[0]) > cores / 2
    print(
        f"  load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f} on "
        f"{cores} cores{': a busy machine, times are inflated and noisy' if busy else ''}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
