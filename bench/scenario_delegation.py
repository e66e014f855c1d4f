"""What the delegation scenario costs a large run: delegation on against off.

``python -m simulator`` with N = 10^6 agents, mean degree 10, rules v0.5 at their defaults and
``--agent-records none``, once without delegation and once per delegation case, each in a
subprocess of its own (interpreter start, imports, network, rounds and the record included),
alternating so that a change in the machine's load falls on every variant. Cases: preferential
and similarity delegation at ``--delegation-rate 0.5`` (half the holders delegate to the largest
1%), and preferential at rate 1 with overrides. Prints the best and median wall times, peak RSS and
the ratios on/off (best wall, best CPU time: what a busy machine inflates least), then the
time of the delegation step alone
(``simulator.delegation.delegate``, in this process, on one drawn population), and the load
average before and after: the machine may be shared, and a high load makes every number larger
and noisier.

``--table`` prints instead the measured table of docs/model.md 11.2: how concentration, turnout,
the cascade and the outcome respond to the delegation parameters (N = 10^4 by default, the same
seeds in every cell, so cells differ only by their delegation).

Run: ``python -m bench.scenario_delegation [--agents N] [--repeats K]``, or
``python -m bench.scenario_delegation --table [--agents N] [--runs K]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from bench.engine import time_cli_cases

CASES: dict[str, list[str]] = {
    "off": [],
    "preferential, rate 0.5": ["--delegation-rate", "0.5"],
    "similarity, rate 0.5": ["--delegation-rate", "0.5", "--delegation-mode", "similarity"],
    "preferential, rate 1, override 0.5": [
        "--delegation-rate", "1", "--delegation-override", "0.5",
    ],
}  # fmt: skip


def compare(n: int, repeats: int) -> dict[str, float]:
    """Time every case ``repeats`` times, alternating; print them; return the ratios to off."""
    times = time_cli_cases(n, CASES, repeats)
    walls, cpus, rss = times.walls, times.cpus, times.rss
    best = {name: min(v) for name, v in walls.items()}
    print(
        f"govsim N={n:.0e}, mean degree 10, rules v0.5 defaults, --agent-records none; "
        f"{repeats} runs of each case, alternating (CLI subprocesses)"
    )
    ratios = {}
    cpu = {name: min(v) for name, v in cpus.items()}
    for name in CASES:
        ratios[name] = best[name] / best["off"]
        print(
            f"  {name:36s} wall best {best[name]:.2f} s, median "
            f"{statistics.median(walls[name]):.2f} s; CPU best {cpu[name]:.2f} s; peak RSS "
            f"{rss[name] / 2**20:.0f} MiB; on/off {ratios[name]:.2f}x wall, "
            f"{cpu[name] / cpu['off']:.2f}x CPU"
        )
    print(times.load_line())
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


TABLE_SEED = 20261207
GRID: tuple[dict[str, object], ...] = (
    *(
        {"delegation_rate": rate, "delegation_mode": mode}
        for mode in ("preferential", "similarity")
        for rate in (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)
    ),
    *({"delegation_rate": 0.5, "delegation_attachment": a} for a in (0.0, 2.0)),
    *({"delegation_rate": 0.5, "delegate_share": share} for share in (0.001, 0.05)),
    *({"delegation_rate": 0.5, "delegation_override": o} for o in (0.5, 1.0)),
    *({"delegation_rate": 1.0, "delegation_override": o} for o in (0.5, 1.0)),
)
"""Cells of the table: the rate in both modes, then one parameter at a time (rate 0.5 or 1)."""


def _cell(n: int, runs: int, setting: dict[str, object]) -> dict[str, float]:
    """Means over ``runs`` runs of one setting (seeds ``run_seed(TABLE_SEED, i)``)."""
    from simulator.concentration import power_profile
    from simulator.delegation import DelegationSummary
    from simulator.model import simulate
    from simulator.outcome import tally
    from simulator.params import SimParams
    from simulator.seeding import run_seed

    params = SimParams.model_validate({"agents": n, **setting})
    rows = []
    for i in range(runs):
        r = simulate(params, run_seed(TABLE_SEED, i))
        stake, voted = r.agents.stake, r.participated
        cast = power_profile(r.voting_power[voted])
        d = r.delegation
        alone = voted if d is None else d.participated_alone
        without = power_profile(stake[alone])
        summary = None if d is None else DelegationSummary.of(d, stake)
        final, first = tally(r), tally(r, initial=True)
        rows.append(
            [
                cast.top10_share,
                without.top10_share,
                cast.nakamoto,
                without.nakamoto,
                final.cast / final.total,
                float(stake[alone].sum()) / final.total,
                float(voted.mean()),
                0 if summary is None else summary.active_delegates,
                0 if summary is None else summary.overrides,
                float(r.influence.flip_count.sum()),
                float((r.influence.flip_count > 0).sum()),
                float(final.passed),
                float(final.passed != first.passed),
            ]
        )
    means = np.asarray(rows, dtype=np.float64).mean(axis=0)
    names = ("top10", "top10_wo", "nak", "nak_wo", "power", "power_wo", "voters", "active",
             "overrides", "flips", "flipped", "passed", "changed")  # fmt: skip
    return dict(zip(names, means.tolist(), strict=True))


def table(n: int, runs: int) -> None:
    """Print the measured table (Markdown) of docs/model.md 11.2."""
    print(
        f"N = {n}, {runs} runs a cell, seeds run_seed({TABLE_SEED}, i) in every cell; means over "
        "runs; 'without' = the same runs' holders each voting for itself"
    )
    print(
        "| setting | top-10 share cast (without) | Nakamoto (without) | power cast / total "
        "(without) | voters | active delegates | overrides | flips | agents flipped | passed "
        "| changed |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for setting in GRID:
        c = _cell(n, runs, setting)
        label = ", ".join(f"{k} {v}" for k, v in setting.items())
        print(
            f"| {label} | {c['top10']:.1%} ({c['top10_wo']:.1%}) | {c['nak']:.2f} "
            f"({c['nak_wo']:.2f}) | {c['power']:.1%} ({c['power_wo']:.1%}) | {c['voters']:.2%} | "
            f"{c['active']:.1f} | {c['overrides']:.1f} | {c['flips']:.1f} | {c['flipped']:.1f} | "
            f"{c['passed']:.1%} | {c['changed']:.1%} |",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and time the delegation step (or print the measured table)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.scenario_delegation", description=__doc__
    )
    parser.add_argument("--agents", type=int, default=1_000_000, help="N (default 10^6)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each case (3)")
    parser.add_argument("--table", action="store_true", help="print the measured table instead")
    parser.add_argument("--runs", type=int, default=300, help="--table: runs a cell (300)")
    args = parser.parse_args(argv)
    if args.table:
        table(args.agents if args.agents != 1_000_000 else 10_000, args.runs)
        return 0
    compare(args.agents, args.repeats)
    delegation_step(args.agents, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
