"""Pushgateway I/O: push a task's metrics under its slot, periodically, and delete a sweep's groups.

Batch tasks cannot be scraped reliably, so each pushes to a Pushgateway under the grouping key
``{job="govsim-worker", sweep_namespace, sweep, slot}``: once it holds its task, every N seconds
(:class:`PeriodicPusher`) and once at the end. A slot is a place in the sweep that no two running
tasks share (``sweep_controller.execution.slot`` claims it); tasks take turns on it, each
pushing the slot's totals (``sweep_controller.metrics.slots``), so a sweep has about its
parallelism's worth of groups, never one per task. The push is a PUT: the group always mirrors
the slot's latest push. The Pushgateway never forgets a group on its own, so the controller
deletes a finished sweep's groups after a grace period (:func:`list_sweep_slots`, then
:func:`delete_sweep_groups`): concurrently and within a time budget, so a Pushgateway that never
answers costs the controller the budget, not one timeout per group. Nothing here raises on a
failed push or delete: observability never fails a task or a reconcile.

A task's life, as the worker drives it through its slot (``url`` from
:func:`resolve_pushgateway_url`)::

    metrics = WorkerMetrics(CollectorRegistry(), sweep=name, namespace=ns, total_tasks=n_tasks)
    composed = compose_slot(metrics.registry, base=slot_totals, already=SlotTotals())
    push_task_metrics(url, metrics, slot=slot, families=composed.families)

``sweep_controller.execution.slot.SlotReporter`` does this for the worker: it claims the slot,
records the slot's totals in the slot's lease before each push, and releases the slot at the end.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import default_handler, delete_from_gateway, push_to_gateway
from prometheus_client.metrics_core import Metric

from sweep_controller.metrics.config import (
    DEFAULT_CLEANUP_BUDGET_SECONDS,
    DEFAULT_DELETE_CONCURRENCY,
    DEFAULT_PUSH_INTERVAL_SECONDS,
    DEFAULT_PUSH_TIMEOUT_SECONDS,
    resolve_pushgateway_url,
)
from sweep_controller.metrics.labels import NAMESPACE_LABEL, sweep_label
from sweep_controller.metrics.slots import FamiliesCollector
from sweep_controller.metrics.worker import WorkerMetrics

__all__ = [
    "DEFAULT_CLEANUP_BUDGET_SECONDS",
    "DEFAULT_DELETE_CONCURRENCY",
    "DEFAULT_PUSH_INTERVAL_SECONDS",
    "DEFAULT_PUSH_TIMEOUT_SECONDS",
    "SLOT_LABEL",
    "WORKER_JOB",
    "DeleteResult",
    "PeriodicPusher",
    "delete_sweep_groups",
    "list_sweep_slots",
    "push_task_metrics",
    "resolve_pushgateway_url",
    "slot_grouping_key",
]

log = logging.getLogger(__name__)

WORKER_JOB = "govsim-worker"
SLOT_LABEL = "slot"
"""The grouping label that tells a sweep's groups apart: the slot its tasks push under."""

Handler = Callable[[str, str, float | None, list[tuple[str, str]], bytes], Callable[[], None]]


@dataclass(frozen=True)
class DeleteResult:
    """Which slot groups :func:`delete_sweep_groups` deleted and which it did not.

    ``failed``: the DELETE failed (refused, an error status, its own timeout). ``timed_out``:
    not done when the budget ran out (never started, or still waiting for an answer).
    """

    deleted: tuple[int, ...]
    failed: tuple[int, ...]
    timed_out: tuple[int, ...] = ()

    @property
    def not_deleted(self) -> tuple[int, ...]:
        """The slots to retry: failed or timed out, in order."""
        return tuple(sorted((*self.failed, *self.timed_out)))


def slot_grouping_key(namespace: str, sweep: str, slot: int) -> dict[str, str]:
    """The Pushgateway grouping key of one slot of a sweep: its namespace and name, the slot.

    Outside Kubernetes the namespace is empty and left out of the key (the Pushgateway, like
    Prometheus, treats an empty label as an absent one).
    """
    key = {NAMESPACE_LABEL: namespace} if namespace else {}
    return {**key, "sweep": sweep_label(sweep), SLOT_LABEL: str(slot)}


def push_task_metrics(
    gateway_url: str,
    metrics: WorkerMetrics,
    *,
    slot: int,
    families: list[Metric] | None = None,
    timeout: float = DEFAULT_PUSH_TIMEOUT_SECONDS,
    handler: Handler = default_handler,
) -> bool:
    """PUT group ``{job="govsim-worker", sweep_namespace, sweep, slot}``: ``families`` (the
    slot's totals, ``sweep_controller.metrics.slots.compose_slot``), else the task's registry.

    PUT (``push_to_gateway``), not POST (``pushadd_to_gateway``): the group is replaced whole, so
    it mirrors the slot's latest push. Never raises. On failure: a one-line warning,
    ``govsim_pushgateway_push_failures_total`` goes up (and is sent by the next successful push),
    and the result is False.
    """
    registry = metrics.registry
    if families is not None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(FamiliesCollector(families))
    try:
        push_to_gateway(
            gateway_url,
            job=WORKER_JOB,
            registry=registry,
            grouping_key=slot_grouping_key(metrics.namespace, metrics.sweep, slot),
            timeout=timeout,
            handler=handler,
        )
    except Exception as exc:
        metrics.push_failures.labels(*metrics.sweep_key).inc()
        log.warning(
            "pushgateway %s: push of sweep %s slot %d failed: %s: %s",
            gateway_url,
            _sweep_name(metrics.namespace, metrics.sweep),
            slot,
            type(exc).__name__,
            exc,
        )
        return False
    return True


def list_sweep_slots(
    gateway_url: str,
    namespace: str,
    sweep: str,
    *,
    timeout: float = DEFAULT_PUSH_TIMEOUT_SECONDS,
) -> list[int]:
    """The slots of sweep ``namespace/sweep`` that the Pushgateway holds a group of; may raise.

    Read from the Pushgateway's ``/api/v1/metrics`` (every group's labels); only
    ``job="govsim-worker"`` groups of that namespace and sweep count.
    """
    sweep_label(sweep)
    url = gateway_url.rstrip("/") + "/api/v1/metrics"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body = json.load(response)
    slots: set[int] = set()
    for group in body.get("data") or ():
        labels = group.get("labels") or {}
        slot = str(labels.get(SLOT_LABEL, ""))
        if (
            labels.get("job") == WORKER_JOB
            and labels.get("sweep") == sweep
            and labels.get(NAMESPACE_LABEL, "") == namespace
            and slot.isdigit()
        ):
            slots.add(int(slot))
    return sorted(slots)


def delete_sweep_groups(
    gateway_url: str,
    namespace: str,
    sweep: str,
    slots: Iterable[int],
    *,
    budget_seconds: float = DEFAULT_CLEANUP_BUDGET_SECONDS,
    timeout: float = DEFAULT_PUSH_TIMEOUT_SECONDS,
    concurrency: int = DEFAULT_DELETE_CONCURRENCY,
    handler: Handler = default_handler,
) -> DeleteResult:
    """Delete the slot groups of sweep ``namespace/sweep`` for ``slots`` within a time budget.

    Up to ``concurrency`` DELETEs run at once, each with a timeout of ``timeout`` (at most the
    budget). The call returns as soon as every slot is done or ``budget_seconds`` have passed,
    whichever comes first: a request still in flight then (a Pushgateway that accepts connections
    and never answers) is left to its own timeout on a daemon thread and reported as
    ``timed_out``, like the slots never started. Only groups of ``namespace`` are touched; a
    same-named sweep of another namespace keeps its groups.

    Never raises on a Pushgateway failure; a ``ValueError`` names a bad argument. Deleting a
    group that does not exist succeeds, so the call is idempotent: retry ``not_deleted`` later.
    """
    if not budget_seconds > 0:
        raise ValueError(f"metrics: budget_seconds: {budget_seconds} must be above 0")
    if concurrency < 1:
        raise ValueError(f"metrics: concurrency: {concurrency} is below 1")
    sweep_label(sweep)
    todo = list(dict.fromkeys(slots))
    if not todo:
        return DeleteResult(deleted=(), failed=())
    deletion = _GroupDeletion(
        gateway_url,
        namespace,
        sweep,
        todo,
        request_timeout=min(timeout, budget_seconds),
        handler=handler,
    )
    result = deletion.run(budget_seconds=budget_seconds, concurrency=concurrency)
    if result.not_deleted:
        log.warning(
            "pushgateway %s: delete of sweep %s: %d of %d groups deleted, %d failed%s, "
            "%d not done within the %g s budget",
            gateway_url,
            _sweep_name(namespace, sweep),
            len(result.deleted),
            len(todo),
            len(result.failed),
            f" (first: {deletion.first_error})" if deletion.first_error else "",
            len(result.timed_out),
            budget_seconds,
        )
    return result


def _sweep_name(namespace: str, sweep: str) -> str:
    """``namespace/sweep``, or ``sweep`` alone outside Kubernetes."""
    return f"{namespace}/{sweep}" if namespace else sweep


class _GroupDeletion:
    """One :func:`delete_sweep_groups` call: a queue of slots, daemon workers, a deadline.

    Workers take slots from the queue until it is empty or the deadline has passed; the caller
    waits on the condition for all outcomes or the deadline, then closes the books: outcomes
    arriving later (a request that outlived the budget) are dropped, not reported.
    """

    def __init__(
        self,
        gateway_url: str,
        namespace: str,
        sweep: str,
        slots: list[int],
        *,
        request_timeout: float,
        handler: Handler,
    ) -> None:
        self.gateway_url = gateway_url
        self.namespace = namespace
        self.sweep = sweep
        self.slots = slots
        self.request_timeout = request_timeout
        self.handler = handler
        self.first_error: str | None = None
        self._queue = collections.deque(slots)
        self._outcomes: dict[int, bool] = {}
        self._done = threading.Condition()
        self._closed = False
        self._deadline = 0.0

    def run(self, *, budget_seconds: float, concurrency: int) -> DeleteResult:
        """Start the workers, wait for every outcome or the budget, and report."""
        self._deadline = time.monotonic() + budget_seconds
        for n in range(min(concurrency, len(self.slots))):
            name = f"govsim-pushgateway-delete-{n}"
            threading.Thread(target=self._work, name=name, daemon=True).start()
        with self._done:
            self._done.wait_for(
                lambda: len(self._outcomes) == len(self.slots),
                timeout=max(0.0, self._deadline - time.monotonic()),
            )
            self._closed = True
            self._queue.clear()
            outcomes = dict(self._outcomes)
        return DeleteResult(
            deleted=tuple(i for i in self.slots if outcomes.get(i) is True),
            failed=tuple(i for i in self.slots if outcomes.get(i) is False),
            timed_out=tuple(i for i in self.slots if i not in outcomes),
        )

    def _work(self) -> None:
        while True:
            with self._done:
                if self._closed or not self._queue or time.monotonic() >= self._deadline:
                    return
                slot = self._queue.popleft()
            ok = self._delete(slot)
            with self._done:
                if self._closed:
                    return
                self._outcomes[slot] = ok
                self._done.notify_all()

    def _delete(self, slot: int) -> bool:
        try:
            delete_from_gateway(
                self.gateway_url,
                job=WORKER_JOB,
                grouping_key=slot_grouping_key(self.namespace, self.sweep, slot),
                timeout=self.request_timeout,
                handler=self.handler,
            )
        except Exception as exc:
            with self._done:
                if self.first_error is None:
                    self.first_error = f"slot {slot}: {type(exc).__name__}: {exc}"
            return False
        return True


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
