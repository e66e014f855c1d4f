"""The local runner's process plumbing: pool processes, their signals, and in-process execution.

``sweepctl run`` hands task indexes to a process pool, and that pool must behave under signals
and crashes: pool processes ignore SIGINT (the runner decides), stop their task at its next safe
point on SIGTERM, exit at once when idle, and receive SIGTERM when the runner dies (Linux
``PR_SET_PDEATHSIG``), so an orphaned pool never keeps writing. Each pool process opens the
store once and keeps its ``TaskContext`` for every task it runs; the pool forks (Linux) after the
engine is imported, so children need not import it again. With one worker, tasks run in the
runner's own process behind the same ``submit``/``shutdown`` interface, so the sweep loop does
not know which it drives.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.context
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol, TextIO

from sweep_controller.execution.worker import TaskAttempt, TaskContext, Termination, execute_task
from sweep_controller.exit_codes import ExitCode
from sweep_controller.spec.models import Sweep

__all__ = [
    "RunnerSignals",
    "SharedProgress",
    "TaskExecutor",
    "default_workers",
    "start_executor",
]

_PR_SET_PDEATHSIG = 1


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _mp_context() -> multiprocessing.context.BaseContext:
    """Fork where available: children inherit the imported engine instead of importing it."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


class SharedProgress:
    """The runs counter and the stop flag that the runner shares with its pool processes."""

    def __init__(self) -> None:
        self.context = _mp_context()
        self._runs: Any = self.context.Value("q", 0)
        self._stop: Any = self.context.Event()

    def count_run(self) -> None:
        """Count one finished run (called in whichever process ran it)."""
        with self._runs.get_lock():
            self._runs.value += 1

    @property
    def runs(self) -> int:
        """Runs finished so far, over every process."""
        with self._runs.get_lock():
            return int(self._runs.value)

    def request_stop(self) -> None:
        """Ask every running task to stop at its next safe point."""
        self._stop.set()

    def stop_requested(self) -> bool:
        """A stop was requested."""
        return bool(self._stop.is_set())


class TaskExecutor(Protocol):
    """Runs task indexes, in this process or in a pool."""

    def submit(self, index: int) -> Future[TaskAttempt]:
        """Start task ``index``; the future holds its attempt."""
        ...

    def shutdown(self) -> None:
        """Wait for running tasks and drop queued ones."""
        ...


@dataclass
class _TaskRunner:
    """Runs task indexes in one process with its context, progress counter and stop flags."""

    ctx: TaskContext
    pushgateway_url: str | None
    shared: SharedProgress
    should_stop: Callable[[], bool]
    parallelism: int = 1
    """The pool's size: its tasks' metric slots are claimed from ``index mod parallelism``."""

    def __call__(self, index: int) -> TaskAttempt:
        return execute_task(
            self.ctx,
            index,
            wait_for_lease=False,  # the runner comes back to a held task itself
            pushgateway_url=self.pushgateway_url,
            parallelism=self.parallelism,
            should_stop=self.should_stop,
            on_run=self.shared.count_run,
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


def _init_child(
    sweep: Sweep, url: str | None, shared: SharedProgress, parent: int, workers: int
) -> None:
    """Pool initializer: signals, then one TaskContext (and store) for the process's lifetime."""
    global _CHILD, _CHILD_TERM
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    term = _CHILD_TERM = Termination()
    signal.signal(signal.SIGTERM, _child_sigterm)
    _die_with_parent(parent)
    ctx = TaskContext.open(sweep)

    def stop() -> bool:
        return term.requested or shared.stop_requested()

    _CHILD = _TaskRunner(ctx, url, shared, stop, parallelism=workers)


def _child_run(index: int) -> TaskAttempt:
    """Run one task in a pool process; exit at once if SIGTERM (not the runner) stopped it."""
    global _IN_TASK
    assert _CHILD is not None and _CHILD_TERM is not None, "pool initializer did not run"
    _IN_TASK = True
    try:
        attempt = _CHILD(index)
    finally:
        _IN_TASK = False
    if _CHILD_TERM.requested:
        os._exit(ExitCode.TERMINATED)
    return attempt


class _InlineExecutor:
    """Runs each submitted task at once in this process (``--workers 1``)."""

    def __init__(self, run: Callable[[int], TaskAttempt]) -> None:
        self._run = run

    def submit(self, index: int) -> Future[TaskAttempt]:
        future: Future[TaskAttempt] = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(self._run(index))
        except BaseException as exc:
            future.set_exception(exc)
        return future

    def shutdown(self) -> None:
        pass


class _PoolExecutor:
    """A process pool whose processes run ``_child_run``."""

    def __init__(self, pool: ProcessPoolExecutor) -> None:
        self._pool = pool

    def submit(self, index: int) -> Future[TaskAttempt]:
        return self._pool.submit(_child_run, index)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def start_executor(
    ctx: TaskContext, *, workers: int, pushgateway_url: str | None, shared: SharedProgress
) -> TaskExecutor:
    """In-process execution for one worker (with ``ctx`` and its store), else a process pool.

    Pool processes open the spec's output themselves, so a store given in ``ctx`` only reaches
    tasks run in-process.
    """
    if workers == 1:
        return _InlineExecutor(_TaskRunner(ctx, pushgateway_url, shared, shared.stop_requested))
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=shared.context,
        initializer=_init_child,
        initargs=(ctx.sweep, pushgateway_url, shared, os.getpid(), workers),
    )
    return _PoolExecutor(pool)


class RunnerSignals:
    """SIGINT/SIGTERM in the runner: the first requests a stop, a second aborts at once."""

    def __init__(self, shared: SharedProgress, out: TextIO) -> None:
        self.shared, self.out = shared, out
        self.received: str | None = None
        self._saved: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name
        self.shared.request_stop()
        print(
            f"\nsweepctl run: {self.received}: stopping; running tasks stop at their next safe "
            "point (signal again to abort)",
            file=self.out,
            flush=True,
        )

    def install(self) -> None:
        """Handle SIGINT and SIGTERM (main thread only)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._saved[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        """Put back the handlers that ``install`` replaced."""
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
