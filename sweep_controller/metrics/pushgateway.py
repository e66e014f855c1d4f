"""Pushgateway I/O: push a task's metrics, push them periodically, delete a finished sweep's groups.

Batch tasks cannot be scraped reliably, so each pushes its registry to a Pushgateway under the
grouping key ``{job="govsim-worker", sweep, index}``: once at start, every N seconds
(:class:`PeriodicPusher`) and once at the end. The push is a PUT, so a group always mirrors the
latest attempt of its index. The Pushgateway never forgets a group on its own, so the controller
deletes a finished sweep's groups after a grace period (:func:`delete_sweep_groups`). Nothing
here raises on a failed push or delete: observability never fails a task or a reconcile.

A task's life, as the worker drives it (``url`` from :func:`resolve_pushgateway_url`)::

    metrics = WorkerMetrics(CollectorRegistry(), sweep=name, total_tasks=n_tasks)
    push = functools.partial(push_task_metrics, url, metrics, index=index)
    push()                                              # the group exists from the start
    with PeriodicPusher(push, interval_seconds=DEFAULT_PUSH_INTERVAL_SECONDS):
        ...  # per run: metrics.observe_record(record_fields(...), duration_seconds=...)
    metrics.finish_task(TaskOutcome.SUCCEEDED, duration_seconds=elapsed)
    push()                                              # after the periodic thread is joined
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client.exposition import default_handler, delete_from_gateway, push_to_gateway

from sweep_controller.env import PUSHGATEWAY_ENV
from sweep_controller.metrics.labels import sweep_label
from sweep_controller.metrics.worker import WorkerMetrics

__all__ = [
    "DEFAULT_PUSH_INTERVAL_SECONDS",
    "DEFAULT_PUSH_TIMEOUT_SECONDS",
    "WORKER_JOB",
    "DeleteResult",
    "PeriodicPusher",
    "delete_sweep_groups",
    "push_task_metrics",
    "resolve_pushgateway_url",
    "task_grouping_key",
]

log = logging.getLogger(__name__)

WORKER_JOB = "govsim-worker"
DEFAULT_PUSH_TIMEOUT_SECONDS = 5.0
DEFAULT_PUSH_INTERVAL_SECONDS = 30.0

Handler = Callable[[str, str, float | None, list[tuple[str, str]], bytes], Callable[[], None]]


@dataclass(frozen=True)
class DeleteResult:
    """Which task groups :func:`delete_sweep_groups` deleted and which it could not."""

    deleted: tuple[int, ...]
    failed: tuple[int, ...]


def task_grouping_key(sweep: str, index: int) -> dict[str, str]:
    """The Pushgateway grouping key of one task: sweep name and job index."""
    return {"sweep": sweep_label(sweep), "index": str(index)}


def resolve_pushgateway_url(flag: str | None, environ: Mapping[str, str]) -> str | None:
    """The Pushgateway URL from ``--pushgateway`` or else ``PUSHGATEWAY_URL``; None means off."""
    for value in (flag, environ.get(PUSHGATEWAY_ENV)):
        if value is not None and value.strip():
            return value.strip()
    return None


def push_task_metrics(
    gateway_url: str,
    metrics: WorkerMetrics,
    *,
    index: int,
    timeout: float = DEFAULT_PUSH_TIMEOUT_SECONDS,
    handler: Handler = default_handler,
) -> bool:
    """PUT the task's registry as group ``{job="govsim-worker", sweep, index}``; never raises.

    PUT (``push_to_gateway``), not POST (``pushadd_to_gateway``): the group is replaced whole, so
    it mirrors this attempt exactly, and a retried index overwrites its failed attempt instead of
    mixing with it. On failure: a one-line warning, ``govsim_pushgateway_push_failures_total``
    goes up (and is sent by the next successful push), and the result is False.
    """
    try:
        push_to_gateway(
            gateway_url,
            job=WORKER_JOB,
            registry=metrics.registry,
            grouping_key=task_grouping_key(metrics.sweep, index),
            timeout=timeout,
            handler=handler,
        )
    except Exception as exc:
        metrics.push_failures.labels(metrics.sweep).inc()
        log.warning(
            "pushgateway %s: push of sweep %s index %d failed: %s: %s",
            gateway_url,
            metrics.sweep,
            index,
            type(exc).__name__,
            exc,
        )
        return False
    return True


def delete_sweep_groups(
    gateway_url: str,
    sweep: str,
    indexes: Iterable[int],
    *,
    timeout: float = DEFAULT_PUSH_TIMEOUT_SECONDS,
    handler: Handler = default_handler,
) -> DeleteResult:
    """Delete the task groups of ``sweep`` for ``indexes``; never raises.

    Deleting a group that does not exist succeeds, so the call is idempotent: retry the
    ``failed`` indexes at the next reconcile.
    """
    deleted: list[int] = []
    failed: list[int] = []
    for index in indexes:
        try:
            delete_from_gateway(
                gateway_url,
                job=WORKER_JOB,
                grouping_key=task_grouping_key(sweep, index),
                timeout=timeout,
                handler=handler,
            )
        except Exception as exc:
            failed.append(index)
            log.warning(
                "pushgateway %s: delete of sweep %s index %d failed: %s: %s",
                gateway_url,
                sweep,
                index,
                type(exc).__name__,
                exc,
            )
        else:
            deleted.append(index)
    return DeleteResult(deleted=tuple(deleted), failed=tuple(failed))


class PeriodicPusher:
    """Calls ``push`` every ``interval_seconds`` on a daemon thread until stopped.

    Use as a context manager around a long task, then push once more after it exits:
    :meth:`stop` joins the thread, so no periodic push can land after (and overwrite) the final
    one. ``push`` should not raise (:func:`push_task_metrics` never does); if it does, the error is
    logged and pushing goes on.
    """

    def __init__(self, push: Callable[[], object], *, interval_seconds: float) -> None:
        if interval_seconds <= 0:
            raise ValueError(f"metrics: interval_seconds: {interval_seconds} must be above 0")
        self._push = push
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="govsim-pusher", daemon=True)
        self.pushes = 0

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._push()
            except Exception:
                log.exception("periodic push failed")
            self.pushes += 1

    def start(self) -> PeriodicPusher:
        """Start the thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop pushing and wait for a push in flight to finish."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> PeriodicPusher:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
