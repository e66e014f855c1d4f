"""The local runner against a plain loop over the engine: 2,000 default-size runs (50 agents).

Baseline: the same 2,000 runs (same parameters and seeds, from ``SweepPlan.iter_runs``) in a plain
loop in this process: ``simulate`` only ("engine loop"), and ``simulate`` plus ``record_fields``
and JSON serialisation ("record loop"). The runner does everything a sweep needs on top: validation
of every record, sha256, atomic file writes, manifests, per-task metrics, the process pool and the
progress counter. Its cost per core is ``runner wall x workers / engine-loop wall``; the target is
at most 1.5. That wall-clock figure assumes the workers have their cores to themselves; on a
machine shared with other work it is pessimistic, so the CPU time the runner and its pool used
(``getrusage``) is printed against the loop's CPU time as well, and with more than one worker the
same engine loop split over that many processes shows how the machine itself scales (shared caches
and memory bandwidth). The verdict uses the per-core wall ratio against the one-process loop, as
the target is stated. Each measurement is the best of ``--repeats``, into a fresh output directory.

Run: ``python -m bench.runner [--runs 2000] [--workers N] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import multiprocessing
import resource
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from pydantic_core import to_json

from simulator.model import simulate
from simulator.params import AgentRecords
from simulator.records.building import record_fields, utc_now
from sweep_controller.execution.pool import default_workers
from sweep_controller.execution.runner import run_sweep
from sweep_controller.spec.expand import SweepPlan
from sweep_controller.spec.loading import parse_sweep
from sweep_controller.spec.models import Sweep

TARGET = 1.5
RUNS_PER_TASK = 100


def bench_sweep(runs: int, output: Path) -> Sweep:
    """A 4 x 5 grid of default-size runs (50 agents) with ``runs / 20`` replicates."""
    return parse_sweep(
        {
            "apiVersion": "govsim.io/v1alpha1",
            "kind": "Sweep",
            "metadata": {"name": "bench-runner"},
            "spec": {
                "parameters": {
                    "whale_ratio": {"values": [0.05, 0.15, 0.3, 0.5]},
                    "conformity_threshold": {"min": 0.3, "max": 0.9, "steps": 5},
                },
                "replicates": max(1, runs // 20),
                "seed": 42,
                "runsPerTask": RUNS_PER_TASK,
                "output": {"uri": f"file://{output}"},
            },
        },
        "bench",
    )


def engine_loop(sweep: Sweep) -> int:
    """``simulate`` for every run, in one process; returns the run count."""
    count = 0
    for spec in SweepPlan(sweep).iter_runs():
        simulate(spec.params, spec.seed)
        count += 1
    return count


def _loop_slice(sweep: Sweep, start: int, step: int) -> None:
    for spec in itertools.islice(SweepPlan(sweep).iter_runs(), start, None, step):
        simulate(spec.params, spec.seed)


def parallel_engine_loop(sweep: Sweep, processes: int) -> None:
    """The engine loop split over ``processes`` forked processes: what the cores give without us."""
    context = multiprocessing.get_context("fork")
    children = [
        context.Process(target=_loop_slice, args=(sweep, i, processes)) for i in range(processes)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join()
        if child.exitcode:
            raise SystemExit(f"bench: a loop process failed with exit code {child.exitcode}")


def record_loop(sweep: Sweep) -> int:
    """``simulate`` + ``record_fields`` + JSON for every run; returns the bytes produced."""
    plan = SweepPlan(sweep)
    size = 0
    for spec in plan.iter_runs():
        fields = record_fields(
            simulate(spec.params, spec.seed),
            run_id=uuid.uuid4(),
            timestamp=utc_now(),
            base_seed=plan.seed,
            run_index=spec.run_index,
            agent_records=AgentRecords.NONE,
        )
        size += len(to_json(fields, by_alias=True))
    return size


def cpu_seconds() -> float:
    """User + system CPU time of this process and its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of one call."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    fn()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def best(repeats: int, fn: Callable[[], object]) -> tuple[float, float]:
    """Smallest wall time and smallest CPU time of ``repeats`` calls."""
    walls, cpus = zip(*(timed(fn) for _ in range(repeats)), strict=True)
    return min(walls), min(cpus)


def runner_once(runs: int, workers: int, root: Path) -> None:
    """``run_sweep`` into a fresh directory; exits if it did not finish."""
    sweep = bench_sweep(runs, root / uuid.uuid4().hex)
    summary = run_sweep(sweep, workers=workers, progress=False, handle_signals=False)
    if summary.exit_code or summary.runs_done != sweep.spec.n_runs:
        raise SystemExit(f"bench: the runner did not finish: {summary}")


def main(argv: list[str] | None = None) -> int:
    """Print runs per second and the per-core ratio against the engine loop."""
    parser = argparse.ArgumentParser(prog="python -m bench.runner", description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-runner-") as tmp:
        root = Path(tmp)
        sweep = bench_sweep(args.runs, root / "unused")
        n = sweep.spec.n_runs
        engine_loop(bench_sweep(40, root / "warm"))  # warm caches and lazy imports
        engine, engine_cpu = best(args.repeats, lambda: engine_loop(sweep))
        records, _ = best(args.repeats, lambda: record_loop(sweep))
        print(f"runs: {n} (agents 50, {sweep.spec.n_tasks} tasks of {RUNS_PER_TASK})")
        print(f"engine loop, 1 process:       {engine:6.2f} s  {n / engine:7.0f} runs/s")
        print(
            f"engine + record loop:         {records:6.2f} s  {n / records:7.0f} runs/s  "
            f"({records / engine:.2f}x the engine loop)"
        )
        verdicts = []
        for workers in sorted({1, args.workers}):
            if workers > 1:
                split = functools.partial(parallel_engine_loop, sweep, workers)
                loops, _ = best(args.repeats, split)
                print(
                    f"engine loop, {workers} processes:     {loops:6.2f} s  "
                    f"{n / loops:7.0f} runs/s  (per-core {loops * workers / engine:.2f}x the "
                    "one-process loop: the machine's own scaling)"
                )
            run = functools.partial(runner_once, args.runs, workers, root)
            wall, cpu = best(args.repeats, run)
            per_core = wall * workers / engine
            print(
                f"runner, {workers} worker(s):          {wall:6.2f} s  {n / wall:7.0f} runs/s  "
                f"per-core ratio {per_core:.2f} (target <= {TARGET}), speed-up "
                f"{engine / wall:.2f}x, CPU {cpu:.2f} s = {cpu / engine_cpu:.2f}x the loop's"
            )
            if workers > 1:
                print(
                    f"runner vs the engine loop in {workers} processes: {wall / loops:.2f}x "
                    "(context: what is left once the machine's own scaling is taken out)"
                )
            verdicts.append(per_core <= TARGET)
    print("target met" if all(verdicts) else "target NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
