"""Calibrate the task-size cost model (``sweep_controller.spec.sizing``) against the engine.

Measures the worker's per-run path (simulate, build the record, serialise it, validate it: what
``sweep_controller.execution.worker`` does for each run, without storage) over a range of sizes
and both rule sets, fits the model's coefficients by non-negative least squares on relative
error, and prints, for each size, the measured seconds per run, the prediction of the
coefficients in the code and that of the new fit. The baseline is the measurement itself: a ratio
predicted/measured near 1 is the goal (the warnings need a factor of 2; their targets span 15).
Paste the printed ``Coefficients(...)`` into ``sizing.py`` with the date and the machine.

It measures with one BLAS thread, as worker pods run (it starts itself again with
``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` set to 1 when they are not).

Run: ``python -m bench.sizing [--quick]`` (``--quick`` skips 10^6 agents; about 30 s without).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
import uuid
from typing import Any

import numpy as np
from pydantic_core import to_json
from scipy.optimize import nnls

from simulator.model import simulate
from simulator.params import AgentRecords, SimParams
from simulator.records.building import record_fields
from simulator.records.io import trace_parquet, traces_ref
from simulator.records.validate import check_json
from sweep_controller.k8s.objects import SINGLE_THREADED_ENV
from sweep_controller.spec.sizing import COEFFICIENTS, Coefficients, expected_rounds, run_seconds

STAMP = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

# (label, SimParams fields, traces)
SIZES: list[tuple[dict[str, Any], bool]] = [
    ({}, False),
    ({"agents": 300, "influence_model": "small_world", "mean_degree": 8}, False),
    ({"agents": 1000}, False),
    ({"agents": 10_000}, False),
    ({"agents": 100_000, "mean_degree": 10}, False),
    ({"agents": 1_000_000, "mean_degree": 10}, False),
    ({"rules": "v0.4"}, False),
    ({"rules": "v0.4", "agents": 1000}, False),
    ({"rules": "v0.4", "agents": 100_000, "mean_degree": 10, "cascade_rounds": 10}, False),
    ({"agents": 10_000}, True),
]


def worker_run(params: SimParams, seed: int, traces: bool) -> None:
    """One run as the worker does it: simulate, record, serialise, validate (and its trace)."""
    result = simulate(params, seed, trace=traces)
    run_id = uuid.uuid4()
    ref = None
    if result.influence.trace is not None:
        parquet = trace_parquet(result.influence.trace, seed)
        ref = traces_ref(parquet, f"000000.traces/{run_id}.parquet", len(result.influence.trace))
    fields = record_fields(result, run_id=run_id, timestamp=STAMP, base_seed=0, run_index=seed,
                           agent_records=AgentRecords.NONE, traces=ref)  # fmt: skip
    problems = check_json(to_json(fields, by_alias=True))
    assert not problems, problems


def measure(params: SimParams, traces: bool, budget: float = 2.0) -> float:
    """Median seconds per run over repeats that fill about ``budget`` seconds (at least 3)."""
    worker_run(params, 0, traces)  # warm-up
    times: list[float] = []
    seed = 1
    while len(times) < 3 or (sum(times) < budget and len(times) < 200):
        t0 = time.perf_counter()
        worker_run(params, seed, traces)
        times.append(time.perf_counter() - t0)
        seed += 1
    return statistics.median(times)


def features(params: SimParams) -> list[float]:
    """The model's terms for one run (without traces)."""
    n, edges, rounds = float(params.agents), params.expected_edges(), expected_rounds(params)
    return [1.0, n, edges, rounds * n, rounds * edges]


def main(argv: list[str] | None = None) -> int:
    """Measure, fit and print predicted vs measured."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip 10^6 agents")
    args = parser.parse_args(argv)
    pinned = {name: "1" for name in SINGLE_THREADED_ENV}
    if any(os.environ.get(name) != value for name, value in pinned.items()):
        # Measure what a worker pod runs: one BLAS thread (docs/kubernetes.md, "Worker
        # threads"). The libraries read these at import, so start again with them set.
        again = [sys.executable, "-m", "bench.sizing", *(["--quick"] if args.quick else [])]
        os.execve(sys.executable, again, {**os.environ, **pinned})
    rows: list[tuple[str, SimParams, bool, float]] = []
    for fields, traces in SIZES:
        params = SimParams(**fields)
        if args.quick and params.agents >= 1_000_000:
            continue
        label = ", ".join(f"{k}={v}" for k, v in fields.items()) or "defaults"
        rows.append(
            (label + (" +traces" if traces else ""), params, traces, measure(params, traces))
        )
    plain = [(p, m) for _, p, t, m in rows if not t]
    a = np.array([features(p) for p, _ in plain]) / np.array([[m] for _, m in plain])
    coef, _ = nnls(a, np.ones(len(plain)))
    fitted = Coefficients(*[float(c) for c in coef], trace_agent=0.0, measured_on="")
    traced = [(p, m) for _, p, t, m in rows if t]
    trace_agent = statistics.mean(
        max(0.0, m - run_seconds(p, coefficients=fitted)) / p.agents for p, m in traced
    )
    machine = f"{os.cpu_count()} CPUs, {platform.machine()}"
    rounded = [float(f"{c:.3g}") for c in coef]
    fitted = Coefficients(*rounded, trace_agent=float(f"{trace_agent:.3g}"),
                          measured_on=f"{dt.date.today()}, {machine}")  # fmt: skip
    print(f"{'run':62} {'measured':>10} {'in code':>10} {'ratio':>6} {'new fit':>10} {'ratio':>6}")
    for label, params, traces, measured in rows:
        code = run_seconds(params, traces=traces)
        new = run_seconds(params, traces=traces, coefficients=fitted)
        print(f"{label:62} {measured * 1e3:8.2f}ms {code * 1e3:8.2f}ms {code / measured:6.2f} "
              f"{new * 1e3:8.2f}ms {new / measured:6.2f}")  # fmt: skip
    print(f"coefficients in code: measured on {COEFFICIENTS.measured_on}")
    print(f"new fit: {fitted!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
