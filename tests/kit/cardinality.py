"""Drive what a sweep's workers push, without simulating: the metrics side of a large sweep.

``drive_sweep`` runs ``tasks`` tasks in waves of ``parallelism`` through the real worker code
paths (a fresh ``WorkerMetrics`` per task, ``push_task_metrics``): every task of a wave pushes at
start, records its runs, pushes again (a periodic push), finishes and makes its final push. While a
wave runs (after its periodic pushes), ``on_running`` is called: the most groups, each holding
its run families, exist then.
After each wave ``after_wave`` is called (the controller's fold, or nothing to model today's
keep-everything behaviour). The bench (``bench/metrics_cardinality.py``) and the acceptance test
share it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from kit.promstack import PrometheusAPI
from sweep_controller.metrics import (
    WorkerMetrics,
    fold_finished_groups,
    push_task_metrics,
    read_sweep_groups,
)
from sweep_controller.outcomes import TaskOutcome

__all__ = ["DrivenSweep", "drive_sweep", "failed_task"]


def failed_task(index: int) -> bool:
    """Every 50th task fails (after its runs), so the failure panels have something to show."""
    return index % 50 == 49


@dataclass(frozen=True)
class DrivenSweep:
    """What the driven tasks recorded: totals the dashboard must show."""

    tasks: int
    runs_ok: int
    runs_failed: int
    tasks_succeeded: int
    tasks_failed: int


def drive_sweep(
    url: str,
    namespace: str,
    sweep: str,
    *,
    tasks: int,
    parallelism: int,
    runs_per_task: int = 3,
    on_running: Callable[[int], None] | None = None,
    after_wave: Callable[[int], None] | None = None,
    threads: int = 8,
) -> DrivenSweep:
    """Push ``tasks`` tasks' metrics in waves of ``parallelism``; the callbacks get the wave."""

    def start(index: int) -> WorkerMetrics:
        metrics = WorkerMetrics(
            CollectorRegistry(), sweep=sweep, namespace=namespace, total_tasks=tasks
        )
        push_task_metrics(url, metrics, index=index)
        return metrics

    def run(item: tuple[int, WorkerMetrics]) -> None:
        index, metrics = item
        for run in range(runs_per_task):
            metrics.observe_run(
                duration_seconds=0.01 * (1 + run),
                agents=100,
                flips=run,
                agents_flipped=run,
                passed=run % 2 == 0,
            )
        push_task_metrics(url, metrics, index=index)  # a periodic push

    def finish(item: tuple[int, WorkerMetrics]) -> None:
        index, metrics = item
        if index % 7 == 0:
            metrics.observe_run_failure()
        outcome = TaskOutcome.FAILED if failed_task(index) else TaskOutcome.SUCCEEDED
        metrics.add_storage_written(1000)
        metrics.finish_task(outcome, duration_seconds=1.0 + index % 5)
        push_task_metrics(url, metrics, index=index)  # the final push

    with ThreadPoolExecutor(threads) as pool:
        for wave, first in enumerate(range(0, tasks, parallelism)):
            indexes = range(first, min(first + parallelism, tasks))
            running = list(zip(indexes, pool.map(start, indexes), strict=True))
            list(pool.map(run, running))
            if on_running is not None:
                on_running(wave)
            list(pool.map(finish, running))
            if after_wave is not None:
                after_wave(wave)
    failed = sum(failed_task(i) for i in range(tasks))
    return DrivenSweep(
        tasks=tasks,
        runs_ok=tasks * runs_per_task,
        runs_failed=sum(i % 7 == 0 for i in range(tasks)),
        tasks_succeeded=tasks - failed,
        tasks_failed=failed,
    )


def series_while_running(
    gateway_url: str,
    api: PrometheusAPI,
    namespace: str,
    sweep: str,
    *,
    tasks: int,
    parallelism: int,
    fold: bool,
    timeout: float = 60,
) -> int:
    """Drive the sweep (folding after each wave if ``fold``); the series Prometheus holds for it
    while its last wave runs, once it has scraped every group the Pushgateway holds then."""
    waves = math.ceil(tasks / parallelism)
    seen: list[int] = []

    def on_running(wave: int) -> None:
        if wave != waves - 1:
            return
        # Wait until Prometheus has scraped exactly what the gateway holds now: every govsim_
        # series of every group (a group scraped between two of its pushes has fewer).
        held = read_sweep_groups(gateway_url, namespace, sweep).groups
        expected = sum(len(samples) for samples in held.values())
        api.wait_for(
            f'count({{sweep="{sweep}", __name__=~"govsim_.*", __name__!~".*_created"}})',
            lambda answer: len(answer) == 1 and answer[0].value == expected,
            timeout=timeout,
        )
        seen.append(int(api.query(f'count({{sweep="{sweep}"}})')[0].value))

    def after_wave(wave: int) -> None:
        if fold:
            fold_finished_groups(gateway_url, namespace, sweep)

    drive_sweep(
        gateway_url,
        namespace,
        sweep,
        tasks=tasks,
        parallelism=parallelism,
        on_running=on_running,
        after_wave=after_wave,
    )
    return seen[0]
