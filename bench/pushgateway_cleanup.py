"""Deleting a finished sweep's Pushgateway groups: one at a time vs concurrently within a budget.

The baseline is what the controller did before: one DELETE per group, in sequence, each with the
5 s push timeout (groups were per task index then; they are per metric slot now, so a sweep has
fewer, but a controller cleaning up many sweeps at once still meets the same numbers).
``delete_sweep_groups`` runs up to ``--concurrency`` DELETEs at once and returns after
``--budget`` seconds at most. Two gateways:

- **real**: a ``prometheus-pushgateway`` on a free loopback port (the Debian package), holding one
  group per index, pushed afresh before each side; both sides are measured in full;
- **blackholed**: a loopback port that accepts connections and never answers (a dead node behind a
  dropped route). The sequential side is measured on ``--blackhole-sample`` indexes and
  extrapolated to ``--tasks`` (every index costs one full timeout); the concurrent side runs all.

Printed per gateway: seconds per side, groups deleted, and the ratio sequential / concurrent.

Run: ``python -m bench.pushgateway_cleanup [--tasks 1000] [--concurrency 16] [--budget 30]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import delete_from_gateway

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from kit.promstack import (  # noqa: E402
    PUSHGATEWAY,
    Blackhole,
    Pushgateway,
    prometheus_binaries,
)

from sweep_controller.metrics import (  # noqa: E402
    DEFAULT_PUSH_TIMEOUT_SECONDS,
    WORKER_JOB,
    WorkerMetrics,
    delete_sweep_groups,
    push_task_metrics,
    slot_grouping_key,
)

NAMESPACE, SWEEP = "bench", "bench-cleanup"


def sequential(url: str, indexes: Iterable[int], timeout: float) -> tuple[float, int]:
    """The baseline: one DELETE at a time, each with its own timeout; (seconds, deleted)."""
    started, deleted = time.perf_counter(), 0
    for index in indexes:
        try:
            delete_from_gateway(
                url,
                job=WORKER_JOB,
                grouping_key=slot_grouping_key(NAMESPACE, SWEEP, index),
                timeout=timeout,
            )
        except Exception:
            continue
        deleted += 1
    return time.perf_counter() - started, deleted


def concurrent(
    url: str, tasks: int, *, budget: float, concurrency: int, timeout: float
) -> tuple[float, int, int]:
    """``delete_sweep_groups``: (seconds, deleted, not deleted)."""
    started = time.perf_counter()
    result = delete_sweep_groups(
        url,
        NAMESPACE,
        SWEEP,
        range(tasks),
        budget_seconds=budget,
        concurrency=concurrency,
        timeout=timeout,
    )
    return time.perf_counter() - started, len(result.deleted), len(result.not_deleted)


def push_groups(url: str, tasks: int) -> None:
    """One group per index, as a finished sweep's workers leave them."""
    metrics = WorkerMetrics(
        CollectorRegistry(), sweep=SWEEP, namespace=NAMESPACE, total_tasks=tasks
    )
    for index in range(tasks):
        if not push_task_metrics(url, metrics, slot=index):
            raise SystemExit(f"bench: push of index {index} to {url} failed")


def bench_real(tasks: int, budget: float, concurrency: int, timeout: float) -> None:
    binary = prometheus_binaries()[PUSHGATEWAY]
    if binary is None:
        print(f"  real gateway: skipped ({PUSHGATEWAY} not on PATH)")
        return
    with tempfile.TemporaryDirectory() as tmp, Pushgateway(Path(tmp), binary=binary) as gateway:
        push_groups(gateway.url, tasks)
        t_seq, n_seq = sequential(gateway.url, range(tasks), timeout)
        push_groups(gateway.url, tasks)
        t_con, n_con, left = concurrent(
            gateway.url, tasks, budget=budget, concurrency=concurrency, timeout=timeout
        )
    print(f"  real gateway, {tasks} groups:")
    print(f"    sequential (baseline): {t_seq:8.2f} s  {n_seq} deleted")
    print(f"    concurrent:            {t_con:8.2f} s  {n_con} deleted, {left} left")
    print(f"    ratio sequential/concurrent: {t_seq / t_con:.1f}x")


def bench_blackhole(
    tasks: int, sample: int, budget: float, concurrency: int, timeout: float
) -> None:
    with Blackhole() as blackhole:
        t_sample, _ = sequential(blackhole.url, range(sample), timeout)
        t_seq = t_sample / sample * tasks
        t_con, n_con, left = concurrent(
            blackhole.url, tasks, budget=budget, concurrency=concurrency, timeout=timeout
        )
    print(f"  blackholed gateway, {tasks} groups:")
    print(
        f"    sequential (baseline): {t_seq:8.1f} s  extrapolated from {sample} indexes "
        f"({t_sample:.1f} s, {t_seq / 60:.0f} min in all)"
    )
    print(f"    concurrent:            {t_con:8.2f} s  {n_con} deleted, {left} left to retry")
    print(f"    ratio sequential/concurrent: {t_seq / t_con:.0f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pushgateway_cleanup")
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--budget", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=DEFAULT_PUSH_TIMEOUT_SECONDS)
    parser.add_argument("--blackhole-sample", type=int, default=3)
    args = parser.parse_args(argv)
    print(
        f"pushgateway_cleanup: {args.tasks} task groups, concurrency {args.concurrency}, "
        f"budget {args.budget:g} s, request timeout {args.timeout:g} s"
    )
    bench_real(args.tasks, args.budget, args.concurrency, args.timeout)
    bench_blackhole(args.tasks, args.blackhole_sample, args.budget, args.concurrency, args.timeout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
