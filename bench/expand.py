"""Expanding a 10^6-run sweep lazily vs materialising it: time, peak memory, first-task latency.

The lazy side is what a worker does: ``SweepPlan.iter_runs`` builds each ``RunSpec`` (validated
``SimParams`` and its SeedSequence seed) on demand and keeps none. The baseline is the obvious
eager expansion: ``itertools.product`` over the grid axes into a list of per-run dicts carrying the
same seeds (it skips the SimParams validation the lazy side pays for). Memory is the tracemalloc
peak of a separate pass, so tracing does not distort the timings.

Run: ``python -m bench.expand [--runs N]``.
"""

from __future__ import annotations

import argparse
import itertools
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from simulator.seeding import run_seed
from sweep_controller.spec.expand import SweepPlan
from sweep_controller.spec.loading import parse_sweep
from sweep_controller.spec.models import Sweep
from sweep_controller.spec.parameters import PARAM_KINDS, grid_value

REPLICATES = 10


def bench_sweep(runs: int, order: str = "sequential") -> Sweep:
    """A three-parameter grid with ``runs`` runs (10 replicates; ``runs`` divisible by 1000)."""
    points = max(1, runs // REPLICATES)
    return parse_sweep(
        {
            "apiVersion": "govsim.io/v1alpha1",
            "kind": "Sweep",
            "metadata": {"name": "bench-expand"},
            "spec": {
                "simulator": {"agents": 500, "influence_model": "small_world"},
                "parameters": {
                    "whale_ratio": {"min": 0.0, "max": 0.5, "steps": 10},
                    "conformity_threshold": {"min": 0.2, "max": 0.9, "steps": 10},
                    "mean_degree": {"min": 2, "max": 64, "steps": max(1, points // 100)},
                },
                "replicates": REPLICATES,
                "seed": 42,
                "runsPerTask": 100,
                "order": order,
            },
        },
        "bench",
    )


def lazy(sweep: Sweep) -> int:
    """Walk every run as a worker would, keeping none."""
    count = 0
    for _ in SweepPlan(sweep).iter_runs():
        count += 1
    return count


def eager(sweep: Sweep) -> list[dict[str, Any]]:
    """The baseline: every run materialised as a dict (product of axes, replicates, seeds)."""
    spec = sweep.spec
    names = list(spec.parameters)
    axes = [
        [grid_value(p, k, PARAM_KINDS[n]) for k in range(p.grid_length() or 0)]
        for n, p in spec.parameters.items()
    ]
    combos = itertools.product(itertools.product(*axes), range(spec.replicates))
    return [
        {**dict(zip(names, combo, strict=True)), "replicate": r, "seed": run_seed(spec.seed, i)}
        for i, (combo, r) in enumerate(combos)
    ]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def peak_bytes(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> None:
    """Print time, peak memory and first-task latency, lazy vs eager, with ratios."""
    parser = argparse.ArgumentParser(prog="python -m bench.expand", description=__doc__)
    parser.add_argument("--runs", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    sweep = bench_sweep(args.runs)
    n = sweep.spec.n_runs
    print(f"expand: {n} runs ({sweep.spec.n_points} points x {REPLICATES} replicates)")

    t_lazy, t_eager = timed(lambda: lazy(sweep)), timed(lambda: eager(sweep))
    m_lazy, m_eager = peak_bytes(lambda: lazy(sweep)), peak_bytes(lambda: eager(sweep))
    shuffled = bench_sweep(args.runs, order="shuffled")
    t_shuffled = timed(lambda: lazy(shuffled))
    plan = SweepPlan(sweep)
    last = plan.n_tasks - 1
    t_task = timed(lambda: SweepPlan(sweep).task_runs(last))

    print(f"  lazy  iter_runs (sequential): {t_lazy:7.2f} s  {t_lazy / n * 1e6:6.2f} us/run")
    print(
        f"  lazy  iter_runs (shuffled):   {t_shuffled:7.2f} s  {t_shuffled / n * 1e6:6.2f} us/run"
    )
    print(f"  eager product list (baseline):{t_eager:7.2f} s  {t_eager / n * 1e6:6.2f} us/run")
    print(f"  time ratio lazy/eager: {t_lazy / t_eager:.2f}x")
    print(f"  peak memory lazy:  {m_lazy / 2**20:9.2f} MiB")
    print(f"  peak memory eager: {m_eager / 2**20:9.2f} MiB")
    print(f"  memory ratio eager/lazy: {m_eager / max(m_lazy, 1):.0f}x")
    print(
        f"  last task ({plan.runs_per_task} runs) from scratch: lazy {t_task * 1e3:.2f} ms, "
        f"eager needs the whole list: {t_eager * 1e3:.0f} ms "
        f"(ratio {t_eager / t_task:.0f}x)"
    )


if __name__ == "__main__":
    main()
