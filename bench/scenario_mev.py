"""What MEV-aware voting costs a large run: ``mev_share`` > 0 against the scenario switched off.

One process, N = 10^6 agents (rules v0.5 at their defaults, mean degree 10), the same seeds for
both variants, alternating so that a change in the machine's load falls on both: each repeat
simulates the run and builds its record (``record_fields``, per-agent records off) once with the
scenario off and once with ``mev_share`` 0.05, ``mev_value`` 1 (stake-targeted, log-normal). With
it on, a run also draws its extractors from the "mev" substream and runs the influence rounds a
second time for its honest counterfactual. Prints the best and median times, the ratio on/off,
the scenario's parts (extractor draws, the second influence phase) timed alone, and the load
average before and after: the machine may be shared.

Run: ``python -m bench.scenario_mev [--agents N] [--repeats K]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from datetime import UTC, datetime

from bench.engine import best_of
from simulator.mev import draw_extractable_value
from simulator.model import simulate
from simulator.params import AgentRecords, SimParams
from simulator.population import draw_population, population_utilities, resolve_population
from simulator.proposal import draw_vetted_proposal
from simulator.records.building import record_fields
from simulator.seeding import make_rng, run_seed

ON = {"mev_share": 0.05, "mev_value": 1.0}
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def one_run(params: SimParams, seed: int) -> float:
    """Wall time of one run and its record."""
    t0 = time.perf_counter()
    result = simulate(params, seed)
    record_fields(result, run_id=uuid.uuid4(), timestamp=WHEN, base_seed=1, run_index=0,
                  agent_records=AgentRecords.NONE)  # fmt: skip
    return time.perf_counter() - t0


def compare(n: int, repeats: int) -> float:
    """Time both variants ``repeats`` times each, alternating; print them; return the ratio."""
    load = os.getloadavg()
    off, on = SimParams(agents=n), SimParams(agents=n, **ON)
    walls: dict[str, list[float]] = {"off": [], "on": []}
    one_run(off, run_seed(7, repeats))  # warm-up: first calls, caches
    one_run(on, run_seed(7, repeats))
    for k in range(repeats):
        seed = run_seed(7, k)
        walls["off"].append(one_run(off, seed))
        walls["on"].append(one_run(on, seed))
    best = {key: min(v) for key, v in walls.items()}
    ratio = best["on"] / best["off"]
    print(f"MEV-aware voting, N={n:.0e}, rules v0.5 defaults, one process; {repeats} runs each")
    for key, label in (("off", "off (mev_share 0)"), ("on", f"on {ON}")):
        print(f"  {label:40s} best {best[key]:.2f} s, median {statistics.median(walls[key]):.2f} s")
    print(f"  ratio on/off (best) {ratio:.2f}x; median "
          f"{statistics.median(walls['on']) / statistics.median(walls['off']):.2f}x")  # fmt: skip
    _parts(on)
    print(f"  load average before {load[0]:.1f}, after {os.getloadavg()[0]:.1f}")
    return ratio


def _parts(params: SimParams) -> None:
    """The scenario's own work, timed alone: drawing the extractors and their values."""
    rng = make_rng(run_seed(7, 0))
    population = resolve_population(params)
    proposal = draw_vetted_proposal(rng, population.favourability)
    agents = draw_population(params, population, rng)
    utility = population_utilities(agents, proposal)
    t, ev = best_of(3, lambda: draw_extractable_value(params, agents.stake, utility, 1))
    print(f"  of which drawing {len(ev.extractors):,} extractors and their values: {t:.3f} s "
          "(the rest is the honest counterfactual's influence rounds)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.scenario_mev``."""
    parser = argparse.ArgumentParser(prog="python -m bench.scenario_mev")
    parser.add_argument("--agents", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    compare(args.agents, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
