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
  lost or duplicated.
- **Shared.** Any number of runners and Job pods may work on one sweep at once. A task whose
  lease another process holds is skipped and looked at again every ``HELD_RECHECK_SECONDS``
  until it is done or free, so the runners split the sweep between them, each ends only when
  every task is done (or failed here), and each says which tasks it ran itself.
- **Deterministic.** A task's records depend only on the spec and the index, never on the pool
  size or the order in which tasks finish (only ``run_id`` and ``timestamp`` differ).
- **Failures** follow the Job's policy: a task that fails with a retryable code (1, 75) is tried
  again up to ``backoffLimitPerIndex`` times; exit 2 (bad spec, invalid record) is final at once.
  When failed tasks exceed ``maxFailedIndexes``, no new task starts and the run ends with exit 1;
  ``maxFailedIndexes`` unset means every task runs and any failure fails the run. Failures within
  the budget are reported and tolerated (exit 0).
- **Stopping.** Ctrl-C or SIGTERM sets a shared stop flag: running tasks stop at their next safe
  point without leaving partial objects, no new task starts, and the runner exits 130 or 143. A
  second signal aborts at once.
- **Overhead.** The parent only hands out indexes; each pool process keeps one ``TaskContext``.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, TextIO

from tqdm import tqdm

from simulator.records.building import utc_now
from sweep_controller.errors import OutputConflict
from sweep_controller.execution.cleanup import Cleaned, clean_sweep
from sweep_controller.execution.layout import TaskState, scan_tasks, sweep_uri
from sweep_controller.execution.pool import (
    RunnerSignals,
    SharedProgress,
    TaskExecutor,
    default_workers,
    start_executor,
)
from sweep_controller.execution.worker import TaskAttempt, TaskContext
from sweep_controller.exit_codes import ExitCode
from sweep_controller.metrics import RunnerMetrics
from sweep_controller.outcomes import TaskOutcome
from sweep_controller.spec.models import Sweep
from sweep_controller.store import Store

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
    not_started: tuple[int, ...]
    """Tasks left undone because the run stopped (signal or failure budget)."""
    attempts: int
    runs_simulated: int
    runs_done: int
    """Runs in done tasks at the end (of ``n_runs``)."""
    max_failed: int | None
    interrupted_by: str | None
    wall_seconds: float
    cleaned: Cleaned = field(default_factory=Cleaned)
    """Leftovers of interrupted or superseded writes removed when the run started."""
    held_seen: int = 0
    """Tasks that another process held when this run first got to them."""

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
        """0 done or failures in budget; 1 too many failures or tasks left; 130/143 signalled."""
        if self.interrupted_by == "SIGINT":
            return ExitCode.INTERRUPTED
        if self.interrupted_by is not None:
            return ExitCode.TERMINATED
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
    cleaned = clean_sweep(ctx.store, name, checks, utc_now())
    todo = collections.deque(c.index for c in checks if c.state is not TaskState.DONE)
    n_workers = max(1, min(workers or default_workers(), len(todo) or 1))
    print(
        f"sweepctl run: {name}: {plan.n_tasks} tasks, {plan.n_runs} runs; "
        f"{len(done_before)} done, {len(todo)} to run on {n_workers} worker(s) "
        f"-> {sweep_uri(ctx.store, name)}",
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
        executor, todo, bar, shared, metrics, name, out,
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
        ran=tuple(sorted(loop.ran)),
        done_by_others=tuple(sorted(loop.found)),
        failed=tuple(sorted(loop.failed.values(), key=lambda o: o.index)),
        not_started=tuple(sorted(loop.not_started())),
        attempts=loop.attempts_total,
        runs_simulated=loop.runs_simulated,
        runs_done=runs_before + loop.runs_committed,
        max_failed=sweep.spec.max_failed_indexes,
        interrupted_by=signals.received if shared.stop_requested() else None,
        wall_seconds=time.perf_counter() - started,
        cleaned=cleaned,
        held_seen=len(loop.held_seen),
    )


class _Loop:
    """The scheduling loop: hand out indexes, collect outcomes, retry, stop on the budget."""

    def __init__(
        self,
        executor: TaskExecutor,
        todo: collections.deque[int],
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
        self.runs_discarded = 0  # simulated by attempts that did not commit
        self.runs_found = 0  # committed by someone else before our attempt
        self.broken = False
        self.halted = False  # failure budget exceeded

    @property
    def attempts_total(self) -> int:
        return sum(self.attempts.values())

    def not_started(self) -> list[int]:
        return [*self.todo, *self.held, *self.interrupted]

    def _may_start(self) -> bool:
        return not (self.shared.stop_requested() or self.broken or self.halted)

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
        shown = self.runs_before + self.runs_found + simulated - self.runs_discarded
        if shown > self.bar.n:
            self.bar.update(shown - self.bar.n)
        if self.metrics is not None:
            running = sum(1 for f in self.in_flight if f.running())
            self.metrics.set_tasks_running(self.name, running)

    def _handle(self, attempt: TaskAttempt) -> None:
        index, outcome = attempt.index, attempt.outcome
        if outcome is TaskOutcome.HELD:  # not an attempt: another process is on it
            self.attempts[index] -= 1
            self.held[index] = time.monotonic() + HELD_RECHECK_SECONDS
            self.held_seen.add(index)
            return
        self.runs_simulated += attempt.runs
        if outcome.done:
            (self.found if outcome is TaskOutcome.SKIPPED else self.ran).append(index)
            self.failed.pop(index, None)
            self.runs_committed += attempt.records
            if outcome is TaskOutcome.SKIPPED:
                self.runs_found += attempt.records
        else:
            self.runs_discarded += attempt.runs
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
            else:
                self.failed[index] = attempt
                budget = self.max_failed if self.max_failed is not None else len(self.failed)
                self.halted = self.halted or len(self.failed) > budget
            tqdm.write(
                f"sweepctl run: task {index} failed (attempt {self.attempts[index]}, exit "
                f"{attempt.exit_code}{', will retry' if retry else ''}): {attempt.error}",
                file=self.out,
            )
        if self.metrics is not None:
            self.metrics.record_task_finished(self.name, outcome)
