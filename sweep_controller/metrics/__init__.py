"""Prometheus metrics of sweeps: workers, the local runner and the controller, and Pushgateway I/O.

A sweep's work happens in short-lived batch processes, one per task index, that Prometheus cannot
scrape reliably; the controller and ``sweepctl run`` live long enough to be scraped. So:

* each task records its facts in a :class:`WorkerMetrics` over a fresh ``CollectorRegistry`` and
  pushes that registry to a Pushgateway (:func:`push_task_metrics`) at task start, every N seconds
  (:class:`PeriodicPusher`) and at task end; the grouping key is ``{job="govsim-worker", sweep,
  index}`` and the push is a PUT, so a group always mirrors the latest attempt of its index;
* the controller (:class:`ControllerMetrics`) and the local runner (:class:`RunnerMetrics`) serve
  their own registries on ``/metrics`` (:func:`serve_metrics`);
* the controller deletes a finished sweep's groups after a grace period
  (:func:`delete_sweep_groups`), because the Pushgateway never forgets a group on its own.

Every metric is created against an injected registry (never the global default one), names carry
base units and ``_total`` for counters, and labels are low-cardinality: the sweep name and closed
outcome vocabularies, never run ids, agent ids or parameter values. Nothing here raises on a push or
delete failure: observability never fails a task or a reconcile.

A task's life, as the worker drives it (``url`` from :func:`resolve_pushgateway_url`)::

    metrics = WorkerMetrics(CollectorRegistry(), sweep=name, total_tasks=n_tasks)
    push = functools.partial(push_task_metrics, url, metrics, index=index)
    push()                                              # the group exists from the start
    with PeriodicPusher(push, interval_seconds=DEFAULT_PUSH_INTERVAL_SECONDS):
        ...  # per run: metrics.observe_record(record_fields(...), duration_seconds=...)
    metrics.finish_task(TaskStatus.SUCCEEDED, duration_seconds=elapsed)
    push()                                              # after the periodic thread is joined
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import (
    default_handler,
    delete_from_gateway,
    push_to_gateway,
    start_http_server,
)

from sweep_controller.env import PUSHGATEWAY_ENV

__all__ = [
    "AGENT_BUCKETS",
    "DEFAULT_PUSH_INTERVAL_SECONDS",
    "DEFAULT_PUSH_TIMEOUT_SECONDS",
    "FLIPPED_RATIO_BUCKETS",
    "FLIP_BUCKETS",
    "RECONCILE_DURATION_BUCKETS",
    "RUN_DURATION_BUCKETS",
    "TASK_DURATION_BUCKETS",
    "WORKER_JOB",
    "ControllerMetrics",
    "DeleteResult",
    "ErrorKind",
    "MetricsServer",
    "PeriodicPusher",
    "ReconcileResult",
    "RunOutcome",
    "RunnerMetrics",
    "SweepTaskState",
    "TaskStatus",
    "VoteResult",
    "WorkerMetrics",
    "delete_sweep_groups",
    "push_task_metrics",
    "resolve_pushgateway_url",
    "serve_metrics",
    "task_grouping_key",
]

log = logging.getLogger(__name__)

WORKER_JOB = "govsim-worker"
DEFAULT_PUSH_TIMEOUT_SECONDS = 5.0
DEFAULT_PUSH_INTERVAL_SECONDS = 30.0

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
RECONCILE_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class TaskStatus(StrEnum):
    """How a task (one job index) ended; ``skipped`` means its output already existed."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class RunOutcome(StrEnum):
    """Whether a single simulation run finished or raised."""

    OK = "ok"
    FAILED = "failed"


class VoteResult(StrEnum):
    """The simulated proposal's final outcome."""

    PASSED = "passed"
    REJECTED = "rejected"


class ReconcileResult(StrEnum):
    """Whether one controller reconcile finished or raised."""

    OK = "ok"
    ERROR = "error"


class ErrorKind(StrEnum):
    """Controller error classes: retried later or given up on."""

    TEMPORARY = "temporary"
    PERMANENT = "permanent"


class SweepTaskState(StrEnum):
    """The task counts an orchestrator reports per sweep."""

    TOTAL = "total"
    DONE = "done"
    FAILED = "failed"


def _check_sweep(sweep: str) -> str:
    if not sweep:
        raise ValueError("metrics: sweep label: '' is empty; a sweep name is required")
    return sweep


class WorkerMetrics:
    """One task's metrics; create one per task, over its own fresh ``CollectorRegistry``.

    A registry shared by several tasks would push earlier tasks' counts again under each new
    task's group, and the dashboard would count them twice. The constructor records the task's
    start time and the sweep's task count, and creates every labelled series at zero, so a push at
    task start already carries all families.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        sweep: str,
        total_tasks: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if total_tasks < 1:
            raise ValueError(f"metrics: total_tasks: {total_tasks} is below 1")
        self.registry = registry
        self.sweep = _check_sweep(sweep)
        self._clock = clock
        r, s = registry, ("sweep",)
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
            "Tasks by status (succeeded, failed, skipped) of the index's latest attempt.",
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
            self.runs.labels(sweep, outcome.value)
        for result in VoteResult:
            self.run_outcomes.labels(sweep, result.value)
        for status in TaskStatus:
            self.tasks.labels(sweep, status.value)
        for metric in (self.storage_written, self.storage_retries, self.push_failures):
            metric.labels(sweep)
        self.sweep_tasks.labels(sweep).set(total_tasks)
        self.task_started.labels(sweep).set(clock())

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
        s = self.sweep
        self.runs.labels(s, RunOutcome.OK.value).inc()
        result = VoteResult.PASSED if passed else VoteResult.REJECTED
        self.run_outcomes.labels(s, result.value).inc()
        self.run_duration.labels(s).observe(duration_seconds)
        self.run_agents.labels(s).observe(agents)
        self.run_flips.labels(s).observe(flips)
        self.run_flipped_ratio.labels(s).observe(agents_flipped / agents)
        self.task_progress.labels(s).set(self._clock())

    def observe_record(self, fields: Mapping[str, Any], *, duration_seconds: float) -> None:
        """Record one finished run from its record fields (``records.building.record_fields``).

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
        self.runs.labels(self.sweep, RunOutcome.FAILED.value).inc()

    def add_storage_written(self, nbytes: int) -> None:
        """Add bytes written to the store."""
        if nbytes < 0:
            raise ValueError(f"metrics: nbytes: {nbytes} is negative")
        self.storage_written.labels(self.sweep).inc(nbytes)

    def add_storage_retry(self, count: int = 1) -> None:
        """Count store operations retried after an error."""
        self.storage_retries.labels(self.sweep).inc(count)

    def finish_task(self, status: TaskStatus, *, duration_seconds: float) -> None:
        """Record the task's end; call once, then push one last time."""
        s = self.sweep
        self.tasks.labels(s, TaskStatus(status).value).inc()
        self.task_duration.labels(s).observe(duration_seconds)
        if status is not TaskStatus.FAILED:
            self.task_progress.labels(s).set(self._clock())


class RunnerMetrics:
    """``sweepctl run``'s own view of the sweeps it runs, served on ``--metrics-port``.

    Task-level facts (runs, durations, cascades) are not repeated here: they travel in each
    task's :class:`WorkerMetrics`, so Prometheus never counts them twice.
    """

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
        """Announce a sweep and its task count."""
        _check_sweep(sweep)
        self.sweep_tasks.labels(sweep).set(total_tasks)
        self.tasks_running.labels(sweep).set(0)
        for status in TaskStatus:
            self.tasks.labels(sweep, status.value)

    def task_started(self, sweep: str) -> None:
        """Count a task as running."""
        self.tasks_running.labels(sweep).inc()

    def task_finished(self, sweep: str, status: TaskStatus) -> None:
        """Move a task from running to finished with ``status``."""
        self.tasks_running.labels(sweep).dec()
        self.tasks.labels(sweep, TaskStatus(status).value).inc()


@dataclass(frozen=True)
class DeleteResult:
    """Which task groups :func:`delete_sweep_groups` deleted and which it could not."""

    deleted: tuple[int, ...]
    failed: tuple[int, ...]


class ControllerMetrics:
    """The controller's metrics, served on ``--metrics-port``; the clock times reconciles."""

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
            ("sweep", "state"),
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
            "Pushgateway task groups of finished sweeps deleted, by result (ok or failed).",
            ("result",),
            registry=registry,
        )
        self._phases: set[str] = set()
        self.set_sweeps_by_phase({p: 0 for p in phases})
        for result in ReconcileResult:
            self.reconciles.labels(result.value)
        for kind in ErrorKind:
            self.errors.labels(kind.value)
        for label in ("ok", "failed"):
            self.group_deletions.labels(label)

    def set_sweeps_by_phase(self, counts: Mapping[str, int]) -> None:
        """Set the number of sweeps per phase; phases seen before and absent now drop to 0."""
        self._phases.update(counts)
        for phase in self._phases:
            self.sweeps.labels(phase).set(counts.get(phase, 0))

    def set_sweep_tasks(self, sweep: str, *, total: int, done: int, failed: int) -> None:
        """Set a sweep's task counts."""
        _check_sweep(sweep)
        values = {SweepTaskState.TOTAL: total, SweepTaskState.DONE: done}
        values[SweepTaskState.FAILED] = failed
        for state, value in values.items():
            self.sweep_tasks.labels(sweep, state.value).set(value)

    def forget_sweep(self, sweep: str) -> None:
        """Drop a deleted sweep's series so label sets do not pile up."""
        for state in SweepTaskState:
            with contextlib.suppress(KeyError):
                self.sweep_tasks.remove(sweep, state.value)

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
        """Count the outcome of a :func:`delete_sweep_groups` call."""
        self.group_deletions.labels("ok").inc(len(result.deleted))
        self.group_deletions.labels("failed").inc(len(result.failed))


def task_grouping_key(sweep: str, index: int) -> dict[str, str]:
    """The Pushgateway grouping key of one task: sweep name and job index."""
    return {"sweep": _check_sweep(sweep), "index": str(index)}


def resolve_pushgateway_url(flag: str | None, environ: Mapping[str, str]) -> str | None:
    """The Pushgateway URL from ``--pushgateway`` or else ``PUSHGATEWAY_URL``; None means off."""
    for value in (flag, environ.get(PUSHGATEWAY_ENV)):
        if value is not None and value.strip():
            return value.strip()
    return None


Handler = Callable[[str, str, float | None, list[tuple[str, str]], bytes], Callable[[], None]]


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


@dataclass(frozen=True)
class MetricsServer:
    """A running ``/metrics`` endpoint; ``port`` is the bound port (useful with port 0)."""

    port: int
    _server: Any
    _thread: threading.Thread

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def serve_metrics(
    registry: CollectorRegistry, port: int, *, addr: str = "0.0.0.0"
) -> MetricsServer:
    """Serve ``registry`` on ``http://addr:port/metrics`` from a daemon thread."""
    server, thread = start_http_server(port, addr=addr, registry=registry)
    return MetricsServer(port=int(server.server_port), _server=server, _thread=thread)
