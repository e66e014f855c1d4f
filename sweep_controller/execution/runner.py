"""The local runner: every unfinished task of a sweep in a process pool, resumable, with progress.

``sweepctl run`` is the embedded default: a laptop instead of a cluster. It runs each task through
the same :func:`sweep_controller.execution.worker.execute_task` that a Job pod runs, so a task
computes,
validates and commits exactly the same records whoever runs it.

- **Resumable.** Tasks are committed atomically, one object pair each, so a runner killed at any
  moment (even ``kill -9``) leaves every task either done or not; running the same command again
  scans the store, skips the done tasks and runs the rest. No run is lost or duplicated.
- **Deterministic.** A task's records depend only on the spec and the index, never on the pool
  size or the order in which tasks finish (only ``run_id`` and ``timestamp`` differ).
- **Failures** follow the Job's policy: a task that fails with a retryable code (1, 75) is tried
  again up to ``backoffLimitPerIndex`` times; exit 2 (bad spec, invalid record) is final at once.
  When failed tasks exceed ``maxFailedIndexes``, no new task starts and the run ends with exit 1;
  ``maxFailedIndexes`` unset means every task runs and any failure fails the run. Failures within
  the budget are reported and tolerated (exit 0).
- **Stopping.** Ctrl-C or SIGTERM sets a shared stop flag: running tasks stop at their next safe
  point without leaving partial objects, no new task starts, and the runner exits 130 or 143. A
  second signal aborts at once. Pool processes ignore SIGINT (the parent decides) and receive
  SIGTERM if the runner dies, so an orphaned pool never keeps writing.
- **Overhead.** The pool forks (Linux) after the engine is imported; each process opens the store
  once and keeps its ``TaskContext`` for every task it runs; the parent only hands out indexes.
"""

from __future__ import annotations

import collections
import ctypes
import multiprocessing
import multiprocessing.context
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol, TextIO

from tqdm import tqdm

from sweep_controller.errors import OutputConflict
from sweep_controller.execution.layout import TaskState, scan_tasks, sweep_uri
from sweep_controller.execution.worker import (
    Outcome,
    TaskContext,
    TaskOutcome,
    Termination,
    execute_task,
)
from sweep_controller.exit_codes import ExitCode
from sweep_controller.metrics import RunnerMetrics, TaskStatus
from sweep_controller.spec.models import Sweep
from sweep_controller.store import Store

__all__ = ["RunSummary", "default_workers", "run_sweep"]

POLL_SECONDS = 0.25
_PR_SET_PDEATHSIG = 1


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class RunSummary:
    """What one ``sweepctl run`` did and how it ended."""

    sweep: str
    uri: str
    n_tasks: int
    n_runs: int
    done_before: int
    """Tasks already done when the run started."""
    completed: tuple[int, ...]
    """Tasks this run completed (or found done when it got to them)."""
    failed: tuple[TaskOutcome, ...]
    """Tasks whose last attempt failed, with that attempt's outcome."""
    not_started: tuple[int, ...]
    """Tasks left undone because the run stopped (signal or failure budget)."""
    attempts: int
    runs_simulated: int
    runs_done: int
    """Runs in done tasks at the end (of ``n_runs``)."""
    max_failed: int | None
    interrupted_by: str | None
    wall_seconds: float

    @property
    def budget_exceeded(self) -> bool:
        """Failed tasks exceed ``maxFailedIndexes`` (unset: any failure exceeds it)."""
        return len(self.failed) > (self.max_failed or 0)

    @property
    def exit_code(self) -> int:
        """0 done or failures in budget; 1 too many failures or tasks left; 130/143 signalled."""
        if self.interrupted_by == "SIGINT":
            return ExitCode.INTERRUPTED
        if self.interrupted_by is not None:
            return ExitCode.TERMINATED
        return ExitCode.FAILURE if self.budget_exceeded or self.not_started else ExitCode.OK


class _Counter(Protocol):
    def get_lock(self) -> Any: ...

    value: int


@dataclass
class _TaskRunner:
    """Runs task indexes in one process with its context, progress counter and stop flags."""

    ctx: TaskContext
    pushgateway_url: str | None
    counter: _Counter
    should_stop: Callable[[], bool]

    def count_run(self) -> None:
        with self.counter.get_lock():
            self.counter.value += 1

    def __call__(self, index: int) -> TaskOutcome:
        return execute_task(
            self.ctx,
            index,
            pushgateway_url=self.pushgateway_url,
            should_stop=self.should_stop,
            on_run=self.count_run,
        )


_CHILD: _TaskRunner | None = None
_CHILD_TERM: Termination | None = None
_IN_TASK = False


def _die_with_parent(parent: int) -> None:
    """Ask Linux for SIGTERM when the runner dies; exit now if it already has."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        os._exit(ExitCode.TERMINATED)


def _child_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM in a pool process: stop the task at its next safe point, or exit if idle.

    An idle pool process waits for work on a pipe that it also holds open, so it would never
    see the runner's death on its own.
    """
    if _IN_TASK and _CHILD_TERM is not None:
        _CHILD_TERM.request(signum, frame)
    else:
        os._exit(ExitCode.TERMINATED)


def _init_child(sweep: Sweep, url: str | None, counter: _Counter, stop: Any, parent: int) -> None:
    """Pool initializer: signals, then one TaskContext (and store) for the process's lifetime."""
    global _CHILD, _CHILD_TERM
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    term = _CHILD_TERM = Termination()
    signal.signal(signal.SIGTERM, _child_sigterm)
    _die_with_parent(parent)
    ctx = TaskContext.open(sweep)
    _CHILD = _TaskRunner(ctx, url, counter, lambda: term.requested or stop.is_set())


def _child_run(index: int) -> TaskOutcome:
    """Run one task in a pool process; exit at once if SIGTERM (not the runner) stopped it."""
    global _IN_TASK
    assert _CHILD is not None and _CHILD_TERM is not None, "pool initializer did not run"
    _IN_TASK = True
    try:
        outcome = _CHILD(index)
    finally:
        _IN_TASK = False
    if _CHILD_TERM.requested:
        os._exit(ExitCode.TERMINATED)
    return outcome


class _InlineExecutor:
    """Runs each submitted call at once in this process (``--workers 1``)."""

    def __init__(self, run: Callable[[int], TaskOutcome]) -> None:
        self._run = run

    def submit(self, index: int) -> Future[TaskOutcome]:
        future: Future[TaskOutcome] = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(self._run(index))
        except BaseException as exc:
            future.set_exception(exc)
        return future

    def shutdown(self) -> None:
        pass


class _PoolExecutor:
    """A process pool that runs ``_child_run``."""

    def __init__(self, pool: ProcessPoolExecutor) -> None:
        self._pool = pool

    def submit(self, index: int) -> Future[TaskOutcome]:
        return self._pool.submit(_child_run, index)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class _Signals:
    """SIGINT/SIGTERM in the runner: the first sets the stop flag, a second aborts."""

    def __init__(self, stop: Any, out: TextIO) -> None:
        self.stop, self.out = stop, out
        self.received: str | None = None
        self._saved: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name
        self.stop.set()
        print(
            f"\nsweepctl run: {self.received}: stopping; running tasks stop at their next safe "
            "point (signal again to abort)",
            file=self.out,
            flush=True,
        )

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._saved[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)


def run_sweep(
    sweep: Sweep,
    *,
    workers: int | None = None,
    pushgateway_url: str | None = None,
    metrics: RunnerMetrics | None = None,
    progress: bool = True,
    store: Store | None = None,
    handle_signals: bool = True,
    out: TextIO = sys.stderr,
) -> RunSummary:
    """Run every task of ``sweep`` that is not done yet; return what happened.

    ``workers`` defaults to all cores; 1 runs tasks in this process. ``store`` overrides the
    spec's output (tests); pool processes then still open the spec's output themselves, so pass
    a store only with ``workers=1``. Raises ``OutputConflict`` before running anything if the
    output prefix holds another sweep's results.
    """
    started = time.perf_counter()
    ctx = TaskContext.open(sweep, store=store)
    plan, name = ctx.plan, sweep.name
    checks = scan_tasks(ctx.store, name, plan.n_tasks, ctx.spec_hash)
    foreign = [c for c in checks if c.state is TaskState.FOREIGN]
    if foreign:
        raise OutputConflict(
            f"{foreign[0].reason} ({len(foreign)} such task(s)): the output prefix "
            f"{sweep_uri(ctx.store, name)} belongs to another sweep; change metadata.name or "
            "spec.output.uri, or delete the old results"
        )
    done_before = [c for c in checks if c.state is TaskState.DONE]
    runs_before = sum(c.manifest.count for c in done_before if c.manifest is not None)
    todo = collections.deque(c.index for c in checks if c.state is not TaskState.DONE)
    n_workers = max(1, min(workers or default_workers(), len(todo) or 1))
    print(
        f"sweepctl run: {name}: {plan.n_tasks} tasks, {plan.n_runs} runs; "
        f"{len(done_before)} done, {len(todo)} to run on {n_workers} worker(s) "
        f"-> {sweep_uri(ctx.store, name)}",
        file=out,
        flush=True,
    )
    mp = _mp_context()
    counter: _Counter = mp.Value("q", 0)
    stop = mp.Event()
    signals = _Signals(stop, out)
    handle_signals = handle_signals and threading.current_thread() is threading.main_thread()
    if handle_signals:
        signals.install()
    if metrics is not None:
        metrics.start_sweep(name, total_tasks=plan.n_tasks)
    executor: _InlineExecutor | _PoolExecutor
    if n_workers == 1:
        runner = _TaskRunner(ctx, pushgateway_url, counter, stop.is_set)
        executor = _InlineExecutor(runner)
    else:
        pool = ProcessPoolExecutor(
            max_workers=n_workers,
            mp_context=mp,
            initializer=_init_child,
            initargs=(sweep, pushgateway_url, counter, stop, os.getpid()),
        )
        executor = _PoolExecutor(pool)
    bar = tqdm(
        total=plan.n_runs,
        initial=runs_before,
        unit="run",
        desc=name,
        file=out,
        disable=not (progress and todo),
        mininterval=0.2 if out.isatty() else 2.0,
        dynamic_ncols=True,
    )
    loop = _Loop(
        executor, todo, bar, counter, stop, metrics, name, out,
        backoff=sweep.spec.backoff_limit_per_index,
        max_failed=sweep.spec.max_failed_indexes,
        in_flight_limit=1 if n_workers == 1 else 2 * n_workers,
        runs_before=runs_before,
    )  # fmt: skip
    try:
        loop.run()
    finally:
        executor.shutdown()
        bar.close()
        if handle_signals:
            signals.restore()
    return RunSummary(
        sweep=name,
        uri=sweep_uri(ctx.store, name),
        n_tasks=plan.n_tasks,
        n_runs=plan.n_runs,
        done_before=len(done_before),
        completed=tuple(sorted(loop.completed)),
        failed=tuple(sorted(loop.failed.values(), key=lambda o: o.index)),
        not_started=tuple(sorted(loop.not_started())),
        attempts=loop.attempts_total,
        runs_simulated=loop.runs_simulated,
        runs_done=runs_before + loop.runs_committed,
        max_failed=sweep.spec.max_failed_indexes,
        interrupted_by=signals.received if stop.is_set() else None,
        wall_seconds=time.perf_counter() - started,
    )


def _mp_context() -> multiprocessing.context.BaseContext:
    """Fork where available: children inherit the imported engine instead of importing it."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


class _Loop:
    """The scheduling loop: hand out indexes, collect outcomes, retry, stop on the budget."""

    def __init__(
        self,
        executor: _InlineExecutor | _PoolExecutor,
        todo: collections.deque[int],
        bar: tqdm[Any],
        counter: _Counter,
        stop: Any,
        metrics: RunnerMetrics | None,
        name: str,
        out: TextIO,
        *,
        backoff: int,
        max_failed: int | None,
        in_flight_limit: int,
        runs_before: int,
    ) -> None:
        self.executor, self.todo, self.bar, self.counter = executor, todo, bar, counter
        self.stop, self.metrics, self.name, self.out = stop, metrics, name, out
        self.backoff, self.max_failed, self.limit = backoff, max_failed, in_flight_limit
        self.runs_before = runs_before
        self.in_flight: dict[Future[TaskOutcome], int] = {}
        self.attempts: collections.Counter[int] = collections.Counter()
        self.completed: list[int] = []
        self.failed: dict[int, TaskOutcome] = {}
        self.interrupted: list[int] = []
        self.runs_committed = 0
        self.runs_simulated = 0
        self.runs_discarded = 0  # simulated by attempts that did not commit
        self.runs_found = 0  # committed by someone else before our attempt
        self.broken = False
        self.halted = False  # failure budget exceeded

    @property
    def attempts_total(self) -> int:
        return sum(self.attempts.values())

    def not_started(self) -> list[int]:
        return [*self.todo, *self.interrupted]

    def _may_start(self) -> bool:
        return not (self.stop.is_set() or self.broken or self.halted)

    def run(self) -> None:
        while True:
            while self.todo and len(self.in_flight) < self.limit and self._may_start():
                index = self.todo.popleft()
                self.attempts[index] += 1
                try:
                    future = self.executor.submit(index)
                except BrokenProcessPool:
                    self.broken = True
                    self.todo.appendleft(index)
                    break
                self.in_flight[future] = index
            if not self.in_flight:
                return
            finished, _ = wait(self.in_flight, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            for future in finished:
                index = self.in_flight.pop(future)
                self._handle(self._outcome_of(future, index))
            self._refresh()

    def _outcome_of(self, future: Future[TaskOutcome], index: int) -> TaskOutcome:
        """The future's outcome; a dead pool process (or a lost result) becomes a failure."""
        try:
            return future.result()
        except BrokenProcessPool as exc:
            self.broken = True
            error = f"a pool process died ({exc}); rerun to resume"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        return TaskOutcome(index, Outcome.FAILED, ExitCode.FAILURE, error=error)

    def _refresh(self) -> None:
        with self.counter.get_lock():
            simulated = self.counter.value
        shown = self.runs_before + self.runs_found + simulated - self.runs_discarded
        if shown > self.bar.n:
            self.bar.update(shown - self.bar.n)
        if self.metrics is not None:
            running = sum(1 for f in self.in_flight if f.running())
            self.metrics.tasks_running.labels(self.name).set(running)

    def _handle(self, outcome: TaskOutcome) -> None:
        index = outcome.index
        self.runs_simulated += outcome.runs
        status = TaskStatus.FAILED
        if outcome.ok:
            status = TaskStatus(outcome.outcome.value)
            self.completed.append(index)
            self.failed.pop(index, None)
            self.runs_committed += outcome.records
            if outcome.outcome is Outcome.SKIPPED:
                self.runs_found += outcome.records
        else:
            self.runs_discarded += outcome.runs
        if outcome.outcome is Outcome.INTERRUPTED:
            self.interrupted.append(index)
        elif outcome.outcome is Outcome.FAILED:
            retry = (
                outcome.exit_code != ExitCode.USAGE
                and self.attempts[index] <= self.backoff
                and not self.broken
            )
            if retry:
                self.todo.append(index)
            else:
                self.failed[index] = outcome
                budget = self.max_failed if self.max_failed is not None else len(self.failed)
                self.halted = self.halted or len(self.failed) > budget
            tqdm.write(
                f"sweepctl run: task {index} failed (attempt {self.attempts[index]}, exit "
                f"{outcome.exit_code}{', will retry' if retry else ''}): {outcome.error}",
                file=self.out,
            )
        if self.metrics is not None:
            self.metrics.tasks.labels(self.name, status.value).inc()
