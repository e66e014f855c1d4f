"""The worker: what one task (one Kubernetes Job index) runs, for `sweepctl worker` and `run`.

A task is a fixed slice of a sweep's runs (``SweepPlan.task_runs``). The worker simulates each run,
serialises its v0.5 record (``simulator.records.building.record_fields``; per-agent records off:
``agent_records.mode`` is ``none``, see docs/sweeps.md), validates every record with
``simulator.records.validate.check_json`` (strict schema, then tallies) exactly as it will be
stored, and appends it to a spool (``sweep_controller.execution.spool``: bounded memory, the rest
in a temporary file, hashed as it is written). It then uploads the task's data files (the JSONL,
and any side files) and its manifest (the commit marker) through the store (see
``sweep_controller.execution.layout`` for the keys). With ``spec.traces: parquet`` each run also
keeps its flip trace; the trace's bytes are checked against their record
(``simulator.records.trace_rows.check_trace``) and uploaded, under a key named by the run's id,
before the JSONL that names them. ``sweepctl worker`` runs one task in a process of its own;
``sweepctl run`` calls the same :func:`execute_task` from a process pool.
How an attempt ended is a ``sweep_controller.outcomes.TaskOutcome``.

Distributed semantics: results are written *at least once*, and a task is never corrupt.

- A task's runs, seeds and parameters are a pure function of the spec and the index; two attempts
  produce the same records except for ``run_id`` and ``timestamp``.
- Commit (``sweep_controller.execution.commit``): the data files go up under names no other
  commit uses (``NNNNNN.<commit>.jsonl``, ``<commit>`` minted just before the upload), then the
  manifest that names them is written atomically over the old one. A reader trusts only the
  files the manifest names, so it sees the old commit, none, or the new one, whatever other
  attempts do at the same time; an attempt that dies before its manifest leaves unnamed files
  that no reader looks at and ``sweepctl run`` removes once they are old. Racing commits both
  complete; the last manifest wins.
- Lease: before simulating, the attempt takes the task's lease
  (``sweep_controller.execution.lease``), renews it while it works and releases it at the end.
  When another attempt holds it live, the local runner's attempt ends at once as ``held`` (the
  runner comes back to it), and ``sweepctl worker`` waits until it is released or expires. After
  taking the lease the attempt looks at the task again, so it never redoes a task that the
  previous holder committed.
- Before it simulates its first task, a worker process stores the spec beside the results
  (``sweep_controller.execution.spec_copy``: a Job pod has no runner to do it), so that the
  results folder describes itself.
- A task that is already done is skipped (exit 0), so a retried pod, a duplicate pod or a re-run
  of ``sweepctl run`` repeats no work once the task has committed.
- A manifest with another spec hash means that the output prefix belongs to another sweep: the
  worker refuses to touch it (``OutputConflict``, exit 2), unless it has this sweep's runs hash:
  then it is an earlier plan of this sweep (``sweep_controller.execution.plans``), and the
  worker retires the spec copy before replacing it and its task's earlier manifest before
  simulating, and copies each run that a retired plan committed instead of simulating it.

Stopping: a SIGTERM handler (:class:`Termination`) only sets a flag. The worker looks at it before
each run, between upload chunks and before the upload starts, then raises ``TaskInterrupted``
(exit 143) without committing. Stopped while simulating, it first keeps the runs it finished in
the task's checkpoint (``sweep_controller.execution.checkpoint``, also written every
``CHECKPOINT_SECONDS`` of simulation), and the next attempt simulates only the runs after them.
Once the data files are up the manifest is written regardless (a short commit). A run in progress
is not cut short, so very large runs delay the stop by up to one run.

Exit codes (``sweep_controller.exit_codes.ExitCode``, chosen by ``exit_code_for``): 0 done or
skipped; 2 permanent, retrying cannot help (bad spec, index out of range, a simulation parameter
error, invalid record, output conflict, missing bucket, access denied or bad credentials, full
disk, read-only file system); 75 transient storage failure after the store's retries (timeouts,
5xx, throttling, the store unreachable); 143 stopped by SIGTERM; 1 anything else (counted against
``backoffLimitPerIndex``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import signal
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING, Any, Self

from pydantic_core import to_json

import simulator
from simulator.errors import SimulatorError
from simulator.model import simulate
from simulator.params import AgentRecords, Traces
from simulator.records.building import record_fields, utc_now
from simulator.records.io import trace_parquet, traces_ref
from simulator.records.trace_rows import check_trace
from simulator.records.validate import check_json, parse_record
from sweep_controller.errors import (
    OutputConflict,
    StorageError,
    StoreUnreachable,
    SweepError,
    TaskError,
    TaskInterrupted,
    TransientStorageError,
)
from sweep_controller.execution.checkpoint import CHECKPOINT_SECONDS, Checkpointer
from sweep_controller.execution.commit import TaskFile, commit_task, stop_point
from sweep_controller.execution.layout import (
    RECORDS,
    FailureMarker,
    TaskCheck,
    TaskState,
    check_task,
    failure_key,
    sweep_uri,
    task_trace_path,
    trace_key,
)
from sweep_controller.execution.lease import Holder, TaskLease
from sweep_controller.execution.plans import (
    PlanIdentity,
    Reuse,
    identify,
    retire_manifest,
    retire_spec_copy,
)
from sweep_controller.execution.rounds import round_points_loader
from sweep_controller.execution.spec_copy import write_spec_copy
from sweep_controller.execution.spool import Spool
from sweep_controller.exit_codes import ExitCode, exit_code_for
from sweep_controller.metrics.config import DEFAULT_PUSH_INTERVAL_SECONDS
from sweep_controller.outcomes import TaskOutcome
from sweep_controller.spec.expand import SweepPlan
from sweep_controller.spec.models import Method, Sweep
from sweep_controller.store import Store, open_store

if TYPE_CHECKING:  # the metrics extra; imported only when a Pushgateway is given
    from sweep_controller.execution.slot import SlotReporter
    from sweep_controller.metrics import WorkerMetrics

__all__ = [
    "AGENT_RECORDS",
    "LEASE_POLL_SECONDS",
    "VALIDATE_BATCH",
    "TaskAttempt",
    "TaskContext",
    "Termination",
    "execute_task",
]

log = logging.getLogger(__name__)

AGENT_RECORDS = AgentRecords.NONE
"""Sweep records carry no per-agent records: task objects stay small (see docs/sweeps.md)."""
LEASE_POLL_SECONDS = 2.0
"""How often ``sweepctl worker`` looks again at a task whose lease another attempt holds."""
VALIDATE_BATCH = 64
"""Runs simulated, then serialised and validated together, before their lines are spooled."""


@dataclass(frozen=True)
class TaskAttempt:
    """One attempt at a task and how it ended (picklable: it crosses process boundaries)."""

    index: int
    outcome: TaskOutcome
    exit_code: int
    runs: int = 0
    """Runs this attempt simulated (0 when skipped)."""
    reused: int = 0
    """Runs this attempt copied from an earlier plan's records instead of simulating them."""
    resumed: int = 0
    """Runs this attempt took from the task's checkpoint instead of simulating them."""
    checkpointed: int = 0
    """Runs the task's checkpoint holds when this attempt ended without committing."""
    records: int = 0
    """Records the task holds once done (its manifest's count); 0 if not done."""
    bytes_written: int = 0
    duration_seconds: float = 0.0
    error: str | None = None
    unreachable: bool = False
    """The attempt failed because the store did not answer at all (``StoreUnreachable``)."""
    held_by: str | None = None
    """Who held the task's lease, when the outcome is ``held``."""


class Termination:
    """A SIGTERM flag: the handler only records the request; the worker polls it.

    Call the instance to read the flag; ``install`` makes it the process's SIGTERM handler.
    """

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def request(self, signum: int = signal.SIGTERM, frame: FrameType | None = None) -> None:
        """Record a stop request (the signal handler)."""
        if not self.requested:
            log.warning("%s received: stopping at the next safe point", signal.Signals(signum).name)
        self.requested = True

    def install(self) -> Self:
        """Handle SIGTERM with ``request`` (main thread only)."""
        signal.signal(signal.SIGTERM, self.request)
        return self


@dataclass
class TaskContext:
    """What every task of one sweep shares in a process: spec, plan, store and spec hash.

    Build it once per process (opening an S3 store creates a client), then run many tasks.
    """

    sweep: Sweep
    plan: SweepPlan
    store: Store
    spec_hash: str
    identity: PlanIdentity | None = None
    """The hashes the results carry (default: this spec's, content-seeded)."""
    code_version: str = field(default=simulator.__version__)
    spec_copied: bool = False
    """The spec's copy beside the results was checked (and written if needed) by this process."""
    checkpoint_seconds: float = CHECKPOINT_SECONDS
    """Seconds of simulation between two checkpoints of a task (``execution.checkpoint``)."""

    @classmethod
    def open(cls, sweep: Sweep, *, store: Store | None = None) -> TaskContext:
        """The context of ``sweep``, with its output store opened unless one is given.

        An adaptive sweep's plan reads each round's points from the store (the worker never
        plans a round: ``sweep_controller.execution.rounds``).
        """
        store = store if store is not None else open_store(sweep.spec.output.uri)
        points = round_points_loader(store, sweep) if sweep.spec.method is Method.OPTUNA else None
        identity = identify(store, sweep)
        return cls(
            sweep=sweep,
            plan=SweepPlan(sweep, round_points=points, legacy_seeds=identity.legacy),
            store=store,
            spec_hash=identity.spec_hash,
            identity=identity,
        )

    @property
    def runs_hash(self) -> str | None:
        """The runs hash of a plan that may grow (None otherwise)."""
        return self.identity.runs_hash if self.identity is not None else None

    @functools.cached_property
    def reuse(self) -> Reuse | None:
        """The retired plans' runs (None when the plan cannot grow or writes traces: a trace's
        rows name their run's index, so traced runs are simulated again)."""
        if self.runs_hash is None or self.sweep.spec.traces is Traces.PARQUET:
            return None
        return Reuse(self.store, self.name, self.runs_hash)

    @property
    def name(self) -> str:
        """The sweep's name."""
        return self.sweep.name


@dataclass
class _Progress:
    """Mutable progress of one attempt, read when it ends however it ends."""

    runs: int = 0
    reused: int = 0
    resumed: int = 0
    checkpointed: int = 0
    records: int = 0
    bytes_written: int = 0
    skipped: bool = False
    held_by: str | None = None


def _look(ctx: TaskContext, index: int, progress: _Progress) -> TaskCheck | None:
    """The task's state; None (and ``progress.skipped``) when it is done already."""
    check = check_task(ctx.store, ctx.name, index, ctx.spec_hash, runs_hash=ctx.runs_hash)
    if check.state is TaskState.FOREIGN:
        raise OutputConflict(
            f"{check.reason}: the output prefix {sweep_uri(ctx.store, ctx.name)} belongs to "
            "another sweep; change metadata.name or spec.output.uri, or delete the old results"
        )
    if check.state is TaskState.DONE:
        assert check.manifest is not None
        progress.skipped, progress.records = True, check.manifest.count
        return None
    return check


def _wait(seconds: float, should_stop: Callable[[], bool]) -> None:
    """Sleep ``seconds``, looking at ``should_stop`` every 0.2 s."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        stop_point(should_stop)
        time.sleep(min(left, 0.2))
    stop_point(should_stop)


def _claim(
    ctx: TaskContext,
    index: int,
    progress: _Progress,
    lease: TaskLease,
    *,
    wait_for_lease: bool,
    should_stop: Callable[[], bool],
) -> TaskCheck | None:
    """Take the task's lease; the task's state once held, None when done or held elsewhere."""
    check = _look(ctx, index, progress)
    if check is None:
        return None
    announced = False
    while (holder := lease.acquire()) is not None:
        if not wait_for_lease:
            progress.held_by = holder.describe()
            return None
        if not announced:
            log.info("task %d is held by %s until %s; waiting", index, holder.describe(),
                     f"{holder.expires:%H:%M:%S}Z")  # fmt: skip
            announced = True
        _wait(LEASE_POLL_SECONDS, should_stop)
        if _look(ctx, index, progress) is None:
            return None
    # The previous holder may have committed just before letting go: look again.
    try:
        check = _look(ctx, index, progress)
    except BaseException:
        lease.release()
        raise
    if check is None:
        lease.release()
    return check


def _run_and_commit(
    ctx: TaskContext,
    index: int,
    progress: _Progress,
    metrics: WorkerMetrics | None,
    holder: Holder,
    *,
    wait_for_lease: bool,
    should_stop: Callable[[], bool],
    on_run: Callable[[], None] | None,
    on_claimed: Callable[[], object] | None,
    clock: Callable[[], datetime],
    new_id: Callable[[], uuid.UUID],
    timer: Callable[[], float],
) -> None:
    """Skip the task if done or held; else take its lease, simulate, validate and commit."""
    stop_point(should_stop)  # before reading the store
    lease = TaskLease(ctx.store, ctx.name, index, holder, clock=clock)
    check = _claim(
        ctx, index, progress, lease, wait_for_lease=wait_for_lease, should_stop=should_stop
    )
    if check is None:
        return

    def written(nbytes: int) -> None:
        progress.bytes_written += nbytes
        if metrics is not None:
            metrics.add_storage_written(nbytes)

    positions = ctx.plan.task_positions(index)
    keeper = Checkpointer(ctx.store, ctx.name, index, spec_hash=ctx.spec_hash,
                          code_version=ctx.code_version, positions=positions,
                          run_indexes=ctx.plan.task_run_indexes(index),
                          interval_seconds=ctx.checkpoint_seconds, timer=timer, clock=clock,
                          token=lambda: new_id().hex, on_written=written)  # fmt: skip
    with lease.kept(), Spool() as records, keeper:
        if on_claimed is not None:
            on_claimed()
        if check.state is TaskState.INVALID:
            log.warning("task %d: rewriting: %s", index, check.reason)
        if not ctx.spec_copied:  # the results folder describes itself (spec_copy.py)
            if ctx.identity is not None:
                retire_spec_copy(ctx.store, ctx.sweep, ctx.identity)
            write_spec_copy(ctx.store, ctx.sweep)
            ctx.spec_copied = True
        if check.state is TaskState.PENDING and check.manifest is not None:
            retire_manifest(ctx.store, ctx.name, check.manifest)  # an earlier plan's commit
        progress.resumed = keeper.resume(records)
        try:
            _simulate(ctx, index, progress, metrics, records, keeper, should_stop=should_stop,
                      on_run=on_run, on_written=written, clock=clock, new_id=new_id,
                      timer=timer)  # fmt: skip
        finally:
            progress.checkpointed = keeper.count
        files = [TaskFile(RECORDS, "jsonl", records)]
        # Committing: once the data files are up, the manifest is written whatever happens.
        commit_task(ctx.store, ctx.name, index, files, count=records.count,
                    positions=positions, spec_hash=ctx.spec_hash, runs_hash=ctx.runs_hash,
                    code_version=ctx.code_version, should_stop=should_stop, clock=clock,
                    token=lambda: new_id().hex, on_written=written)  # fmt: skip
        progress.records, progress.checkpointed = records.count, 0
    keeper.remove()
    try:
        ctx.store.delete(failure_key(ctx.name, index))
    except SweepError as exc:
        log.warning("task %d: could not clear its failure marker: %s", index, exc)


def _simulate(
    ctx: TaskContext,
    index: int,
    progress: _Progress,
    metrics: WorkerMetrics | None,
    out: Spool,
    keeper: Checkpointer,
    *,
    should_stop: Callable[[], bool],
    on_run: Callable[[], None] | None,
    on_written: Callable[[int], None],
    clock: Callable[[], datetime],
    new_id: Callable[[], uuid.UUID],
    timer: Callable[[], float],
) -> None:
    """Simulate the task's runs after the ``progress.resumed`` kept ones; append their lines.

    Runs go in batches of up to ``VALIDATE_BATCH``: each batch is simulated, then serialised and
    validated in one pass (the validator stays hot in the CPU caches instead of being evicted by
    each run), its lines appended to ``out`` and to ``keeper``, and its flip traces uploaded
    (before the JSONL that names them; their keys hold the run's id, which no other attempt
    uses, so they need no commit of their own). A batch ends early when a checkpoint is due,
    which is then written. On a stop request the runs finished so far are spooled and kept in
    a last checkpoint before ``TaskInterrupted`` goes on. Memory holds one batch, whatever the
    task's size.
    """
    traced = ctx.sweep.spec.traces is Traces.PARQUET
    runs = ctx.plan.task_runs(index)[progress.resumed :]
    reuse = ctx.reuse
    done = 0
    while done < len(runs):
        batch: list[dict[str, Any] | bytes] = []
        traces: dict[str, tuple[str, memoryview]] = {}  # run_id -> (key, Parquet bytes)
        try:
            while done < len(runs) and len(batch) < VALIDATE_BATCH:
                stop_point(should_stop)
                spec = runs[done]
                reused = reuse.line(spec) if reuse is not None else None
                if reused is not None:
                    batch.append(reused)
                    done += 1
                    progress.reused += 1
                    if on_run is not None:
                        on_run()
                    continue
                started = timer()
                try:
                    result = simulate(spec.params, spec.seed, trace=traced)
                    run_id = new_id()
                    ref = None
                    if result.influence.trace is not None:
                        parquet = trace_parquet(result.influence.trace, spec.run_index)
                        ref = traces_ref(
                            parquet, task_trace_path(index, run_id), len(result.influence.trace)
                        )
                        traces[str(run_id)] = (trace_key(ctx.name, index, run_id), parquet)
                    fields = record_fields(
                        result,
                        run_id=run_id,
                        timestamp=clock(),
                        base_seed=ctx.plan.seed,
                        run_index=spec.run_index,
                        agent_records=AGENT_RECORDS,
                        traces=ref,
                    )
                except Exception:
                    if metrics is not None:
                        metrics.observe_run_failure()
                    raise
                batch.append(fields)
                done += 1
                if metrics is not None:
                    metrics.observe_record(fields, duration_seconds=timer() - started)
                progress.runs += 1
                if on_run is not None:
                    on_run()
                if keeper.due():
                    break
        except TaskInterrupted:
            _spool(ctx, index, batch, traces, out, keeper, on_written=on_written)
            keeper.save_on_stop()
            raise
        _spool(ctx, index, batch, traces, out, keeper, on_written=on_written)
        if keeper.due() and done < len(runs):
            keeper.save()


def _spool(
    ctx: TaskContext,
    index: int,
    batch: list[dict[str, Any] | bytes],
    traces: dict[str, tuple[str, memoryview]],
    out: Spool,
    keeper: Checkpointer,
    *,
    on_written: Callable[[int], None],
) -> None:
    """Validate a batch's records as they will be stored, append them, upload their traces.

    An entry is a new run's fields, or the line of a run copied from an earlier plan."""
    for fields in batch:
        line = fields if isinstance(fields, bytes) else to_json(fields, by_alias=True)
        # The bytes that will be stored are what is validated: schema (strict), then tallies.
        problems = check_json(line)
        if isinstance(fields, bytes):
            fields = json.loads(line)
        trace = traces.get(str(fields["run_id"]))
        if trace is not None and not problems:
            record, _ = parse_record(line)
            assert record is not None  # check_json found no problem
            problems = check_trace(record, trace[1])
        if problems:
            raise TaskError(
                f"task {index}: run {fields['run_index']}: the record fails validation: "
                f"{problems[0]}"
            )
        out.write(line + b"\n")
        keeper.add(line + b"\n")
    for key, trace_data in traces.values():  # a batch's few traces: no stop point between
        ctx.store.put_bytes(key, bytes(trace_data))
        on_written(len(trace_data))


def _write_failure(
    ctx: TaskContext,
    index: int,
    code: int,
    error: str,
    clock: Callable[[], datetime],
    *,
    store_failed: bool = False,
) -> None:
    """Record a failure marker for ``sweepctl status``; best effort (storage may be down).

    When the task failed in the store itself (``store_failed``: a full disk, access denied), the
    marker usually fails the same way; that is not worth a second error line.
    """
    marker = FailureMarker(
        sweep=ctx.name,
        index=index,
        exit_code=code,
        error=error,
        spec_hash=ctx.spec_hash,
        code_version=ctx.code_version,
        created=clock(),
    )
    try:
        ctx.store.put_bytes(failure_key(ctx.name, index), marker.model_dump_json().encode())
    except SweepError as exc:
        level = logging.DEBUG if store_failed else logging.WARNING
        log.log(level, "task %d: could not write its failure marker: %s", index, exc)


def execute_task(
    ctx: TaskContext,
    index: int,
    *,
    wait_for_lease: bool = True,
    pushgateway_url: str | None = None,
    namespace: str = "",
    parallelism: int = 1,
    job_uid: str = "",
    should_stop: Callable[[], bool] = lambda: False,
    on_run: Callable[[], None] | None = None,
    clock: Callable[[], datetime] = utc_now,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
    timer: Callable[[], float] = time.perf_counter,
    push_interval_seconds: float = DEFAULT_PUSH_INTERVAL_SECONDS,
) -> TaskAttempt:
    """Run task ``index`` once and report how it ended; never raises for a task failure.

    When another attempt holds the task's lease, ``wait_for_lease`` waits for it (the Job
    worker); otherwise the attempt ends at once as ``held``, having done nothing (the runner).
    ``on_run`` is called after each run (progress); ``should_stop`` is polled at safe points.
    Metrics go to ``pushgateway_url`` when given: once the lease is taken, every
    ``push_interval_seconds`` and at the end (not for a held attempt); a failed push never fails
    the task. The metrics carry the sweep's ``namespace`` (the pod's; empty outside Kubernetes)
    and go out under a metric slot of the sweep (``sweep_controller.execution.slot``), claimed
    from ``index mod parallelism`` on; ``job_uid`` is the Job whose pods carry a slot's totals
    on (empty outside Kubernetes).
    """
    started = timer()
    try:
        ctx.plan.task_positions(index)
    except TaskError as exc:
        return TaskAttempt(index, TaskOutcome.FAILED, exit_code_for(exc), error=str(exc))
    holder = Holder.here(new_id().hex)
    # Metrics exist to be pushed: without a Pushgateway nobody could read them, so none are kept.
    metrics: WorkerMetrics | None = None
    reporter: SlotReporter | None = None
    if pushgateway_url:
        from prometheus_client import CollectorRegistry

        from sweep_controller.execution.slot import SlotReporter
        from sweep_controller.metrics import PeriodicPusher, WorkerMetrics

        metrics = WorkerMetrics(
            CollectorRegistry(), sweep=ctx.name, namespace=namespace, total_tasks=ctx.plan.n_tasks
        )
        reporter = SlotReporter(
            pushgateway_url,
            metrics,
            ctx.store,
            holder,
            parallelism=parallelism,
            first=index,
            job_uid=job_uid,
            push_interval_seconds=push_interval_seconds,
            clock=clock,
        )
    retries_before = ctx.store.retries
    progress = _Progress()
    outcome, code, error = TaskOutcome.SUCCEEDED, ExitCode.OK, None
    unreachable = False
    periodic = (
        PeriodicPusher(reporter.push, interval_seconds=push_interval_seconds)
        if reporter is not None
        else contextlib.nullcontext()
    )
    try:
        with periodic:
            _run_and_commit(
                ctx,
                index,
                progress,
                metrics,
                holder,
                wait_for_lease=wait_for_lease,
                should_stop=should_stop,
                on_run=on_run,
                on_claimed=reporter.begin if reporter is not None else None,
                clock=clock,
                new_id=new_id,
                timer=timer,
            )
        if progress.skipped:
            outcome = TaskOutcome.SKIPPED
        elif progress.held_by is not None:
            outcome = TaskOutcome.HELD
    except TaskInterrupted as exc:
        outcome, code, error = TaskOutcome.INTERRUPTED, ExitCode.TERMINATED, str(exc)
    except OutputConflict as exc:  # not our prefix: leave no marker in it
        outcome, code, error = TaskOutcome.FAILED, exit_code_for(exc), str(exc)
    except TransientStorageError as exc:  # the store is unreachable: a marker would fail too
        outcome, code, error = TaskOutcome.FAILED, exit_code_for(exc), str(exc)
        unreachable = isinstance(exc, StoreUnreachable)
    except (SweepError, SimulatorError) as exc:  # ours: the message is the whole story
        outcome, code, error = TaskOutcome.FAILED, exit_code_for(exc), str(exc)
        _write_failure(ctx, index, code, error, clock, store_failed=isinstance(exc, StorageError))
    except Exception as exc:
        outcome, code, error = (
            TaskOutcome.FAILED,
            exit_code_for(exc),
            f"{type(exc).__name__}: {exc}",
        )
        if code == ExitCode.FAILURE:  # not a known deterministic failure: show where it came from
            log.error("task %d: unexpected error\n%s", index, traceback.format_exc().rstrip())
        _write_failure(ctx, index, code, error, clock)
    duration = timer() - started
    if metrics is not None and reporter is not None and outcome is not TaskOutcome.HELD:
        metrics.add_storage_retry(ctx.store.retries - retries_before)
        metrics.finish_task(outcome, duration_seconds=duration)
        reporter.finish()
    return TaskAttempt(
        index=index,
        outcome=outcome,
        exit_code=code,
        runs=progress.runs,
        reused=progress.reused,
        resumed=progress.resumed,
        checkpointed=progress.checkpointed,
        records=progress.records,
        bytes_written=progress.bytes_written,
        duration_seconds=duration,
        error=error,
        held_by=progress.held_by,
        unreachable=unreachable,
    )
