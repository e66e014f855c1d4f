"""What cascade trees cost: a traced run with and without its tree analysis, and the vectorized
tree builder against the networkx reference.

1. One process, N = 10^6 agents, mean degree 10, the same seeds, alternating: each repeat
   simulates the run and builds its record (per-agent records off) without a trace (the agent
   traces scenario off) and with one (``simulate(..., trace=True)``: the flip trace, its cascade
   forest and the record's ``trace_stats``; writing the Parquet file is ``bench.traces``' part).
   Prints best and median times and the ratio on/off, for ``--rules v0.5`` at its defaults (a
   short trace) and for ``--rules v0.4 --cascade-rounds 10`` (everyone votes; over 10^5 flips).
2. On the trace of the first run of each case: :func:`simulator.cascade_tree.cascade_forest`
   against :func:`simulator.reference.reference_cascade_forest` (a Python loop over events and
   neighbours on a ``networkx`` graph of the flipping agents' edges, built outside the timer).
   The two must agree; the bench checks it.

Run: ``python -m bench.scenario_traces [--agents N] [--repeats K]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from datetime import UTC, datetime

import networkx as nx
import numpy as np
from scipy import sparse

from bench.engine import best_of
from simulator.agents import draw_agents
from simulator.cascade_tree import cascade_forest
from simulator.model import RunResult, simulate
from simulator.network import build_network
from simulator.params import AgentRecords, RuleSet, SimParams
from simulator.population import draw_population, resolve_population
from simulator.proposal import draw_proposal, draw_vetted_proposal
from simulator.records.building import record_fields
from simulator.reference import reference_cascade_forest
from simulator.seeding import make_rng, run_seed

WHEN = datetime(2026, 1, 1, tzinfo=UTC)
CASES = {
    "--rules v0.5 (defaults)": {"rules": "v0.5"},
    "--rules v0.4 --cascade-rounds 10": {"rules": "v0.4", "cascade_rounds": 10},
}


def one_run(params: SimParams, seed: int, trace: bool) -> tuple[float, RunResult]:
    """Wall time of one run and its record, and the run."""
    t0 = time.perf_counter()
    result = simulate(params, seed, trace=trace)
    record_fields(result, run_id=uuid.uuid4(), timestamp=WHEN, base_seed=1, run_index=0,
                  agent_records=AgentRecords.NONE)  # fmt: skip
    return time.perf_counter() - t0, result


def compare(n: int, repeats: int, name: str, case: dict[str, object]) -> None:
    """Both variants ``repeats`` times, alternating; then the builder against the reference."""
    params = SimParams.model_validate({"agents": n, "mean_degree": 10} | case)
    walls: dict[bool, list[float]] = {False: [], True: []}
    traced: RunResult | None = None
    one_run(params, run_seed(7, repeats), False)  # warm-up: first calls, caches
    one_run(params, run_seed(7, repeats), True)
    for k in range(repeats):
        seed = run_seed(7, k)
        walls[False].append(one_run(params, seed, False)[0])
        wall, result = one_run(params, seed, True)
        walls[True].append(wall)
        traced = traced or result
    assert traced is not None and traced.influence.trace is not None
    best = {key: min(v) for key, v in walls.items()}
    print(f"agent traces, N={n:.0e}, mean degree 10, {name}; {repeats} runs each, one process")
    for key, label in ((False, "off (no trace)"), (True, "on (trace, trees, trace_stats)")):
        print(f"  {label:32s} best {best[key]:.2f} s, median {statistics.median(walls[key]):.2f} s")
    print(f"  ratio on/off (best) {best[True] / best[False]:.2f}x; median "
          f"{statistics.median(walls[True]) / statistics.median(walls[False]):.2f}x")  # fmt: skip
    _builder_vs_reference(params, run_seed(7, 0), traced)


def _builder_vs_reference(params: SimParams, seed: int, result: RunResult) -> None:
    trace = result.influence.trace
    assert trace is not None
    adjacency = _network(params, seed)
    fast, forest = best_of(3, lambda: cascade_forest(trace, adjacency, result.agents))
    graph = nx.Graph()
    rows = adjacency[np.unique(trace.agent)]
    owners = np.repeat(np.unique(trace.agent), np.diff(rows.indptr))
    graph.add_edges_from(zip(owners.tolist(), rows.indices.tolist(), strict=True))
    t0 = time.perf_counter()
    slow = reference_cascade_forest(graph, trace, result.agents)
    reference = time.perf_counter() - t0
    same = all(
        np.array_equal(getattr(forest, k), getattr(slow, k))
        for k in ("parent", "candidates", "root", "depth", "whale_driven")
    ) and np.allclose(forest.influence, slow.influence)
    print(
        f"  tree builder on its {len(trace):,} flips ({len(forest.roots):,} trees): vectorized "
        f"{fast * 1e3:.1f} ms, networkx reference {reference:.2f} s, "
        f"{reference / fast:.0f}x; {'same forest' if same else 'FORESTS DIFFER'}"
    )
    if not same:
        raise SystemExit("bench.scenario_traces: the vectorized forest differs from the reference")


def _network(params: SimParams, seed: int) -> sparse.csr_array:
    """The run's network, drawn again from its generator (the engine does not keep it)."""
    rng = make_rng(seed)
    if params.rules is RuleSet.V0_5:
        population = resolve_population(params)
        draw_vetted_proposal(rng, population.favourability)
        draw_population(params, population, rng)
    else:
        draw_proposal(rng)
        draw_agents(params, rng)
    return build_network(params, rng)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.scenario_traces``."""
    parser = argparse.ArgumentParser(prog="python -m bench.scenario_traces")
    parser.add_argument("--agents", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    load = os.getloadavg()
    for name, case in CASES.items():
        compare(args.agents, args.repeats, name, case)
    print(f"load average before {load[0]:.1f}, after {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
