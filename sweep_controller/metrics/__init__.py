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

Everything but ``metrics.config`` and ``metrics.labels`` needs the ``metrics`` extra
(prometheus-client). The names below are imported on first use (PEP 562), so the core install
imports this package without it; the commands check for the extra (``sweep_controller.extras``)
before they turn metrics on.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sweep_controller.metrics.config import (
        DEFAULT_CLEANUP_BUDGET_SECONDS,
        DEFAULT_DELETE_CONCURRENCY,
        DEFAULT_PUSH_INTERVAL_SECONDS,
        DEFAULT_PUSH_TIMEOUT_SECONDS,
        resolve_pushgateway_url,
    )
    from sweep_controller.metrics.controller import RECONCILE_DURATION_BUCKETS, ControllerMetrics
    from sweep_controller.metrics.labels import (
        NAMESPACE_LABEL,
        ErrorKind,
        ReconcileResult,
        SweepTaskState,
        VoteResult,
    )
    from sweep_controller.metrics.pushgateway import (
        SLOT_LABEL,
        WORKER_JOB,
        DeleteResult,
        PeriodicPusher,
        delete_sweep_groups,
        list_sweep_slots,
        push_task_metrics,
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

_HOMES = {
    "AGENT_BUCKETS": "sweep_controller.metrics.worker",
    "ComposedSlot": "sweep_controller.metrics.slots",
    "ControllerMetrics": "sweep_controller.metrics.controller",
    "DEFAULT_CLEANUP_BUDGET_SECONDS": "sweep_controller.metrics.config",
    "DEFAULT_DELETE_CONCURRENCY": "sweep_controller.metrics.config",
    "DEFAULT_PUSH_INTERVAL_SECONDS": "sweep_controller.metrics.config",
    "DEFAULT_PUSH_TIMEOUT_SECONDS": "sweep_controller.metrics.config",
    "DeleteResult": "sweep_controller.metrics.pushgateway",
    "ErrorKind": "sweep_controller.metrics.labels",
    "FLIPPED_RATIO_BUCKETS": "sweep_controller.metrics.worker",
    "FLIP_BUCKETS": "sweep_controller.metrics.worker",
    "MetricsServer": "sweep_controller.metrics.server",
    "NAMESPACE_LABEL": "sweep_controller.metrics.labels",
    "PeriodicPusher": "sweep_controller.metrics.pushgateway",
    "RECONCILE_DURATION_BUCKETS": "sweep_controller.metrics.controller",
    "RUN_DURATION_BUCKETS": "sweep_controller.metrics.worker",
    "ReconcileResult": "sweep_controller.metrics.labels",
    "RunnerMetrics": "sweep_controller.metrics.runner",
    "SLOT_LABEL": "sweep_controller.metrics.pushgateway",
    "SlotSample": "sweep_controller.metrics.slots",
    "SlotTotals": "sweep_controller.metrics.slots",
    "SweepTaskState": "sweep_controller.metrics.labels",
    "TASK_DURATION_BUCKETS": "sweep_controller.metrics.worker",
    "VoteResult": "sweep_controller.metrics.labels",
    "WORKER_JOB": "sweep_controller.metrics.pushgateway",
    "WorkerMetrics": "sweep_controller.metrics.worker",
    "compose_slot": "sweep_controller.metrics.slots",
    "delete_sweep_groups": "sweep_controller.metrics.pushgateway",
    "list_sweep_slots": "sweep_controller.metrics.pushgateway",
    "push_task_metrics": "sweep_controller.metrics.pushgateway",
    "resolve_pushgateway_url": "sweep_controller.metrics.config",
    "serve_metrics": "sweep_controller.metrics.server",
    "slot_grouping_key": "sweep_controller.metrics.pushgateway",
}
"""Each public name and the module that defines it."""


def __getattr__(name: str) -> Any:
    """Import a public name from its module when it is first asked for (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
