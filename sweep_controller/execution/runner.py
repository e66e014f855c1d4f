"""The local runner: every unfinished task of a sweep in a process pool, resumable, with progress.

``sweepctl run`` is the embedded default: a laptop instead of a cluster. It runs each task through
the same :func:`sweep_controller.execution.worker.execute_task` that a Job pod runs, so a task
computes, validates and commits exactly the same records whoever runs it. This module is the
sweep loop (what to run, retries, the failure budget, progress); the processes that run the
tasks, and their signals, are ``sweep_controller.execution.pool``.

- **Resumable.** Tasks are committed atomically (data files, then the manifest that names them),
  so a runner killed at any moment (even ``kill -9``) leaves every task either done or not;
  running the same command again scans the store, removes the leftovers of interrupted writes
  (``sweep_controller.execution.cleanup``), skips the done tasks and runs the rest. No run is
  lost or duplicated. A task that was not done resumes after the runs its checkpoint kept
  (``sweep_controller.execution.checkpoint``): Ctrl-C keeps every finished run, ``kill -9``
  those up to the last checkpoint.
- **Shared.** Any number of runners and Job pods may work on one sweep at once. A task whose
  lease another process holds is skipped and looked at again every ``HELD_RECHECK_SECONDS``
  until it is done or free, so the runners split the sweep between them, each ends only when
  every task is done (or failed here), and each says which tasks it ran itself.
- **Deterministic.** A task's records depend only on the spec and the index, never on the pool
  size or the order in which tasks finish (only ``run_id`` and ``timestamp`` differ).
- **Failures** follow the Job's policy: a task that fails with a retryable code (1, 75) is tried
  again up to ``backoffLimitPerIndex`` times; exit 2 (bad spec, invalid record, missing bucket,
  access denied, full disk) is final at once.
  When failed tasks exceed ``maxFailedIndexes``, no new task starts and the run ends with exit 1;
  ``maxFailedIndexes`` unset means every task runs and any failure fails the run. Failures within
  the budget are reported and tolerated (exit 0).
- **A dead store** (circuit breaker). A task attempt that fails because the store does not answer
  at all (``StoreUnreachable``: connection refused or reset, connect or read timeout, after the
  store's own retries) counts towards a streak; any other outcome resets it. After
  ``unreachable_limit`` such attempts in a row (default ``2 * workers``), no new task starts,
  queued ones are taken back or stop before their first store call, running ones stop at their
  next safe point or fail the same way, and the run ends with exit 75 and one line saying so;
  done tasks are kept, so the same command resumes once the store is back. Each task prints at
  most one line for such failures. Such an attempt is the store's failure, not the task's: when
  its retries are spent the task is left for the next run rather than counted against
  ``maxFailedIndexes``, and the run ends with exit 75 even if the breaker never tripped. How
  long this takes is bounded by the store's client settings (docs/storage.md, "A dead store").
- **Stopping.** Ctrl-C or SIGTERM sets a shared stop flag: running tasks stop at their next safe
  point without leaving partial objects, no new task starts, and the runner exits 130 or 143. A
  second signal aborts at once.
- **Growing.** When the prefix holds an earlier plan of this sweep (the same spec with more or
  fewer replicates, or grid values, or random samples: the same runs hash), the runner retires
  it before anything else (``sweep_controller.execution.plans``) and each task copies the runs
  the earlier plans committed instead of simulating them; the summary counts them. A change
  that alters runs (a fixed parameter, the seed, ...) is refused as another sweep's results.
- **Overhead.** The parent only hands out indexes; each pool process keeps one ``TaskContext``.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from tqdm import tqdm

from simulator.records.building import utc_now
from sweep_controller.errors import OutputConflict, ResultsError
from sweep_controller.execution.cleanup import Cleaned, clean_sweep
from sweep_controller.execution.layout import TaskState, scan_store, sweep_uri
from sweep_controller.execution.plans import Retired, retire, retired_names
from sweep_controller.execution.pool import (
    RunnerSignals,
    SharedProgress,
    TaskExecutor,
    default_workers,
    start_executor,
)
from sweep_controller.execution.spec_copy import read_spec_copy, write_spec_copy
from sweep_controller.execution.worker import TaskAttempt, TaskContext
from sweep_controller.exit_codes import ExitCode
from sweep_controller.outcomes import TaskOutcome
from sweep_controller.spec.expand import SweepPlan
from sweep_controller.spec.growth import growth_problem
from sweep_controller.spec.models import Sweep
from sweep_controller.store import Store

if TYPE_CHECKING:  # the metrics extra, only with --metrics-port
    from sweep_controller.metrics import RunnerMetrics

__all__ = ["RunSummary", "run_sweep"]

POLL_SECONDS = 0.25
HELD_RECHECK_SECONDS = 1.0
"""How long a task held by another process waits before this runner looks at it again."""


@dataclass(frozen=True)
class RunSummary:
    """What one ``sweepctl run`` did and how it ended."""

    sweep: str
    uri: str
    n_tasks: int
    n_runs: int
    done_before: int
    """Tasks already done when the run started."""
    ran: tuple[int, ...]
    """Tasks this run simulated and committed itself."""
    done_by_others: tuple[int, ...]
    """Tasks found done when this run got to them: committed by another process meanwhile."""
    failed: tuple[TaskAttempt, ...]
    """Tasks whose last attempt failed, with that attempt."""
    not_started: int
    """How many tasks were left undone because the run stopped (signal or failure budget)."""
    attempts: int
    runs_simulated: int
    runs_done: int
    """Runs in done tasks at the end (of ``n_runs``)."""
    max_failed: int | None
    interrupted_by: str | None
    wall_seconds: float
    store_unreachable: str | None = None
    """Why the circuit breaker stopped the run (the last unreachable error), if it did."""
    cleaned: Cleaned = field(default_factory=Cleaned)
    """Leftovers of interrupted or superseded writes removed when the run started."""
    held_seen: int = 0
    """Tasks that another process held when this run first got to them."""
    runs_resumed: int = 0
    """Runs taken from the checkpoints of unfinished tasks instead of simulated again."""
    runs_reused: int = 0
    """Runs copied from an earlier plan's records instead of simulated."""
    retired: Retired = field(default_factory=Retired)
    """Earlier plans' manifests found, and copied into ``plans/`` by this run."""

    @property
    def completed(self) -> tuple[int, ...]:
        """Tasks done during this run, by it or by others."""
        return tuple(sorted((*self.ran, *self.done_by_others)))

    @property
    def budget_exceeded(self) -> bool:
        """Failed tasks exceed ``maxFailedIndexes`` (unset: any failure exceeds it)."""
        return len(self.failed) > (self.max_failed or 0)

    @property
    def exit_code(self) -> int:
        """0 done or failures in budget; 1 too many failures or tasks left; 75 the store is
        unreachable; 130/143 signalled."""
        if self.interrupted_by == "SIGINT":
            return ExitCode.INTERRUPTED
        if self.interrupted_by is not None:
            return ExitCode.TERMINATED
        if self.store_unreachable is not None:
            return ExitCode.TRANSIENT
        return ExitCode.FAILURE if self.budget_exceeded or self.not_started else ExitCode.OK


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
    unreachable_limit: int | None = None,
    tasks: range | None = None,
    label: str = "",
) -> RunSummary:
    """Run every task of ``sweep`` that is not done yet; return what happened.

    ``tasks`` limits the run to those task indexes (one round of an adaptive sweep; the summary
    then counts them alone), and ``label`` names them in what is printed (``round 2/5``).

    ``workers`` defaults to all cores; 1 runs tasks in this process. ``store`` overrides the
    spec's output (tests); pool processes then still open the spec's output themselves, so pass
    a store only with ``workers=1``. ``unreachable_limit`` task attempts in a row that cannot
    reach the store stop the run (default ``2 * workers``). Raises ``OutputConflict``
    before running anything if the output prefix holds another sweep's results.
    """
    started = time.perf_counter()
    ctx = TaskContext.open(sweep, store=store)
    plan, name = ctx.plan, sweep.name
    scan = scan_store(
        ctx.store, name, plan.n_tasks, ctx.spec_hash, runs_hash=ctx.runs_hash, all_manifests=True
    )
    foreign = scan.with_state(TaskState.FOREIGN)
    if foreign:
        problem = _growth_problem(ctx.store, sweep)
        raise OutputConflict(
            problem
            or f"{foreign[0].reason} ({len(foreign)} such task(s)): the output prefix "
            f"{sweep_uri(ctx.store, name)} belongs to another sweep; change metadata.name or "
            "spec.output.uri, or delete the old results"
        )
    # An earlier plan of this sweep is retired before any task of this one commits.
    retired = retire(ctx.store, sweep, ctx.identity, scan) if ctx.identity else Retired()
    write_spec_copy(ctx.store, sweep)  # the results folder describes itself
    ctx.spec_copied = True
    selected = range(plan.n_tasks) if tasks is None else tasks
    done_before = [c for c in scan.with_state(TaskState.DONE) if c.index in selected]
    runs_before = sum(c.manifest.count for c in done_before if c.manifest is not None)
    keep = retired_names(ctx.store, name) if ctx.runs_hash is not None else set()
    cleaned = clean_sweep(ctx.store, name, scan, utc_now(), keep=keep)
    fresh = (i for i in selected if scan.check(i).state is not TaskState.DONE)
    todo = _Queue(fresh, len(selected) - len(done_before))
    n_tasks = len(selected)
    n_runs = _runs_of(plan, selected)
    n_workers = max(1, min(workers or default_workers(), len(todo) or 1))
    title = f"{name} {label}" if label else name
    print(
        f"sweepctl run: {title}: {n_tasks} tasks, {n_runs} runs; "
        f"{len(done_before)} done, {len(todo)} to run on {n_workers} worker(s) "
        f"-> {sweep_uri(ctx.store, name)}",
        file=out,
        flush=True,
    )
    if retired.manifests:
        print(
            f"sweepctl run: {name}: {retired.manifests} task(s) of an earlier plan of this sweep "
            f"retired to {sweep_uri(ctx.store, name)}plans/; their runs are reused",
            file=out,
            flush=True,
        )
    if cleaned.total:
        print(
            f"sweepctl run: {name}: removed {cleaned.partial} partial write(s) and "
            f"{cleaned.unnamed} unnamed data file(s) left by earlier attempts",
            file=out,
            flush=True,
        )
    shared = SharedProgress()
    signals = RunnerSignals(shared, out)
    handle_signals = handle_signals and threading.current_thread() is threading.main_thread()
    if handle_signals:
        signals.install()
    if metrics is not None:
        metrics.start_sweep(name, total_tasks=plan.n_tasks)
    executor = start_executor(
        ctx, workers=n_workers, pushgateway_url=pushgateway_url, shared=shared
    )
    bar = tqdm(
        total=n_runs,
        initial=runs_before,
        unit="run",
        desc=title,
        file=out,
        disable=not (progress and todo),
        mininterval=0.2 if out.isatty() else 2.0,
        dynamic_ncols=True,
    )
    loop = _Loop(
        executor, todo, bar, shared, metrics, name, out,
        backoff=sweep.spec.backoff_limit_per_index,
        max_failed=sweep.spec.max_failed_indexes,
        in_flight_limit=1 if n_workers == 1 else 2 * n_workers,
        runs_before=runs_before,
        unreachable_limit=unreachable_limit or 2 * n_workers,
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
        n_tasks=n_tasks,
        n_runs=n_runs,
        done_before=len(done_before),
        ran=tuple(sorted(loop.ran)),
        done_by_others=tuple(sorted(loop.found)),
        failed=tuple(sorted(loop.failed.values(), key=lambda o: o.index)),
        not_started=loop.not_started(),
        attempts=loop.attempts_total,
        runs_simulated=loop.runs_simulated,
        runs_resumed=loop.runs_resumed,
        runs_reused=loop.runs_reused,
        retired=retired,
        runs_done=runs_before + loop.runs_committed,
        max_failed=sweep.spec.max_failed_indexes,
        interrupted_by=signals.received if shared.stop_requested() else None,
        wall_seconds=time.perf_counter() - started,
        store_unreachable=loop.store_down or loop.left_unreachable,
        cleaned=cleaned,
        held_seen=len(loop.held_seen),
    )


def _lost(attempt: TaskAttempt) -> int:
    """Runs an attempt that did not commit simulated (or copied) and did not keep in a
    checkpoint."""
    return attempt.runs + attempt.reused - max(0, attempt.checkpointed - attempt.resumed)


def _growth_problem(store: Store, sweep: Sweep) -> str | None:
    """Why the spec copy's sweep cannot grow into ``sweep`` (one line), if that is the reason
    its results are another sweep's."""
    try:
        old = read_spec_copy(store, sweep.name)
    except ResultsError:
        return None
    return growth_problem(old, sweep) if old is not None else None


def _runs_of(plan: SweepPlan, tasks: range) -> int:
    """How many runs the tasks of ``tasks`` (consecutive indexes) perform."""
    if not tasks:
        return 0
    return plan.task_positions(tasks[-1]).stop - plan.task_positions(tasks[0]).start


class _Queue:
    """The tasks still to run: retries first, then the not-done tasks in index order, lazily.

    A sweep may have up to 10^12 tasks, so the fresh indexes are never listed: they come from
    ``TaskScan.not_done`` one at a time, and only retries are held.
    """

    def __init__(self, fresh: Iterator[int], count: int) -> None:
        self._fresh = fresh
        self._left = count
        self._retry: collections.deque[int] = collections.deque()

    def __len__(self) -> int:
        return len(self._retry) + self._left

    def popleft(self) -> int:
        if self._retry:
            return self._retry.popleft()
        self._left -= 1
        return next(self._fresh)

    def append(self, index: int) -> None:
        """Run ``index`` again after the others queued for a retry."""
        self._retry.append(index)

    def appendleft(self, index: int) -> None:
        """Run ``index`` next (it was taken but could not be submitted)."""
        self._retry.appendleft(index)


class _Loop:
    """The scheduling loop: hand out indexes, collect outcomes, retry, stop on the budget."""

    def __init__(
        self,
        executor: TaskExecutor,
        todo: _Queue,
        bar: tqdm[Any],
        shared: SharedProgress,
        metrics: RunnerMetrics | None,
        name: str,
        out: TextIO,
        *,
        backoff: int,
        max_failed: int | None,
        in_flight_limit: int,
        runs_before: int,
        unreachable_limit: int,
    ) -> None:
        self.executor, self.todo, self.bar, self.shared = executor, todo, bar, shared
        self.metrics, self.name, self.out = metrics, name, out
        self.backoff, self.max_failed, self.limit = backoff, max_failed, in_flight_limit
        self.runs_before = runs_before
        self.in_flight: dict[Future[TaskAttempt], int] = {}
        self.attempts: collections.Counter[int] = collections.Counter()
        self.ran: list[int] = []
        self.found: list[int] = []
        self.held: dict[int, float] = {}  # index -> when to look again (monotonic)
        self.held_seen: set[int] = set()
        self.failed: dict[int, TaskAttempt] = {}
        self.interrupted: list[int] = []
        self.runs_committed = 0
        self.runs_simulated = 0
        self.runs_discarded = 0  # simulated by attempts that did not commit nor keep them
        self.runs_resumed = 0  # taken from checkpoints
        self.runs_reused = 0  # copied from an earlier plan
        self.runs_found = 0  # committed by someone else before our attempt
        self.broken = False
        self.halted = False  # failure budget exceeded
        self.unreachable_limit = unreachable_limit
        self.unreachable_streak = 0  # attempts in a row that could not reach the store
        self.unreachable_told: set[int] = set()  # tasks whose unreachable failure was printed
        self.store_down: str | None = None  # the breaker's reason, once it has tripped
        self.left_unreachable: str | None = None  # last error of a task left for the store

    @property
    def attempts_total(self) -> int:
        return sum(self.attempts.values())

    def not_started(self) -> int:
        return len(self.todo) + len(self.held) + len(self.interrupted)

    def _may_start(self) -> bool:
        return not (self.shared.stop_requested() or self.broken or self.halted or self.store_down)

    def _release_held(self) -> float | None:
        """Queue the held tasks that are due; seconds until the next is due (None: none held)."""
        now = time.monotonic()
        for index, due in sorted(self.held.items(), key=lambda item: item[1]):
            if due <= now:
                del self.held[index]
                self.todo.append(index)
        return min(self.held.values()) - now if self.held else None

    def run(self) -> None:
        while True:
            next_due = self._release_held()
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
                if next_due is None or not self._may_start():
                    return
                self._refresh()
                time.sleep(min(POLL_SECONDS, max(next_due, 0.0)))
                continue
            finished, _ = wait(self.in_flight, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            for future in finished:
                index = self.in_flight.pop(future)
                self._handle(self._attempt_of(future, index))
            self._refresh()

    def _attempt_of(self, future: Future[TaskAttempt], index: int) -> TaskAttempt:
        """The future's attempt; a dead pool process (or a lost result) becomes a failure."""
        try:
            return future.result()
        except BrokenProcessPool as exc:
            self.broken = True
            error = f"a pool process died ({exc}); rerun to resume"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        return TaskAttempt(index, TaskOutcome.FAILED, ExitCode.FAILURE, error=error)

    def _refresh(self) -> None:
        simulated = self.shared.runs
        shown = (
            self.runs_before + self.runs_found + self.runs_resumed + simulated - self.runs_discarded
        )
        if shown > self.bar.n:
            self.bar.update(shown - self.bar.n)
        if self.metrics is not None:
            running = sum(1 for f in self.in_flight if f.running())
            self.metrics.set_tasks_running(self.name, running)

    def _unqueue(self) -> None:
        """Take back the submitted tasks that no process has started; they stay not started."""
        for future, index in list(self.in_flight.items()):
            if future.cancel():
                del self.in_flight[future]
                self.attempts[index] -= 1
                self.todo.appendleft(index)

    def _count_unreachable(self, attempt: TaskAttempt) -> None:
        """Track attempts in a row that could not reach the store; trip the breaker at the limit."""
        if not attempt.unreachable:
            if attempt.outcome is not TaskOutcome.INTERRUPTED:
                self.unreachable_streak = 0
            return
        self.unreachable_streak += 1
        if self.store_down is None and self.unreachable_streak >= self.unreachable_limit:
            self.store_down = attempt.error or "the store does not answer"
            self._unqueue()
            self.shared.request_stop()  # tasks still starting stop before touching the store
            tqdm.write(
                f"sweepctl run: stopping: the store is unreachable ({self.unreachable_streak} "
                f"task attempts in a row could not reach it; last: {self.store_down}); no new "
                "task starts",
                file=self.out,
            )

    def _handle(self, attempt: TaskAttempt) -> None:
        index, outcome = attempt.index, attempt.outcome
        if outcome is TaskOutcome.HELD:  # not an attempt: another process is on it
            self.attempts[index] -= 1
            self.held[index] = time.monotonic() + HELD_RECHECK_SECONDS
            self.held_seen.add(index)
            return
        self.runs_simulated += attempt.runs
        self.runs_reused += attempt.reused
        self.runs_resumed += attempt.resumed
        self._count_unreachable(attempt)
        if attempt.unreachable and self.store_down is not None:
            # The breaker is open: the task is left for the next run, and the breaker's line
            # has said why.
            self.runs_discarded += _lost(attempt)
            self.interrupted.append(index)
            if self.metrics is not None:
                self.metrics.record_task_finished(self.name, outcome)
            return
        if outcome.done:
            (self.found if outcome is TaskOutcome.SKIPPED else self.ran).append(index)
            self.failed.pop(index, None)
            self.runs_committed += attempt.records
            if outcome is TaskOutcome.SKIPPED:
                self.runs_found += attempt.records
        else:
            self.runs_discarded += _lost(attempt)
        if outcome is TaskOutcome.INTERRUPTED:
            self.interrupted.append(index)
        elif outcome is TaskOutcome.FAILED:
            retry = (
                attempt.exit_code != ExitCode.PERMANENT
                and self.attempts[index] <= self.backoff
                and not self.broken
            )
            if retry:
                self.todo.append(index)
            elif attempt.unreachable:
                # The store's failure, not the task's: left for the next run, outside the budget.
                self.interrupted.append(index)
                self.left_unreachable = attempt.error or "the store does not answer"
            else:
                self.failed[index] = attempt
                budget = self.max_failed if self.max_failed is not None else len(self.failed)
                self.halted = self.halted or len(self.failed) > budget
            if not (attempt.unreachable and index in self.unreachable_told):
                tqdm.write(
                    f"sweepctl run: task {index} failed (attempt {self.attempts[index]}, exit "
                    f"{attempt.exit_code}{', will retry' if retry else ''}): {attempt.error}",
                    file=self.out,
                )
            if attempt.unreachable:
                self.unreachable_told.add(index)
        if self.metrics is not None:
            self.metrics.record_task_finished(self.name, outcome)
