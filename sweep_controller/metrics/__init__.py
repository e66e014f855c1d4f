"""Prometheus metrics of sweeps: workers, the local runner and the controller, and Pushgateway I/O.

A sweep's work happens in short-lived batch processes, one per task index, that Prometheus cannot
scrape reliably; the controller and ``sweepctl run`` live long enough to be scraped. So:

* each task records its facts in a :class:`WorkerMetrics` (``metrics.worker``) over a fresh
  ``CollectorRegistry`` and pushes them to a Pushgateway (``metrics.pushgateway``) at task start,
  every N seconds and at task end, under ``{job="govsim-worker", sweep_namespace, sweep, slot}``:
  a slot no two running tasks share, whose totals add up the tasks that held it in turn
  (:class:`SlotTotals`, ``metrics.slots``), so the groups and series follow the parallelism, not
  the task count;
* the local runner (:class:`RunnerMetrics`, ``metrics.runner``) and the controller
  (:class:`ControllerMetrics`, ``metrics.controller``) serve their own registries on
  ``/metrics`` (``metrics.server``);
* the controller deletes a finished sweep's groups after a grace period, concurrently and within
  a time budget (:func:`delete_sweep_groups`), because the Pushgateway never forgets a group.

Every metric is created against an injected registry (never the global default one), names carry
base units and ``_total`` for counters, and labels are low-cardinality (``metrics.labels``).
Nothing here raises on a push or delete failure: observability never fails a task or a reconcile.
"""

from sweep_controller.metrics.controller import RECONCILE_DURATION_BUCKETS, ControllerMetrics
from sweep_controller.metrics.labels import (
    NAMESPACE_LABEL,
    ErrorKind,
    ReconcileResult,
    SweepTaskState,
    VoteResult,
)
from sweep_controller.metrics.pushgateway import (
    DEFAULT_CLEANUP_BUDGET_SECONDS,
    DEFAULT_DELETE_CONCURRENCY,
    DEFAULT_PUSH_INTERVAL_SECONDS,
    DEFAULT_PUSH_TIMEOUT_SECONDS,
    SLOT_LABEL,
    WORKER_JOB,
    DeleteResult,
    PeriodicPusher,
    delete_sweep_groups,
    list_sweep_slots,
    push_task_metrics,
    resolve_pushgateway_url,
    slot_grouping_key,
)
from sweep_controller.metrics.runner import RunnerMetrics
from sweep_controller.metrics.server import MetricsServer, serve_metrics
from sweep_controller.metrics.slots import ComposedSlot, SlotSample, SlotTotals, compose_slot
from sweep_controller.metrics.worker import (
    AGENT_BUCKETS,
    FLIP_BUCKETS,
    FLIPPED_RATIO_BUCKETS,
    RUN_DURATION_BUCKETS,
    TASK_DURATION_BUCKETS,
    WorkerMetrics,
)

__all__ = [
    "AGENT_BUCKETS",
    "DEFAULT_CLEANUP_BUDGET_SECONDS",
    "DEFAULT_DELETE_CONCURRENCY",
    "DEFAULT_PUSH_INTERVAL_SECONDS",
    "DEFAULT_PUSH_TIMEOUT_SECONDS",
    "FLIPPED_RATIO_BUCKETS",
    "FLIP_BUCKETS",
    "NAMESPACE_LABEL",
    "RECONCILE_DURATION_BUCKETS",
    "RUN_DURATION_BUCKETS",
    "SLOT_LABEL",
    "TASK_DURATION_BUCKETS",
    "WORKER_JOB",
    "ComposedSlot",
    "ControllerMetrics",
    "DeleteResult",
    "ErrorKind",
    "MetricsServer",
    "PeriodicPusher",
    "ReconcileResult",
    "RunnerMetrics",
    "SlotSample",
    "SlotTotals",
    "SweepTaskState",
    "VoteResult",
    "WorkerMetrics",
    "compose_slot",
    "delete_sweep_groups",
    "list_sweep_slots",
    "push_task_metrics",
    "resolve_pushgateway_url",
    "serve_metrics",
    "slot_grouping_key",
]
