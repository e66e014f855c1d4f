"""Where a sweep's results live in a store, and how a reader decides that a task is done.

Every process that touches results (the worker that writes them, the local runner that skips
finished tasks, ``sweepctl status``, ``collect`` and ``report``) must agree on the keys and on
what "done" means, so both are defined once, here. Under ``<output uri>/<sweep name>/``:

``tasks/NNNNNN.jsonl``
    The task's run records, one v0.5 record a line, in the task's run order (6-digit index).
``tasks/NNNNNN.manifest.json``
    The commit marker, written after the JSONL: record count, byte size, sha256 of the JSONL,
    spec hash, code version, index, the task's positions in the run order, creation time.
``tasks/NNNNNN.failed.json``
    The last failure of a task that is not done (error, exit code); removed when it succeeds.
``tasks/NNNNNN.traces/<run_id>.parquet``
    With ``spec.traces: parquet``, each run's flip trace, uploaded before the JSONL whose record
    names it (``traces.path`` is relative to the JSONL, as for ``govsim --traces parquet``). An
    attempt that does not commit may leave traces that no record names; they are never read.

A task is *done* when its manifest parses, names this sweep's spec hash, and its sha256 matches
the JSONL beside it. A manifest with another spec hash means the prefix holds another sweep's
results (``foreign``); a manifest whose JSONL is missing or differs is ``invalid`` and the task is
run again. Verification reads the JSONL, so ``scan_store(verify=False)`` exists for quick looks.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, ValidationError

from simulator.messages import ErrorText
from simulator.records.io import TRACES_DIR, side_file_name
from simulator.records.schema import UtcDatetime
from sweep_controller.errors import KeyNotFound
from sweep_controller.store import Store

__all__ = [
    "TASKS_DIR",
    "FailureMarker",
    "Manifest",
    "TaskCheck",
    "TaskScan",
    "TaskState",
    "check_task",
    "failure_key",
    "manifest_json",
    "manifest_key",
    "read_failure",
    "scan_store",
    "scan_tasks",
    "sha256_hex",
    "sweep_uri",
    "task_key",
    "task_trace_path",
    "tasks_prefix",
    "trace_key",
]

TASKS_DIR = "tasks"
_SHA256 = r"^[0-9a-f]{64}$"
_TASK_FILE = re.compile(r"^(\d{6,19})\.(jsonl|manifest\.json|failed\.json)$")


class TaskState(StrEnum):
    """What the store says about one task."""

    DONE = "done"
    PENDING = "pending"
    FAILED = "failed"
    INVALID = "invalid"
    FOREIGN = "foreign"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Manifest(_Strict):
    """The commit marker of one task's JSONL."""

    manifest_version: Literal[1] = 1
    sweep: str
    index: NonNegativeInt
    count: NonNegativeInt = Field(description="Run records (lines) in the JSONL.")
    bytes: NonNegativeInt = Field(description="Size of the JSONL in bytes.")
    sha256: str = Field(pattern=_SHA256, description="sha256 of the JSONL.")
    spec_hash: str = Field(pattern=_SHA256, description="spec_hash() of the sweep that wrote it.")
    code_version: str
    position_start: NonNegativeInt = Field(description="First position in the run order.")
    position_stop: NonNegativeInt = Field(description="One past the last position.")
    created: UtcDatetime


class FailureMarker(_Strict):
    """The last failure of a task that is not done yet."""

    sweep: str
    index: NonNegativeInt
    exit_code: int
    error: str
    spec_hash: str
    code_version: str
    created: UtcDatetime


def tasks_prefix(sweep_name: str) -> str:
    """The key prefix of a sweep's task objects: ``<name>/tasks/``."""
    return f"{sweep_name}/{TASKS_DIR}/"


def sweep_uri(store: Store, sweep_name: str) -> str:
    """The URI of a sweep's results folder: ``<output uri>/<name>/``."""
    return f"{store.uri.rstrip('/')}/{sweep_name}/"


def task_key(sweep_name: str, index: int) -> str:
    """Key of task ``index``'s JSONL: ``<name>/tasks/NNNNNN.jsonl``."""
    return f"{tasks_prefix(sweep_name)}{_jsonl_name(index)}"


def _jsonl_name(index: int) -> str:
    return f"{index:06d}.jsonl"


def manifest_key(sweep_name: str, index: int) -> str:
    """Key of task ``index``'s manifest (its commit marker)."""
    return f"{tasks_prefix(sweep_name)}{index:06d}.manifest.json"


def task_trace_path(index: int, run_id: uuid.UUID) -> str:
    """A run's trace relative to its task's JSONL (the record's ``traces.path``)."""
    return side_file_name(_jsonl_name(index), TRACES_DIR, run_id)


def trace_key(sweep_name: str, index: int, run_id: uuid.UUID) -> str:
    """Key of a run's trace: ``<name>/tasks/NNNNNN.traces/<run_id>.parquet``."""
    return f"{tasks_prefix(sweep_name)}{task_trace_path(index, run_id)}"


def failure_key(sweep_name: str, index: int) -> str:
    """Key of task ``index``'s failure marker."""
    return f"{tasks_prefix(sweep_name)}{index:06d}.failed.json"


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class TaskCheck:
    """One task's state, its manifest when it has one, why, and (when done) its JSONL bytes."""

    index: int
    state: TaskState
    reason: str = ""
    manifest: Manifest | None = None
    data: bytes | None = None


_MANIFEST_TEXT = ErrorText(root="manifest")
"""Manifest problems are worded like record problems: ``field: reason``."""


def _parse_manifest(raw: bytes) -> Manifest | str:
    try:
        return Manifest.model_validate_json(raw)
    except ValidationError as exc:
        return _MANIFEST_TEXT.first(exc)


def check_task(
    store: Store,
    sweep_name: str,
    index: int,
    spec_hash: str,
    *,
    verify: bool = True,
    keep_data: bool = False,
) -> TaskCheck:
    """Read task ``index``'s manifest (and JSONL, when ``verify``) and classify the task.

    Never returns FAILED: failure markers are a listing matter (``scan_tasks``). Storage errors
    other than a missing key propagate.
    """
    mkey = manifest_key(sweep_name, index)
    try:
        raw = store.get_bytes(mkey)
    except KeyNotFound:
        return TaskCheck(index, TaskState.PENDING)
    parsed = _parse_manifest(raw)
    if isinstance(parsed, str):
        return TaskCheck(index, TaskState.INVALID, f"{store.uri_for(mkey)}: {parsed}")
    if parsed.spec_hash != spec_hash:
        return TaskCheck(
            index,
            TaskState.FOREIGN,
            f"{store.uri_for(mkey)} was written by a sweep with spec hash "
            f"{parsed.spec_hash[:12]}..., not this spec's {spec_hash[:12]}...",
            parsed,
        )
    if parsed.index != index or parsed.sweep != sweep_name:
        return TaskCheck(
            index,
            TaskState.INVALID,
            f"{store.uri_for(mkey)}: names sweep {parsed.sweep!r} task {parsed.index}",
            parsed,
        )
    if not verify:
        return TaskCheck(index, TaskState.DONE, "manifest present (not verified)", parsed)
    dkey = task_key(sweep_name, index)
    try:
        data = store.get_bytes(dkey)
    except KeyNotFound:
        return TaskCheck(index, TaskState.INVALID, f"{store.uri_for(dkey)}: missing", parsed)
    digest = sha256_hex(data)
    if digest != parsed.sha256 or len(data) != parsed.bytes:
        return TaskCheck(
            index,
            TaskState.INVALID,
            f"{store.uri_for(dkey)}: sha256 {digest[:12]}... ({len(data)} bytes) does not match "
            f"its manifest's {parsed.sha256[:12]}... ({parsed.bytes} bytes)",
            parsed,
        )
    return TaskCheck(index, TaskState.DONE, "", parsed, data if keep_data else None)


def _task_files(keys: Iterable[str], prefix: str, n_tasks: int) -> dict[str, set[int]]:
    """Task indexes present per file kind (jsonl, manifest.json, failed.json)."""
    found: dict[str, set[int]] = {"jsonl": set(), "manifest.json": set(), "failed.json": set()}
    for key in keys:
        match = _TASK_FILE.match(key[len(prefix) :])
        if match is None:
            continue
        index = int(match.group(1))
        if index < n_tasks:
            found[match.group(2)].add(index)
    return found


@dataclass(frozen=True)
class TaskScan:
    """The state of every task of a sweep, holding only the tasks that left objects in the store.

    A task without a manifest or a failure marker is pending, so a sweep of 10^12 tasks of which
    a thousand ran costs a thousand entries here, not 10^12: counts, and the indexes of every
    state but pending, come from ``found``; pending indexes are produced lazily, in order.
    """

    n_tasks: int
    found: dict[int, TaskCheck]
    """The checks of the tasks that are not pending, by index."""

    def check(self, index: int) -> TaskCheck:
        """Task ``index``'s check (pending when the store holds nothing of it)."""
        return self.found.get(index) or TaskCheck(index, TaskState.PENDING)

    def count(self, state: TaskState) -> int:
        """How many tasks are in ``state``."""
        if state is TaskState.PENDING:
            return self.n_tasks - len(self.found)
        return sum(1 for c in self.found.values() if c.state is state)

    def with_state(self, state: TaskState) -> list[TaskCheck]:
        """The checks in ``state`` (not pending), by index."""
        if state is TaskState.PENDING:
            raise ValueError("pending tasks are not listed; use not_done()")
        return sorted((c for c in self.found.values() if c.state is state), key=lambda c: c.index)

    def not_done(self) -> Iterator[int]:
        """The indexes of the tasks that are not done, in order, lazily."""
        found = self.found
        for index in range(self.n_tasks):
            check = found.get(index)
            if check is None or check.state is not TaskState.DONE:
                yield index

    def checks(self) -> Iterator[TaskCheck]:
        """Every task's check, in index order, lazily."""
        return map(self.check, range(self.n_tasks))


def scan_store(
    store: Store, sweep_name: str, n_tasks: int, spec_hash: str, *, verify: bool = True
) -> TaskScan:
    """The state of every task ``0 .. n_tasks-1``, from one listing plus one read per manifest.

    Memory and time grow with the objects in the store, not with ``n_tasks``.
    """
    prefix = tasks_prefix(sweep_name)
    files = _task_files(store.list(prefix), prefix, n_tasks)
    found: dict[int, TaskCheck] = {}
    for index in sorted(files["manifest.json"] | files["failed.json"]):
        if index in files["manifest.json"]:
            check = check_task(store, sweep_name, index, spec_hash, verify=verify)
        else:
            check = TaskCheck(index, TaskState.PENDING)
        if check.state is not TaskState.DONE and index in files["failed.json"]:
            marker = read_failure(store, sweep_name, index)
            reason = marker.error if marker is not None else "failure marker unreadable"
            if check.state is TaskState.PENDING:
                check = TaskCheck(index, TaskState.FAILED, reason)
        if check.state is not TaskState.PENDING:
            found[index] = check
    return TaskScan(n_tasks, found)


def scan_tasks(
    store: Store, sweep_name: str, n_tasks: int, spec_hash: str, *, verify: bool = True
) -> list[TaskCheck]:
    """Every task's check as a list (``scan_store`` without the list, for sweeps of any size)."""
    return list(scan_store(store, sweep_name, n_tasks, spec_hash, verify=verify).checks())


def read_failure(store: Store, sweep_name: str, index: int) -> FailureMarker | None:
    """Task ``index``'s failure marker, or None if absent or unreadable."""
    try:
        raw = store.get_bytes(failure_key(sweep_name, index))
    except KeyNotFound:
        return None
    try:
        return FailureMarker.model_validate_json(raw)
    except ValidationError:
        return None


def manifest_json(manifest: Manifest) -> bytes:
    """The manifest as the bytes stored (sorted keys, one line)."""
    data = manifest.model_dump(mode="json")
    return (json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n").encode()
