"""The engine's hot paths against their baselines, measured in the same process run.

1. Full run as a user starts it: ``python -m simulator`` with N = 10^6 agents, mean degree 10,
   10 cascade rounds, ``--agent-records none``, under ``--rules v0.4`` and ``v0.5`` (its default
   schedule), in a subprocess: wall time (interpreter start, imports and network generation
   included) and peak RSS (``ru_maxrss`` of the child). Targets: <= 3 s and <= 1.5 GiB on a
   2-core machine (``--agents 10000000``: <= 15 s and <= 4 GiB). Beside it, in a subprocess of
   its own, a bare vectorized loop on the same machine: the same Erdos-Renyi network, then 10
   rounds of one sparse product and one threshold comparison; the ratio engine/bare says what
   the model's rules and bookkeeping cost over the kernel. One more run per rule set has a timer
   around each phase (population, network, influence rounds, record, ...) and prints each
   phase's own wall and CPU time and the peak RSS at its end.
2. Vectorized engine vs the plain-Python reference (:mod:`simulator.reference`) on the same agents
   and network: round-0 votes plus 10 influence rounds at N = 10^4 and 10^5 (target >= 100x at
   10^5). The two must agree flip for flip; the bench checks it.
3. :func:`simulator.cascade.threshold_cascade` vs NDlib's ThresholdModel (same graph, thresholds
   and initial adopters, 10 rounds) at N = 10^5, when ndlib is installed (``pip install -e
   '.[bench]'``).

Run: ``python -m bench.engine [--quick] [--agents N]`` (``--quick`` skips the reference at
10^5; ``--agents`` sets N of the full run, which alone runs when N is not 10^6).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from simulator.agents import draw_agents
from simulator.cascade import threshold_cascade
from simulator.model import initial_votes, run_influence
from simulator.network import build_network, erdos_renyi
from simulator.params import RuleSet, SimParams
from simulator.proposal import draw_proposal
from simulator.reference import reference_influence, reference_initial_votes, to_networkx
from simulator.seeding import make_rng

T = TypeVar("T")
GIB = 1024**3
ROUNDS = 10


def best_of(repeats: int, fn: Callable[[], T]) -> tuple[float, T]:
    """Smallest wall time of ``repeats`` calls, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    assert out is not None
    return min(times), out


_BARE_LOOP = """
import sys, numpy as np
from simulator.network import erdos_renyi
n, rounds = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(1)
a = erdos_renyi(n, 10 / (n - 1), rng=rng)
need = np.ceil(rng.random(n, dtype=np.float32) * np.diff(a.indptr))
votes = rng.random(n) < 0.5
for _ in range(rounds):
    votes = (a @ votes.astype(np.float32)) >= need
"""


_PHASES = """
import json, os, resource, sys, time
clock = [time.perf_counter(), sum(os.times()[:2])]
stack, spent = ["start-up"], {}


def charge():
    now, cpu = time.perf_counter(), sum(os.times()[:2])
    wall, used, _ = spent.get(stack[-1], (0.0, 0.0, 0))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    spent[stack[-1]] = (wall + now - clock[0], used + cpu - clock[1], peak)
    clock[:] = [now, cpu]


def timed(module, name, label):
    inner = getattr(module, name)

    def phase(*args, **kwargs):
        charge()
        stack.append(label)
        try:
            return inner(*args, **kwargs)
        finally:
            charge()
            stack.pop()

    setattr(module, name, phase)


import simulator.cli as cli
import simulator.model as model
import simulator.records.building as building

for name, label in [("draw_agents", "population"), ("draw_population", "population"),
                    ("build_network", "network"), ("draw_participation", "participation"),
                    ("utilities", "utilities"), ("population_utilities", "utilities"),
                    ("influence_among_voters", "influence rounds"),
                    ("induced_subgraph", "voter subgraph")]:
    timed(model, name, label)
timed(building, "build_record", "record")
timed(cli, "append_records", "record")
charge()
stack[-1] = "other"
status = cli.main(sys.argv[1:])
charge()
print(json.dumps(spent))
sys.exit(status)
"""
"""A CLI run in which each phase's own (exclusive) wall and CPU time and the peak RSS at its end
are recorded: the phase functions that ``simulate`` and the CLI call are wrapped with timers;
nothing else changes. Prints the phases as JSON."""


def timed(cmd: list[str], repeats: int) -> tuple[list[float], list[float], int]:
    """Wall and CPU times of ``repeats`` runs of ``cmd``, and the largest peak RSS (bytes)."""
    walls, cpus, rss = [], [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own resource usage
        walls.append(time.perf_counter() - t0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            raise subprocess.CalledProcessError(child.returncode, cmd)
        cpus.append(usage.ru_utime + usage.ru_stime)
        rss = max(rss, usage.ru_maxrss * 1024)  # KiB on Linux
    return walls, cpus, rss


@dataclass(frozen=True)
class CaseTimes:
    """``govsim`` runs of each case of a scenario benchmark, in rotation."""

    walls: dict[str, list[float]]
    cpus: dict[str, list[float]]
    rss: dict[str, int]
    load_before: float
    load_after: float

    def load_line(self) -> str:
        """The load average around the runs, flagged when the machine was busy."""
        cores = os.cpu_count() or 1
        busy = max(self.load_before, self.load_after) > cores / 2
        return (
            f"  load average (1 min) before {self.load_before:.2f}, after {self.load_after:.2f} "
            f"on {cores} cores{': a busy machine, times are inflated and noisy' if busy else ''}"
        )


def time_cli_cases(n: int, cases: dict[str, list[str]], repeats: int) -> CaseTimes:
    """Time ``govsim --agents n --mean-degree 10 CASE --agent-records none`` for every case,
    ``repeats`` times in rotation (so load drifts hit every case alike), in subprocesses."""
    load_before = os.getloadavg()[0]
    walls: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    rss = dict.fromkeys(cases, 0)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.jsonl"
        for _ in range(repeats):
            for name, case in cases.items():
                cmd = [
                    sys.executable, "-m", "simulator", "--agents", str(n), "--mean-degree",
                    "10", *case, "--agent-records", "none", "--output", str(out),
                ]  # fmt: skip
                w, c, peak = timed(cmd, 1)
                walls[name] += w
                cpus[name] += c
                rss[name] = max(rss[name], peak)
    return CaseTimes(walls, cpus, rss, load_before, os.getloadavg()[0])


def full_run(n: int = 1_000_000, repeats: int = 3) -> None:
    """CLI run in a subprocess per rule set: wall time and peak RSS against the targets."""
    big = n > 1_000_000
    target_s, target_b = (15.0, 4 * GIB) if big else (3.0, 1.5 * GIB)
    bare, bare_cpu, bare_rss = timed(
        [sys.executable, "-c", _BARE_LOOP, str(n), str(ROUNDS)], repeats
    )
    print(
        f"bare vectorized loop N={n:.0e} (ER network + {ROUNDS} sparse products): wall best "
        f"{min(bare):.2f} s, CPU best {min(bare_cpu):.2f} s, peak RSS {bare_rss / 2**20:.0f} MiB"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for rules in ("v0.4", "v0.5"):
            cmd = [
                sys.executable, "-m", "simulator", "--agents", str(n), "--mean-degree", "10",
                "--cascade-rounds", str(ROUNDS), "--agent-records", "none", "--rules", rules,
                "--output", str(Path(tmp) / "bench.jsonl"),
            ]  # fmt: skip
            walls, cpus, rss = timed(cmd, repeats)
            wall = min(walls)
            print(
                f"full run --rules {rules} N={n:.0e}, mean degree 10, {ROUNDS} rounds, agent "
                "records none (CLI subprocess)"
            )
            print(
                f"  wall   best {wall:.2f} s, median {statistics.median(walls):.2f} s of "
                f"{repeats}; CPU (user+sys) best {min(cpus):.2f} s; engine/bare "
                f"{wall / min(bare):.2f}x wall, {min(cpus) / min(bare_cpu):.2f}x CPU"
            )
            print(
                f"  target {target_s:.2f} s: ratio target/best {target_s / wall:.2f}x  "
                f"{'OK' if wall <= target_s else 'MISS'}"
            )
            print(
                f"  peak RSS {rss / 2**20:.0f} MiB; target "
                f"{target_b / 2**20:.0f} MiB: ratio {target_b / rss:.2f}x  "
                f"{'OK' if rss <= target_b else 'MISS'}"
            )
            phase_breakdown(cmd[3:])


def phase_breakdown(argv: list[str]) -> None:
    """One more CLI run with a timer around each phase: where the time and memory go."""
    out = subprocess.run(
        [sys.executable, "-c", _PHASES, *argv], capture_output=True, text=True, check=True
    )
    spent = json.loads(out.stdout.splitlines()[-1])
    print("  phases (one run; own time, wall / CPU, and peak RSS at the phase's end):")
    for label, (wall, cpu, peak) in spent.items():
        print(f"    {label:17s} {wall:6.2f} s {cpu:6.2f} s  {peak / 2**20:6.0f} MiB")


def engine_vs_reference(n: int, rules: RuleSet = RuleSet.V0_4) -> None:
    """Round-0 votes + 10 influence rounds: engine vs plain Python on the same inputs."""
    params = SimParams(agents=n, mean_degree=10, cascade_rounds=ROUNDS, rules=rules)
    rng = make_rng(7)
    proposal = draw_proposal(rng)
    agents = draw_agents(params, rng)
    adjacency = build_network(params, rng)
    graph = to_networkx(adjacency)

    def engine() -> tuple[np.ndarray, np.ndarray]:
        votes = initial_votes(agents, proposal)
        out = run_influence(
            adjacency, agents, votes, conformity_threshold=0.6, max_rounds=ROUNDS, check=False,
            rng=np.random.default_rng(11), rules=params.rules, schedule=params.schedule,
        )  # fmt: skip
        return out.final_votes, out.flips_per_round

    def reference() -> tuple[list[bool], list[int]]:
        votes = reference_initial_votes(agents, proposal)
        out = reference_influence(
            graph, agents, votes, conformity_threshold=0.6, max_rounds=ROUNDS,
            rng=np.random.default_rng(11), rules=params.rules, schedule=params.schedule,
        )  # fmt: skip
        return out.final_votes, out.flips_per_round

    t_engine, (votes, per_round) = best_of(5, engine)
    t_ref, (ref_votes, ref_per_round) = best_of(1, reference)
    same = votes.tolist() == ref_votes and per_round.tolist() == ref_per_round
    print(
        f"engine vs reference, rules {rules.value}, N={n:.0e}: engine {t_engine * 1e3:.1f} ms, "
        f"reference {t_ref:.2f} s, ratio {t_ref / t_engine:.0f}x "
        f"(flips per round {per_round.tolist()}, identical: {same})"
    )
    if not same:
        raise SystemExit("engine and reference disagree")


def cascade_vs_ndlib(n: int) -> None:
    """threshold_cascade vs NDlib ThresholdModel, 10 rounds on one ER graph."""
    try:
        import ndlib.models.ModelConfig as mc
        from ndlib.models.epidemics import ThresholdModel
    except ImportError:
        print("threshold_cascade vs NDlib: skipped (pip install -e '.[bench]' for ndlib)")
        return
    rng = np.random.default_rng(3)
    adjacency = erdos_renyi(n, 10 / (n - 1), rng=rng)
    thresholds = rng.uniform(0.05, 0.35, n)
    start = rng.random(n) < 0.01
    t_ours, ours = best_of(5, lambda: threshold_cascade(adjacency, thresholds, start, ROUNDS))
    t_bare, _ = best_of(
        5, lambda: threshold_cascade(adjacency, thresholds, start, ROUNDS, check=False)
    )

    graph = to_networkx(adjacency)
    model = ThresholdModel(graph, seed=0)
    config = mc.Configuration()
    config.add_model_initial_configuration("Infected", np.flatnonzero(start).tolist())
    for node, theta in enumerate(thresholds.tolist()):
        config.add_node_configuration("threshold", node, theta)
    model.set_initial_status(config)
    t0 = time.perf_counter()
    model.iteration_bunch(ROUNDS + 1, node_status=False)  # iteration 0 reports the start
    t_ndlib = time.perf_counter() - t0
    theirs = np.array([model.status[i] == 1 for i in range(n)])
    print(
        f"threshold_cascade vs NDlib ThresholdModel N={n:.0e}, {ROUNDS} rounds: ours "
        f"{t_ours * 1e3:.1f} ms with input checks ({t_bare * 1e3:.1f} ms without), NDlib "
        f"{t_ndlib:.2f} s, ratio {t_ndlib / t_ours:.0f}x ({t_ndlib / t_bare:.0f}x) "
        f"(new per round {ours.new_per_round.tolist()}, same final state: "
        f"{bool(np.array_equal(ours.active, theirs))})"
    )


def main(argv: list[str] | None = None) -> int:
    """Run every engine benchmark and print its ratio."""
    parser = argparse.ArgumentParser(prog="python -m bench.engine", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the reference at N=10^5")
    parser.add_argument("--agents", type=int, default=1_000_000, help="N of the full run")
    args = parser.parse_args(argv)
    full_run(args.agents, repeats=3 if args.agents <= 1_000_000 else 1)
    if args.agents != 1_000_000:
        return 0
    engine_vs_reference(10_000)
    engine_vs_reference(10_000, RuleSet.V0_5)
    if not args.quick:
        engine_vs_reference(100_000)
    cascade_vs_ndlib(100_000)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
