"""The local runner's own metrics, served on ``sweepctl run --metrics-port``.

The runner lives as long as the sweep, so Prometheus scrapes it: tasks in the sweep, tasks
running, tasks finished by outcome. Run-level facts are not repeated here: they travel in each
task's pushed ``WorkerMetrics``, so Prometheus never counts them twice.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from sweep_controller.metrics.labels import sweep_label
from sweep_controller.outcomes import REPORTED_TASK_OUTCOMES, TaskOutcome

__all__ = ["RunnerMetrics"]


class RunnerMetrics:
    """``sweepctl run``'s view of the sweeps it runs, over an injected registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.sweep_tasks = Gauge(
            "govsim_runner_sweep_tasks",
            "Tasks in a sweep run by this runner.",
            ("sweep",),
            registry=registry,
        )
        self.tasks_running = Gauge(
            "govsim_runner_tasks_running",
            "Tasks of a sweep running now.",
            ("sweep",),
            registry=registry,
        )
        self.tasks = Counter(
            "govsim_runner_tasks",
            "Tasks finished by this runner, by status.",
            ("sweep", "status"),
            registry=registry,
        )

    def start_sweep(self, sweep: str, *, total_tasks: int) -> None:
        """Announce a sweep and its task count; every series starts at zero."""
        sweep_label(sweep)
        self.sweep_tasks.labels(sweep).set(total_tasks)
        self.tasks_running.labels(sweep).set(0)
        for status in REPORTED_TASK_OUTCOMES:
            self.tasks.labels(sweep, status.value)

    def set_tasks_running(self, sweep: str, count: int) -> None:
        """Set how many of the sweep's tasks are running now."""
        self.tasks_running.labels(sweep).set(count)

    def record_task_finished(self, sweep: str, outcome: TaskOutcome) -> None:
        """Count one finished task attempt by its outcome (interrupted counts as failed)."""
        self.tasks.labels(sweep, TaskOutcome(outcome).reported.value).inc()
