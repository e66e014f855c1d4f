"""The Kubernetes controller's metrics, served on its ``--metrics-port``.

The controller is long-lived and scraped: sweeps per phase, each sweep's tasks as its Job
reports them (labelled by the sweep's namespace, ``sweep_namespace``, and name), reconciles
(count, duration, result), errors by kind and the Pushgateway groups it deleted. A clock is
injected to time reconciles, so tests never sleep.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sweep_controller.metrics.labels import (
    NAMESPACE_LABEL,
    ErrorKind,
    ReconcileResult,
    SweepTaskState,
    sweep_label,
)
from sweep_controller.metrics.pushgateway import DeleteResult

__all__ = ["RECONCILE_DURATION_BUCKETS", "ControllerMetrics"]

RECONCILE_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ControllerMetrics:
    """The controller's metrics over an injected registry; the clock times reconciles."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        phases: Iterable[str] = (),
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.registry = registry
        self._clock = clock
        self.sweeps = Gauge(
            "govsim_controller_sweeps", "Sweeps by phase.", ("phase",), registry=registry
        )
        self.sweep_tasks = Gauge(
            "govsim_controller_sweep_tasks",
            "A sweep's tasks as the controller sees its Job: total, done, failed.",
            (NAMESPACE_LABEL, "sweep", "state"),
            registry=registry,
        )
        self.reconciles = Counter(
            "govsim_controller_reconciles",
            "Reconciles by result (ok or error).",
            ("result",),
            registry=registry,
        )
        self.reconcile_duration = Histogram(
            "govsim_controller_reconcile_duration_seconds",
            "Wall time of one reconcile.",
            buckets=RECONCILE_DURATION_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "govsim_controller_errors",
            "Controller errors by kind (temporary: retried; permanent: given up).",
            ("kind",),
            registry=registry,
        )
        self.group_deletions = Counter(
            "govsim_controller_pushgateway_group_deletions",
            "Pushgateway slot groups of finished sweeps by cleanup result: ok (deleted), failed "
            "(the request failed) or timed_out (not done within the cleanup budget).",
            ("result",),
            registry=registry,
        )
        self._phases: set[str] = set()
        self.set_sweeps_by_phase({p: 0 for p in phases})
        for result in ReconcileResult:
            self.reconciles.labels(result.value)
        for kind in ErrorKind:
            self.errors.labels(kind.value)
        for label in ("ok", "failed", "timed_out"):
            self.group_deletions.labels(label)

    def set_sweeps_by_phase(self, counts: Mapping[str, int]) -> None:
        """Set the number of sweeps per phase; phases seen before and absent now drop to 0."""
        self._phases.update(counts)
        for phase in self._phases:
            self.sweeps.labels(phase).set(counts.get(phase, 0))

    def set_sweep_tasks(
        self, namespace: str, sweep: str, *, total: int, done: int, failed: int
    ) -> None:
        """Set the task counts of the sweep ``namespace/sweep``."""
        sweep_label(sweep)
        values = {SweepTaskState.TOTAL: total, SweepTaskState.DONE: done}
        values[SweepTaskState.FAILED] = failed
        for state, value in values.items():
            self.sweep_tasks.labels(namespace, sweep, state.value).set(value)

    def forget_sweep(self, namespace: str, sweep: str) -> None:
        """Drop a deleted sweep's series so label sets do not pile up; same names elsewhere stay."""
        for state in SweepTaskState:
            with contextlib.suppress(KeyError):
                self.sweep_tasks.remove(namespace, sweep, state.value)

    def observe_reconcile(self, *, duration_seconds: float, ok: bool) -> None:
        """Record one reconcile's duration and result."""
        result = ReconcileResult.OK if ok else ReconcileResult.ERROR
        self.reconciles.labels(result.value).inc()
        self.reconcile_duration.observe(duration_seconds)

    @contextlib.contextmanager
    def reconcile_timer(self) -> Iterator[None]:
        """Time the block as one reconcile; an exception counts as an error and propagates."""
        start = self._clock()
        ok = False
        try:
            yield
            ok = True
        finally:
            self.observe_reconcile(duration_seconds=self._clock() - start, ok=ok)

    def record_error(self, kind: ErrorKind) -> None:
        """Count one controller error of ``kind``."""
        self.errors.labels(ErrorKind(kind).value).inc()

    def record_group_deletions(self, result: DeleteResult) -> None:
        """Count the outcome of a ``delete_sweep_groups`` call."""
        self.group_deletions.labels("ok").inc(len(result.deleted))
        self.group_deletions.labels("failed").inc(len(result.failed))
        self.group_deletions.labels("timed_out").inc(len(result.timed_out))
