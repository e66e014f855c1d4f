"""Pushgateway I/O: push a task's metrics, push them periodically, delete a finished sweep's groups.

Batch tasks cannot be scraped reliably, so each pushes its registry to a Pushgateway under the
grouping key ``{job="govsim-worker", sweep_namespace, sweep, index}``: once at start, every N
seconds (:class:`PeriodicPusher`) and once at the end. The push is a PUT, so a group always
mirrors the latest attempt of its index. The Pushgateway never forgets a group on its own, so the
controller deletes a finished sweep's groups after a grace period (:func:`delete_sweep_groups`):
concurrently and within a time budget, so a Pushgateway that never answers costs the controller
the budget, not one timeout per task. Nothing here raises on a failed push or delete:
observability never fails a task or a reconcile.

A task's life, as the worker drives it (``url`` from :func:`resolve_pushgateway_url`)::

    metrics = WorkerMetrics(CollectorRegistry(), sweep=name, namespace=ns, total_tasks=n_tasks)
    push = functools.partial(push_task_metrics, url, metrics, index=index)
    push()                                              # the group exists from the start
    with PeriodicPusher(push, interval_seconds=DEFAULT_PUSH_INTERVAL_SECONDS):
        ...  # per run: metrics.observe_record(record_fields(...), duration_seconds=...)
    metrics.finish_task(TaskOutcome.SUCCEEDED, duration_seconds=elapsed)
    push()                                              # after the periodic thread is joined
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client.exposition import default_handler, delete_from_gateway, push_to_gateway

from sweep_controller.env import PUSHGATEWAY_ENV
from sweep_controller.metrics.labels import NAMESPACE_LABEL, sweep_label
from sweep_controller.metrics.worker import WorkerMetrics

__all__ = [
    "DEFAULT_CLEANUP_BUDGET_SECONDS",
    "DEFAULT_DELETE_CONCURRENCY",
    "DEFAULT_PUSH_INTERVAL_SECONDS",
    "DEFAULT_PUSH_TIMEOUT_SECONDS",
    "WORKER_JOB",
    "DeleteResult",
    "GroupIndex",
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
DEFAULT_CLEANUP_BUDGET_SECONDS = 30.0
DEFAULT_DELETE_CONCURRENCY = 16

Handler = Callable[[str, str, float | None, list[tuple[str, str]], bytes], Callable[[], None]]
GroupIndex = int | str
"""A group's ``index`` label: a job index, or ``"folded"`` for a sweep's folded group."""


@dataclass(frozen=True)
class DeleteResult:
    """Which task groups :func:`delete_sweep_groups` deleted and which it did not.

    ``failed``: the DELETE failed (refused, an error status, its own timeout). ``timed_out``:
    not done when the budget ran out (never started, or still waiting for an answer).
    """

    deleted: tuple[GroupIndex, ...]
    failed: tuple[GroupIndex, ...]
    timed_out: tuple[GroupIndex, ...] = ()

    @property
    def not_deleted(self) -> tuple[GroupIndex, ...]:
        """The indexes to retry: failed or timed out, in order (job indexes first)."""
        return tuple(sorted((*self.failed, *self.timed_out), key=lambda i: (isinstance(i, str), i)))


def task_grouping_key(namespace: str, sweep: str, index: GroupIndex) -> dict[str, str]:
    """The Pushgateway grouping key of one task: the sweep's namespace and name, the job index.

    Outside Kubernetes the namespace is empty and left out of the key (the Pushgateway, like
    Prometheus, treats an empty label as an absent one).
    """
    key = {NAMESPACE_LABEL: namespace} if namespace else {}
    return {**key, "sweep": sweep_label(sweep), "index": str(index)}


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
    """PUT the registry as group ``{job="govsim-worker", sweep_namespace, sweep, index}``.

    PUT (``push_to_gateway``), not POST (``pushadd_to_gateway``): the group is replaced whole, so
    it mirrors this attempt exactly, and a retried index overwrites its failed attempt instead of
    mixing with it. Never raises. On failure: a one-line warning,
    ``govsim_pushgateway_push_failures_total`` goes up (and is sent by the next successful push),
    and the result is False.
    """
    try:
        push_to_gateway(
            gateway_url,
            job=WORKER_JOB,
            registry=metrics.registry,
            grouping_key=task_grouping_key(metrics.namespace, metrics.sweep, index),
            timeout=timeout,
            handler=handler,
        )
    except Exception as exc:
        metrics.push_failures.labels(*metrics.sweep_key).inc()
        log.warning(
            "pushgateway %s: push of sweep %s index %d failed: %s: %s",
            gateway_url,
            _sweep_name(metrics.namespace, metrics.sweep),
            index,
            type(exc).__name__,
            exc,
        )
        return False
    return True


def delete_sweep_groups(
    gateway_url: str,
    namespace: str,
    sweep: str,
    indexes: Iterable[GroupIndex],
    *,
    budget_seconds: float = DEFAULT_CLEANUP_BUDGET_SECONDS,
    timeout: float = DEFAULT_PUSH_TIMEOUT_SECONDS,
    concurrency: int = DEFAULT_DELETE_CONCURRENCY,
    handler: Handler = default_handler,
) -> DeleteResult:
    """Delete the task groups of sweep ``namespace/sweep`` for ``indexes`` within a time budget.

    Up to ``concurrency`` DELETEs run at once, each with a timeout of ``timeout`` (at most the
    budget). The call returns as soon as every index is done or ``budget_seconds`` have passed,
    whichever comes first: a request still in flight then (a Pushgateway that accepts connections
    and never answers) is left to its own timeout on a daemon thread and reported as
    ``timed_out``, like the indexes never started. Only groups of ``namespace`` are touched; a
    same-named sweep of another namespace keeps its groups.

    Never raises on a Pushgateway failure; a ``ValueError`` names a bad argument. Deleting a
    group that does not exist succeeds, so the call is idempotent: retry ``not_deleted`` later.
    """
    if not budget_seconds > 0:
        raise ValueError(f"metrics: budget_seconds: {budget_seconds} must be above 0")
    if concurrency < 1:
        raise ValueError(f"metrics: concurrency: {concurrency} is below 1")
    sweep_label(sweep)
    todo = list(dict.fromkeys(indexes))
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
    """One :func:`delete_sweep_groups` call: a queue of indexes, daemon workers, a deadline.

    Workers take indexes from the queue until it is empty or the deadline has passed; the caller
    waits on the condition for all outcomes or the deadline, then closes the books: outcomes
    arriving later (a request that outlived the budget) are dropped, not reported.
    """

    def __init__(
        self,
        gateway_url: str,
        namespace: str,
        sweep: str,
        indexes: list[GroupIndex],
        *,
        request_timeout: float,
        handler: Handler,
    ) -> None:
        self.gateway_url = gateway_url
        self.namespace = namespace
        self.sweep = sweep
        self.indexes = indexes
        self.request_timeout = request_timeout
        self.handler = handler
        self.first_error: str | None = None
        self._queue = collections.deque(indexes)
        self._outcomes: dict[GroupIndex, bool] = {}
        self._done = threading.Condition()
        self._closed = False
        self._deadline = 0.0

    def run(self, *, budget_seconds: float, concurrency: int) -> DeleteResult:
        """Start the workers, wait for every outcome or the budget, and report."""
        self._deadline = time.monotonic() + budget_seconds
        for n in range(min(concurrency, len(self.indexes))):
            name = f"govsim-pushgateway-delete-{n}"
            threading.Thread(target=self._work, name=name, daemon=True).start()
        with self._done:
            self._done.wait_for(
                lambda: len(self._outcomes) == len(self.indexes),
                timeout=max(0.0, self._deadline - time.monotonic()),
            )
            self._closed = True
            self._queue.clear()
            outcomes = dict(self._outcomes)
        return DeleteResult(
            deleted=tuple(i for i in self.indexes if outcomes.get(i) is True),
            failed=tuple(i for i in self.indexes if outcomes.get(i) is False),
            timed_out=tuple(i for i in self.indexes if i not in outcomes),
        )

    def _work(self) -> None:
        while True:
            with self._done:
                if self._closed or not self._queue or time.monotonic() >= self._deadline:
                    return
                index = self._queue.popleft()
            ok = self._delete(index)
            with self._done:
                if self._closed:
                    return
                self._outcomes[index] = ok
                self._done.notify_all()

    def _delete(self, index: GroupIndex) -> bool:
        try:
            delete_from_gateway(
                self.gateway_url,
                job=WORKER_JOB,
                grouping_key=task_grouping_key(self.namespace, self.sweep, index),
                timeout=self.request_timeout,
                handler=self.handler,
            )
        except Exception as exc:
            with self._done:
                if self.first_error is None:
                    self.first_error = f"index {index}: {type(exc).__name__}: {exc}"
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
