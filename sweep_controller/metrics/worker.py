"""The metrics of one task (one job index), recorded by the worker and pushed to a Pushgateway.

A task lives seconds to hours, too briefly to be scraped, so its facts (runs, durations, cascade
sizes, bytes written, how it ended) are kept in a registry of its own and pushed
(``sweep_controller.metrics.pushgateway``) on top of the totals of the slot it holds
(``sweep_controller.metrics.slots``). Each labelled series starts at zero, so the first push
already carries every family and queries can tell "zero failures" from "no data". Every series
is labelled with the sweep's namespace (``sweep_namespace``; empty outside Kubernetes) and name
(``sweep``), so same-named sweeps of two namespaces stay apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sweep_controller.metrics.labels import NAMESPACE_LABEL, VoteResult, sweep_label
from sweep_controller.outcomes import REPORTED_TASK_OUTCOMES, RunOutcome, TaskOutcome

__all__ = [
    "AGENT_BUCKETS",
    "FLIPPED_RATIO_BUCKETS",
    "FLIP_BUCKETS",
    "RUN_DURATION_BUCKETS",
    "TASK_DURATION_BUCKETS",
    "WorkerMetrics",
]

RUN_DURATION_BUCKETS = (
    *(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
    *(1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)
TASK_DURATION_BUCKETS = (
    *(0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
    *(600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0),
)
AGENT_BUCKETS = (10, 30, 100, 300, 1e3, 3e3, 1e4, 3e4, 1e5, 3e5, 1e6, 3e6, 1e7, 5e7)
# Cascade sizes are heavy-tailed: 0 (no cascade) gets its own bucket, then a 1-2-5 ladder.
FLIP_BUCKETS = (
    *(0, 1, 2, 5, 10, 20, 50, 100, 200, 500),
    *(1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7),
)
FLIPPED_RATIO_BUCKETS = (0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99, 1)


class WorkerMetrics:
    """One task's metrics; create one per task, over its own fresh ``CollectorRegistry``.

    The registry counts this task alone: its slot adds it to the totals of the tasks that held
    the slot before. A registry shared by several tasks would add earlier tasks' counts again,
    and the dashboard would count them twice. The constructor records the task's
    start time and the sweep's task count, and creates every labelled series at zero, so a push at
    task start already carries all families.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        sweep: str,
        total_tasks: int,
        namespace: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if total_tasks < 1:
            raise ValueError(f"metrics: total_tasks: {total_tasks} is below 1")
        self.registry = registry
        self.sweep = sweep_label(sweep)
        self.namespace = namespace
        self._clock = clock
        k = self.sweep_key
        r, s = registry, (NAMESPACE_LABEL, "sweep")
        self.runs = Counter(
            "govsim_runs", "Simulation runs by outcome (ok or failed).", (*s, "outcome"), registry=r
        )
        self.run_outcomes = Counter(
            "govsim_run_outcomes",
            "Finished runs by the proposal's final result (passed or rejected).",
            (*s, "result"),
            registry=r,
        )
        self.run_duration = Histogram(
            "govsim_run_duration_seconds",
            "Wall time of one simulation run.",
            s,
            buckets=RUN_DURATION_BUCKETS,
            registry=r,
        )
        self.run_agents = Histogram(
            "govsim_run_agents", "Agents per run.", s, buckets=AGENT_BUCKETS, registry=r
        )
        self.run_flips = Histogram(
            "govsim_run_flips",
            "Vote flip events per run (cascade size).",
            s,
            buckets=FLIP_BUCKETS,
            registry=r,
        )
        self.run_flipped_ratio = Histogram(
            "govsim_run_flipped_agents_ratio",
            "Share of a run's agents that flipped at least once (cascade size relative to N).",
            s,
            buckets=FLIPPED_RATIO_BUCKETS,
            registry=r,
        )
        self.storage_written = Counter(
            "govsim_storage_written_bytes", "Bytes written to the sweep's store.", s, registry=r
        )
        self.storage_retries = Counter(
            "govsim_storage_retries", "Store operations retried after an error.", s, registry=r
        )
        self.task_duration = Histogram(
            "govsim_task_duration_seconds",
            "Wall time of one task (a job index), any status.",
            s,
            buckets=TASK_DURATION_BUCKETS,
            registry=r,
        )
        self.tasks = Counter(
            "govsim_tasks",
            "Task attempts by how they ended (succeeded, failed, skipped).",
            (*s, "status"),
            registry=r,
        )
        self.sweep_tasks = Gauge(
            "govsim_sweep_tasks", "Tasks in the sweep (from its spec).", s, registry=r
        )
        self.task_started = Gauge(
            "govsim_task_started_timestamp_seconds",
            "Unix time the task started.",
            s,
            registry=r,
        )
        self.task_progress = Gauge(
            "govsim_task_progress_timestamp_seconds",
            "Unix time of the task's latest completed run or successful end.",
            s,
            registry=r,
        )
        self.push_failures = Counter(
            "govsim_pushgateway_push_failures",
            "Pushes to the Pushgateway that failed (counted here, sent with the next push).",
            s,
            registry=r,
        )
        for outcome in RunOutcome:
            self.runs.labels(*k, outcome.value)
        for result in VoteResult:
            self.run_outcomes.labels(*k, result.value)
        for status in REPORTED_TASK_OUTCOMES:
            self.tasks.labels(*k, status.value)
        for metric in (self.storage_written, self.storage_retries, self.push_failures):
            metric.labels(*k)
        self.sweep_tasks.labels(*k).set(total_tasks)
        self.task_started.labels(*k).set(clock())

    @property
    def sweep_key(self) -> tuple[str, str]:
        """The label values naming the sweep: ``(sweep_namespace, sweep)``."""
        return (self.namespace, self.sweep)

    def observe_run(
        self,
        *,
        duration_seconds: float,
        agents: int,
        flips: int,
        agents_flipped: int,
        passed: bool,
    ) -> None:
        """Record one finished run: duration, size, cascade size and vote result."""
        if agents < 1:
            raise ValueError(f"metrics: agents: {agents} is below 1")
        if not 0 <= agents_flipped <= agents:
            raise ValueError(f"metrics: agents_flipped: {agents_flipped} is outside [0, {agents}]")
        if flips < 0 or duration_seconds < 0:
            raise ValueError(f"metrics: flips {flips} / duration {duration_seconds} is negative")
        k = self.sweep_key
        self.runs.labels(*k, RunOutcome.OK.value).inc()
        result = VoteResult.PASSED if passed else VoteResult.REJECTED
        self.run_outcomes.labels(*k, result.value).inc()
        self.run_duration.labels(*k).observe(duration_seconds)
        self.run_agents.labels(*k).observe(agents)
        self.run_flips.labels(*k).observe(flips)
        self.run_flipped_ratio.labels(*k).observe(agents_flipped / agents)
        self.task_progress.labels(*k).set(self._clock())

    def observe_record(self, fields: Mapping[str, Any], *, duration_seconds: float) -> None:
        """Record one finished run from its record fields (``records.record.record_fields``).

        The worker observes each run as soon as it is simulated, before the task's records are
        serialised and validated together, so the fields are read as a mapping.
        """
        self.observe_run(
            duration_seconds=duration_seconds,
            agents=fields["params"].agents,
            flips=fields["flips"]["total"],
            agents_flipped=fields["agents_flipped_total"],
            passed=fields["votes"]["passed"],
        )

    def observe_run_failure(self) -> None:
        """Record one run that raised instead of producing a record."""
        self.runs.labels(*self.sweep_key, RunOutcome.FAILED.value).inc()

    def add_storage_written(self, nbytes: int) -> None:
        """Add bytes written to the store."""
        if nbytes < 0:
            raise ValueError(f"metrics: nbytes: {nbytes} is negative")
        self.storage_written.labels(*self.sweep_key).inc(nbytes)

    def add_storage_retry(self, count: int = 1) -> None:
        """Count store operations retried after an error."""
        self.storage_retries.labels(*self.sweep_key).inc(count)

    def finish_task(self, outcome: TaskOutcome, *, duration_seconds: float) -> None:
        """Record how the task ended (interrupted counts as failed); call once, then push."""
        k, reported = self.sweep_key, TaskOutcome(outcome).reported
        self.tasks.labels(*k, reported.value).inc()
        self.task_duration.labels(*k).observe(duration_seconds)
        if reported is not TaskOutcome.FAILED:
            self.task_progress.labels(*k).set(self._clock())
