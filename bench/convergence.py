"""How the cascade ends under each rule set: the convergence table of docs/model.md, section 6.

For each configuration, ``runs`` runs at default parameters (plus the configuration's overrides)
on an Erdos-Renyi network of mean degree 10, seeds ``run_seed(1, i)``:

* how the runs ended (converged, cycle, round cap) and the share that converged;
* rounds to converge (the last round that changed a vote): median, 90th percentile, maximum;
* tail flip rate: flips per round in rounds 6-10 divided by N (a round not run counts 0), and
  the flips of the last round run divided by N;
* how often the influence rounds change the outcome: the pass on round-0 votes against the pass
  on final votes (``simulator.outcome.tally``: under v0.5 over the votes cast, with the quorum).

Run: ``python -m bench.convergence [--agents N] [--runs K] [--configs NAME ...]``. Defaults are
small enough for ``python -m bench``; the documented table used ``--agents 100000 --runs 200``
and ``--agents 1000000 --runs 30``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from simulator.model import Ending, simulate
from simulator.outcome import tally
from simulator.params import SimParams
from simulator.seeding import run_seed

CONFIGS: dict[str, dict[str, Any]] = {
    "v0.5": {"rules": "v0.5"},
    "v0.5-synchronous": {"rules": "v0.5", "schedule": "synchronous"},
    "v0.4-cap100": {"rules": "v0.4", "cascade_rounds": 100},
    "v0.4": {"rules": "v0.4"},
}
TAIL = slice(5, 10)  # rounds 6..10


def measure(name: str, n: int, runs: int) -> None:
    """Run one configuration ``runs`` times and print its row."""
    params = SimParams(agents=n, mean_degree=10, **CONFIGS[name])
    ends: dict[str, int] = {}
    settled, tail, last, changed = [], [], [], 0
    t0 = time.perf_counter()
    for i in range(runs):
        r = simulate(params, run_seed(1, i))
        f = r.influence
        ends[f.ending.value] = ends.get(f.ending.value, 0) + 1
        if f.converged_round is not None:
            settled.append(f.converged_round)
        window = np.zeros(10, dtype=np.int64)
        head = f.flips_per_round[:10]
        window[: len(head)] = head
        tail.append(window[TAIL].mean() / n)
        last.append(f.flips_per_round[-1] / n if f.rounds_run else 0.0)
        changed += int(tally(r, initial=True).passed != tally(r).passed)
    converged = ends.get(Ending.CONVERGED.value, 0)
    rounds = (
        f"median {np.median(settled):.0f}, p90 {np.percentile(settled, 90):.0f}, max {max(settled)}"
        if settled
        else "-"
    )
    print(
        f"{name:17s} N={n:.0e} runs={runs} cap={params.cascade_rounds} "
        f"schedule={params.schedule.value}: ends {ends}; converged {converged / runs:.1%}; "
        f"rounds to converge {rounds}; tail flips/N rounds 6-10 mean {np.mean(tail):.2e} "
        f"max {np.max(tail):.2e}; last round flips/N mean {np.mean(last):.2e}; "
        f"outcome changed {changed}/{runs} ({changed / runs:.1%}); "
        f"{time.perf_counter() - t0:.0f} s",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Print one row per configuration."""
    parser = argparse.ArgumentParser(prog="python -m bench.convergence", description=__doc__)
    parser.add_argument("--agents", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=list(CONFIGS))
    args = parser.parse_args(argv)
    for name in args.configs:
        measure(name, args.agents, args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
