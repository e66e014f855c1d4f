"""What the v0.5 outcome responds to: docs/model.md, "What the outcome responds to".

Every cell runs ``runs`` runs (default 300) of rules v0.5 at N = 10^4 (calibration ``none``, mean
degree 10, the other parameters at their v0.5 defaults unless the cell sets them), with the same
seeds ``run_seed(20240611, i)`` in every cell, so two cells differ only by the parameter (common
random numbers: the differences between cells are sharper than each cell's standard error).

For each cell it prints:

* ``passed``: the final pass rate; ``changed``: the share of runs whose pass differs between the
  round-0 and the final votes, split into ``f->p`` (the cascade made a failing proposal pass)
  and ``p->f``;
* ``whales``: the share of runs whose final outcome is the round-0 stake majority of the voting
  whales (yes stake > no stake among them); ``top``: the share whose outcome is the round-0 vote
  of the largest voter; ``flip``: the share in which the largest voter's final vote differs
  from its round-0 vote;
* ``heads``: voters as a share of the agents; ``deg``: mean degree of the network among voters
  (the network the influence rounds run on: mean_degree (V - 1) / (N - 1) for Erdos-Renyi);
* ``flipped``: the share of the stake cast whose final vote differs from its round-0 vote, and
  ``yes0 -> yes``: the head-count share of voters voting yes, round 0 and final.

Tables: a grid of ``conformity_threshold`` x ``whale_ratio``, then one parameter at a time:
``proposal_favourability``, ``stake_tail``, ``update_fraction``, ``mean_degree``. Last, at the
defaults, the largest voter: how many voting neighbours it has (the network is rebuilt by
replaying the run's draws up to it), and how often the outcome changed with and without its flip.

Run: ``python -m bench.response [--agents N] [--runs K] [--quick]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.model import RunResult, simulate
from simulator.network import build_network
from simulator.outcome import tally
from simulator.params import ARCHETYPES, Archetype, RuleSet, SimParams
from simulator.population import draw_population, resolve_population
from simulator.proposal import draw_vetted_proposal
from simulator.seeding import make_rng, run_seed

BASE_SEED = 20240611
WHALE = ARCHETYPES.index(Archetype.WHALE)
GRID_CONFORMITY = (0.2, 0.4, 0.6, 0.8, 0.9)
GRID_WHALES = (0.01, 0.05, 0.15, 0.3)
ONE_AT_A_TIME: dict[str, tuple[float, ...]] = {
    "proposal_favourability": (0.5, 0.6, 0.75, 0.9, 0.96),
    "stake_tail": (0.5, 0.7, 0.85, 0.95),
    "update_fraction": (0.1, 0.5, 0.9),
    "mean_degree": (2, 5, 10, 20, 50),
}


@dataclass(frozen=True)
class Observation:
    """What one run tells about its outcome."""

    passed: bool
    changed_up: bool
    """Failed on round-0 votes, passed on final votes."""
    changed_down: bool
    whales_decide: bool
    top_decides: bool
    top_flipped: bool
    """The largest voter's final vote differs from its round-0 vote."""
    heads: float
    voter_degree: float
    flipped_stake: float
    yes_initial: float
    yes_final: float


def observe(r: RunResult) -> Observation:
    """The outcome of one run and what it agrees with."""
    voted = r.participated
    stake, first, final = r.agents.stake, r.initial_votes, r.influence.final_votes
    end, start = tally(r), tally(r, initial=True)
    whales = voted & (r.agents.archetype == WHALE)
    whale_yes = stake[whales & first].sum() > stake[whales & ~first].sum()
    voters = np.flatnonzero(voted)
    largest = voters[np.argmax(stake[voters])] if len(voters) else None
    n, v = len(stake), len(voters)
    cast = float(stake[voted].sum())
    return Observation(
        passed=end.passed,
        changed_up=end.passed and not start.passed,
        changed_down=start.passed and not end.passed,
        whales_decide=end.passed == bool(whale_yes and end.quorum_met),
        top_decides=largest is not None and end.passed == bool(first[largest] and end.quorum_met),
        top_flipped=largest is not None and bool(first[largest] != final[largest]),
        heads=v / n,
        voter_degree=r.params.expected_degree() * max(v - 1, 0) / (n - 1),
        flipped_stake=float(stake[voted & (first != final)].sum()) / cast if cast else 0.0,
        yes_initial=float(first[voted].mean()) if v else 0.0,
        yes_final=float(final[voted].mean()) if v else 0.0,
    )


def v05_params(n: int, **overrides: Any) -> SimParams:
    """Rules v0.5 at N = ``n``, mean degree 10, with ``overrides``."""
    return SimParams.model_validate(
        {"agents": n, "mean_degree": 10, "rules": RuleSet.V0_5} | overrides
    )


def cell(n: int, runs: int, **overrides: Any) -> str:
    """Run one cell and format its figures."""
    params = v05_params(n, **overrides)
    obs = [observe(simulate(params, run_seed(BASE_SEED, i))) for i in range(runs)]

    def share(name: str) -> float:
        return statistics.fmean(float(getattr(o, name)) for o in obs)

    up, down = share("changed_up"), share("changed_down")
    return (
        f"{share('passed'):6.1%}  {up + down:7.1%} {up:5.1%} {down:5.1%}  "
        f"{share('whales_decide'):6.1%} {share('top_decides'):6.1%} {share('top_flipped'):5.1%}  "
        f"{share('heads'):5.1%} {share('voter_degree'):5.2f}  {share('flipped_stake'):7.2%}  "
        f"{share('yes_initial'):5.1%} -> {share('yes_final'):5.1%}"
    )


COLUMNS = (
    f"{'passed':>6}  {'changed':>7} {'f->p':>5} {'p->f':>5}  {'whales':>6} {'top':>6} {'flip':>5}  "
    f"{'heads':>5} {'deg':>5}  {'flipped':>7}  {'yes0 -> yes':>14}"
)


def largest_voter_degree(r: RunResult) -> int:
    """Voting neighbours of the run's largest voter (replays the run's draws up to the network)."""
    rng = make_rng(r.seed)
    population = resolve_population(r.params)
    draw_vetted_proposal(rng, population.favourability)
    agents = draw_population(r.params, population, rng)
    adjacency = build_network(r.params, rng)
    assert np.array_equal(agents.stake, r.agents.stake)  # the replay is the run's
    voters = np.flatnonzero(r.participated)
    largest = voters[np.argmax(r.agents.stake[voters])]
    neighbours = adjacency.indices[adjacency.indptr[largest] : adjacency.indptr[largest + 1]]
    return int(r.participated[neighbours].sum())


def anatomy(n: int, runs: int) -> None:
    """At the defaults: the largest voter's voting neighbours, its flips, the changed outcomes."""
    params = v05_params(n)
    degrees, flipped, changed = [], [], []
    for i in range(runs):
        r = simulate(params, run_seed(BASE_SEED, i))
        o = observe(r)
        degrees.append(largest_voter_degree(r))
        flipped.append(o.top_flipped)
        changed.append(o.changed_up or o.changed_down)
    d, f, c = np.array(degrees), np.array(flipped), np.array(changed)
    groups = {"0": d == 0, "1": d == 1, "2": d == 2, "3+": d >= 3}
    print(f"\nthe largest voter at the defaults ({runs} runs), by its voting neighbours:")
    for name, group in groups.items():
        print(
            f"{name:>3}: {group.mean():4.0%} of runs; it flipped in {f[group].mean():5.1%} of them"
        )
    print(
        f"outcome changed in {c.mean():.1%} of runs: {np.mean(c & f):.1%} with the largest "
        f"voter's flip, {np.mean(c & ~f):.1%} without"
    )


def main(argv: list[str] | None = None) -> int:
    """Print the grid and the one-at-a-time tables."""
    parser = argparse.ArgumentParser(prog="python -m bench.response", description=__doc__)
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="N = 10^3, 50 runs")
    args = parser.parse_args(argv)
    n, runs = (1_000, 50) if args.quick else (args.agents, args.runs)
    np.seterr(all="raise")
    t0 = time.perf_counter()
    print(f"rules v0.5, calibration none, N = {n}, {runs} runs per cell (seeds shared by cells)")
    print(f"\n{'conformity_threshold':>20} {'whale_ratio':>11}  {COLUMNS}")
    for kappa in GRID_CONFORMITY:
        for whales in GRID_WHALES:
            figures = cell(n, runs, conformity_threshold=kappa, whale_ratio=whales)
            print(f"{kappa:>20} {whales:>11}  {figures}", flush=True)
    for name, values in ONE_AT_A_TIME.items():
        print(f"\n{name:>32}  {COLUMNS}")
        for value in values:
            print(f"{value:>32}  {cell(n, runs, **{name: value})}", flush=True)
    anatomy(n, runs)
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
