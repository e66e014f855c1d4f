"""Where a sweep's results live in a store, and how a reader decides that a task is done.

Every process that touches results (the worker that writes them, the local runner that skips
finished tasks, ``sweepctl status``, ``collect`` and ``report``) must agree on the keys and on
what "done" means, so both are defined once, here. ``<output uri>/<sweep name>/sweep.json`` is a
copy of the spec that wrote the results (``sweep_controller.execution.spec_copy``), so that the
folder describes itself. Under ``<output uri>/<sweep name>/tasks/``:

``NNNNNN.<commit>.jsonl`` (and other ``NNNNNN.<commit>.<suffix>`` data files)
    The data of one commit of task NNNNNN (6-digit index): its run records, one v0.5 record a
    line in the task's run order, and any side files. ``<commit>`` is ``YYYYMMDDTHHMMSSZ-`` and
    8 random hex digits, minted just before the upload, so no two commits share a data key and
    a data file, once written, never changes.
``NNNNNN.manifest.json``
    The commit marker, written after the data files: it names them (each with its byte size
    and sha256), and holds the record count, spec hash, code version, index, the task's
    positions in the run order and the creation time. Replacing it is the commit: the last
    complete manifest wins, and readers trust only the files it names.
``NNNNNN.lease.GGGGGG.json``
    Generation GGGGGG of the task's lease (``sweep_controller.execution.lease``).
``NNNNNN.failed.json``
    The last failure of a task that is not done (error, exit code); removed when it succeeds.
``NNNNNN.checkpoint.json`` and ``NNNNNN.<commit>.part.jsonl``
    The runs an unfinished task has finished so far (``sweep_controller.execution.checkpoint``):
    the marker names its part files, which hold the first runs of the task in run order. Only
    the next attempt at the task reads them; readers of results never do. The commit copies
    them into the task's records, and a task's checkpoint is removed once it is done.
``NNNNNN.traces/<run_id>.parquet``
    With ``spec.traces: parquet``, each run's flip trace, uploaded before the JSONL whose record
    names it (``traces.path`` is relative to the JSONL's folder, as for ``govsim --traces
    parquet``). Keys hold the run's id, which no other attempt uses. An attempt that does not
    commit may leave traces that no record names; they are never read.

A sweep grown from earlier results (``sweep_controller.execution.plans``) also keeps
``<output uri>/<sweep name>/plans/<hash12>/``: the retired earlier plan whose spec hash starts
with those 12 hex digits, as its spec copy ``sweep.json`` and copies of its manifests
``NNNNNN.manifest.json``, which name data files in ``tasks/`` (retired manifests are copied
byte for byte, so they resolve against ``tasks/`` like any manifest).

An adaptive sweep (``method: optuna``) also keeps ``<output uri>/<sweep name>/rounds/RRRR.json``:
the points of round RRRR (4 digits), written once before the round's tasks run
(``sweep_controller.execution.rounds``). Its tasks sit in ``tasks/`` with the others, round after
round (``SweepPlan.round_tasks``).

A task is *done* when its manifest parses, names this sweep's spec hash, and every file it names
exists with the size and sha256 it states. A manifest with another spec hash but this sweep's
runs hash (``sweep_controller.spec.growth``) is an earlier plan's commit: the task is pending
for this plan. A manifest with another spec hash means the prefix holds another sweep's results
(``foreign``); a manifest whose files are missing or differ is
``invalid`` and the task is run again. Data files that no manifest names are uncommitted or
superseded copies; readers never look at them (``sweep_controller.execution.cleanup`` removes
old ones). Manifests of version 1 (``NNNNNN.jsonl`` beside them, from earlier releases) are
still read. Verification reads the data, so ``scan_store(verify=False)`` exists for quick looks.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, ValidationError

from simulator.messages import ErrorText
from simulator.records.io import TRACES_DIR, side_file_name
from simulator.records.schema import UtcDatetime
from sweep_controller.errors import KeyNotFound
from sweep_controller.store import Store

__all__ = [
    "PART_SUFFIX",
    "PLANS_DIR",
    "RECORDS",
    "ROUNDS_DIR",
    "SPEC_COPY",
    "TASKS_DIR",
    "DataFile",
    "FailureMarker",
    "Manifest",
    "TaskCheck",
    "TaskFileName",
    "TaskScan",
    "TaskState",
    "check_task",
    "checkpoint_key",
    "commit_time",
    "data_key",
    "failure_key",
    "lease_key",
    "lease_prefix",
    "manifest_json",
    "manifest_key",
    "new_commit",
    "parse_manifest",
    "parse_task_file",
    "plan_prefix",
    "plans_prefix",
    "read_failure",
    "records_key",
    "round_key",
    "rounds_prefix",
    "scan_store",
    "scan_tasks",
    "sha256_hex",
    "spec_copy_key",
    "sweep_uri",
    "task_prefix",
    "task_trace_path",
    "tasks_prefix",
    "trace_key",
]

TASKS_DIR = "tasks"
PLANS_DIR = "plans"
ROUNDS_DIR = "rounds"
SPEC_COPY = "sweep.json"
"""The name of the spec's copy in a sweep's results folder, beside ``tasks/``."""
RECORDS = "records"
"""The role of the run records (JSONL) among a task's data files; every manifest names one."""
PART_SUFFIX = "part.jsonl"
"""The suffix of a checkpoint's part files (``NNNNNN.<commit>.part.jsonl``)."""
_SHA256 = r"^[0-9a-f]{64}$"
_COMMIT = r"\d{8}T\d{6}Z-[0-9a-f]{8}"
_COMMIT_TIME = "%Y%m%dT%H%M%SZ"
_FILE_NAME = r"^[0-9A-Za-z][0-9A-Za-z._-]*$"
_TASK_FILE = re.compile(
    rf"^(?P<index>\d{{6,19}})\."
    rf"(?:(?P<commit>{_COMMIT})\.(?P<suffix>[0-9a-z][0-9a-z._-]*)"
    r"|lease\.(?P<generation>\d{6,})\.json"
    r"|(?P<kind>jsonl|manifest\.json|failed\.json|checkpoint\.json))$"
)
_REREADS = 3
"""Reads of a manifest whose named file is missing: it may have been replaced meanwhile."""


class TaskState(StrEnum):
    """What the store says about one task."""

    DONE = "done"
    PENDING = "pending"
    FAILED = "failed"
    INVALID = "invalid"
    FOREIGN = "foreign"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataFile(_Strict):
    """One data file a manifest names, beside the manifest in the task folder."""

    name: str = Field(pattern=_FILE_NAME, description="File name in the tasks folder.")
    bytes: NonNegativeInt
    sha256: str = Field(pattern=_SHA256)


class Manifest(_Strict):
    """The commit marker of one task: which data files hold it (version 2)."""

    manifest_version: Literal[1, 2] = 2
    """2 for every manifest written; 1 marks one read from an earlier release's format."""
    sweep: str
    index: NonNegativeInt
    commit: str | None = Field(
        default=None, pattern=rf"^{_COMMIT}$", description="The commit id in the file names."
    )
    count: NonNegativeInt = Field(description="Run records (lines) in the records file.")
    files: dict[str, DataFile] = Field(description="The task's data files by role.")
    spec_hash: str = Field(pattern=_SHA256, description="spec_hash() of the sweep that wrote it.")
    runs_hash: str | None = Field(
        default=None,
        pattern=_SHA256,
        description="runs_hash() of the sweep that wrote it (absent before sweeps could grow).",
    )
    code_version: str
    position_start: NonNegativeInt = Field(description="First position in the run order.")
    position_stop: NonNegativeInt = Field(description="One past the last position.")
    created: UtcDatetime

    @property
    def records(self) -> DataFile:
        """The run records' file."""
        return self.files[RECORDS]


class _ManifestV1(_Strict):
    """The manifest of earlier releases: the JSONL at the fixed key ``NNNNNN.jsonl``."""

    manifest_version: Literal[1] = 1
    sweep: str
    index: NonNegativeInt
    count: NonNegativeInt
    bytes: NonNegativeInt
    sha256: str = Field(pattern=_SHA256)
    spec_hash: str = Field(pattern=_SHA256)
    code_version: str
    position_start: NonNegativeInt
    position_stop: NonNegativeInt
    created: UtcDatetime

    def upgraded(self) -> Manifest:
        """The same commit in the current shape."""
        fields = self.model_dump(exclude={"bytes", "sha256"})
        name = f"{self.index:06d}.jsonl"
        records = DataFile(name=name, bytes=self.bytes, sha256=self.sha256)
        return Manifest(**fields, files={RECORDS: records})


class _Version(BaseModel):
    model_config = ConfigDict(extra="ignore")
    manifest_version: object = 2


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


def plans_prefix(sweep_name: str) -> str:
    """The key prefix of a sweep's retired plans: ``<name>/plans/``."""
    return f"{sweep_name}/{PLANS_DIR}/"


def plan_prefix(sweep_name: str, plan_hash: str) -> str:
    """The key prefix of one retired plan: ``<name>/plans/<first 12 hex digits of its hash>/``."""
    return f"{plans_prefix(sweep_name)}{plan_hash[:12]}/"


def spec_copy_key(sweep_name: str) -> str:
    """Key of the copy of the spec that wrote a sweep's results: ``<name>/sweep.json``."""
    return f"{sweep_name}/{SPEC_COPY}"


def task_prefix(sweep_name: str, index: int) -> str:
    """The key prefix of every object of task ``index``: ``<name>/tasks/NNNNNN.``."""
    return f"{tasks_prefix(sweep_name)}{index:06d}."


def rounds_prefix(sweep_name: str) -> str:
    """The key prefix of an adaptive sweep's round files: ``<name>/rounds/``."""
    return f"{sweep_name}/{ROUNDS_DIR}/"


def round_key(sweep_name: str, round_index: int) -> str:
    """Key of round ``round_index``'s planned points: ``<name>/rounds/RRRR.json``."""
    return f"{rounds_prefix(sweep_name)}{round_index:04d}.json"


def sweep_uri(store: Store, sweep_name: str) -> str:
    """The URI of a sweep's results folder: ``<output uri>/<name>/``."""
    return f"{store.uri.rstrip('/')}/{sweep_name}/"


def data_key(sweep_name: str, index: int, commit: str, suffix: str) -> str:
    """Key of one data file of a commit: ``<name>/tasks/NNNNNN.<commit>.<suffix>``."""
    return f"{task_prefix(sweep_name, index)}{commit}.{suffix}"


def records_key(sweep_name: str, manifest: Manifest) -> str:
    """Key of the run records that ``manifest`` names."""
    return f"{tasks_prefix(sweep_name)}{manifest.records.name}"


def manifest_key(sweep_name: str, index: int) -> str:
    """Key of task ``index``'s manifest (its commit marker)."""
    return f"{task_prefix(sweep_name, index)}manifest.json"


def task_trace_path(index: int, run_id: uuid.UUID) -> str:
    """A run's trace relative to its task's folder (the record's ``traces.path``)."""
    return side_file_name(f"{index:06d}.jsonl", TRACES_DIR, run_id)


def trace_key(sweep_name: str, index: int, run_id: uuid.UUID) -> str:
    """Key of a run's trace: ``<name>/tasks/NNNNNN.traces/<run_id>.parquet``."""
    return f"{tasks_prefix(sweep_name)}{task_trace_path(index, run_id)}"


def failure_key(sweep_name: str, index: int) -> str:
    """Key of task ``index``'s failure marker."""
    return f"{task_prefix(sweep_name, index)}failed.json"


def checkpoint_key(sweep_name: str, index: int) -> str:
    """Key of task ``index``'s checkpoint marker (the runs an unfinished task has kept)."""
    return f"{task_prefix(sweep_name, index)}checkpoint.json"


def lease_prefix(sweep_name: str, index: int) -> str:
    """The key prefix of task ``index``'s lease generations."""
    return f"{task_prefix(sweep_name, index)}lease."


def lease_key(sweep_name: str, index: int, generation: int) -> str:
    """Key of generation ``generation`` of task ``index``'s lease."""
    return f"{lease_prefix(sweep_name, index)}{generation:06d}.json"


def new_commit(now: datetime, token: str) -> str:
    """A commit id: the UTC time ``now`` and 8 hex digits of ``token``."""
    return f"{now.strftime(_COMMIT_TIME)}-{token[:8]}"


def commit_time(commit: str) -> datetime:
    """When a commit id was minted (UTC)."""
    return datetime.strptime(commit.split("-", 1)[0], _COMMIT_TIME).replace(tzinfo=UTC)


@dataclass(frozen=True)
class TaskFileName:
    """What a key below ``tasks/`` is: a task's data file, manifest, lease or failure marker."""

    index: int
    kind: str
    """``data``, ``legacy-data`` (``NNNNNN.jsonl``), ``manifest``, ``lease``, ``failed`` or
    ``checkpoint``."""
    name: str
    commit: str | None = None
    generation: int | None = None


_KINDS = {
    "jsonl": "legacy-data",
    "manifest.json": "manifest",
    "failed.json": "failed",
    "checkpoint.json": "checkpoint",
}


def parse_task_file(name: str) -> TaskFileName | None:
    """Classify a file name in the tasks folder; None if it is none of a task's files."""
    match = _TASK_FILE.match(name)
    if match is None:
        return None
    index = int(match["index"])
    if match["commit"]:
        return TaskFileName(index, "data", name, commit=match["commit"])
    if match["generation"]:
        return TaskFileName(index, "lease", name, generation=int(match["generation"]))
    return TaskFileName(index, _KINDS[match["kind"]], name)


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class TaskCheck:
    """One task's state, its manifest when it has one, why, and (when done) its records."""

    index: int
    state: TaskState
    reason: str = ""
    manifest: Manifest | None = None
    data: bytes | None = None
    """The run records (JSONL) when done and asked for (``keep_data``)."""


_MANIFEST_TEXT = ErrorText(root="manifest")
"""Manifest problems are worded like record problems: ``field: reason``."""


def parse_manifest(raw: bytes) -> Manifest | str:
    """The manifest in ``raw`` (either version), or one line saying what is wrong with it."""
    try:
        version = _Version.model_validate_json(raw).manifest_version
        if version == 1:
            return _ManifestV1.model_validate_json(raw).upgraded()
        return Manifest.model_validate_json(raw)
    except ValidationError as exc:
        return _MANIFEST_TEXT.first(exc)


def _owns(manifest: Manifest, name: str) -> bool:
    """Whether a manifest may name this file: only its own commit's files (or v1's JSONL)."""
    if manifest.manifest_version == 1:
        return name == f"{manifest.index:06d}.jsonl"
    return manifest.commit is not None and name.startswith(
        f"{manifest.index:06d}.{manifest.commit}."
    )


def check_task(
    store: Store,
    sweep_name: str,
    index: int,
    spec_hash: str,
    *,
    verify: bool = True,
    keep_data: bool = False,
    runs_hash: str | None = None,
) -> TaskCheck:
    """Read task ``index``'s manifest (and its files, when ``verify``) and classify the task.

    A manifest of another spec hash whose runs hash is ``runs_hash`` (an earlier plan of this
    sweep) leaves the task pending, with that manifest and the reason in the check.

    A named file that is missing sends the reader back to the manifest: a newer commit may
    have replaced it and the old files been removed since. Never returns FAILED: failure
    markers are a listing matter (``scan_tasks``). Storage errors other than a missing key
    propagate.
    """
    mkey = manifest_key(sweep_name, index)
    previous: bytes | None = None
    missing = ""
    for _ in range(_REREADS):
        try:
            raw = store.get_bytes(mkey)
        except KeyNotFound:
            return TaskCheck(index, TaskState.PENDING)
        if raw == previous:
            break
        previous = raw
        check = _check_manifest(
            store, sweep_name, index, (spec_hash, runs_hash), raw, verify, keep_data
        )
        if isinstance(check, TaskCheck):
            return check
        missing = check
    manifest = parse_manifest(previous or b"")
    assert isinstance(manifest, Manifest)
    return TaskCheck(index, TaskState.INVALID, f"{store.uri_for(missing)}: missing", manifest)


def _check_manifest(
    store: Store,
    sweep_name: str,
    index: int,
    hashes: tuple[str, str | None],
    raw: bytes,
    verify: bool,
    keep_data: bool,
) -> TaskCheck | str:
    """Classify the task by this manifest; the key of a file it names if that is missing."""
    mkey = manifest_key(sweep_name, index)
    parsed = parse_manifest(raw)
    if isinstance(parsed, str):
        return TaskCheck(index, TaskState.INVALID, f"{store.uri_for(mkey)}: {parsed}")
    spec_hash, runs_hash = hashes
    if parsed.spec_hash != spec_hash and runs_hash is not None and parsed.runs_hash == runs_hash:
        return TaskCheck(
            index,
            TaskState.PENDING,
            f"{store.uri_for(mkey)} is a commit of an earlier plan of this sweep (spec hash "
            f"{parsed.spec_hash[:12]}...)",
            parsed,
        )
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
    foreign = [f.name for f in parsed.files.values() if not _owns(parsed, f.name)]
    if RECORDS not in parsed.files or foreign:
        what = f"names {foreign[0]!r}, not a file of its commit" if foreign else "names no records"
        return TaskCheck(index, TaskState.INVALID, f"{store.uri_for(mkey)}: {what}", parsed)
    if not verify:
        return TaskCheck(index, TaskState.DONE, "manifest present (not verified)", parsed)
    records: bytes | None = None
    for role, named in parsed.files.items():
        key = f"{tasks_prefix(sweep_name)}{named.name}"
        try:
            data = store.get_bytes(key)
        except KeyNotFound:
            return key
        digest = sha256_hex(data)
        if digest != named.sha256 or len(data) != named.bytes:
            return TaskCheck(
                index,
                TaskState.INVALID,
                f"{store.uri_for(key)}: sha256 {digest[:12]}... ({len(data)} bytes) does not "
                f"match its manifest's {named.sha256[:12]}... ({named.bytes} bytes)",
                parsed,
            )
        if role == RECORDS:
            records = data
    return TaskCheck(index, TaskState.DONE, "", parsed, records if keep_data else None)


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
    keys: tuple[str, ...] = ()
    """The listing of the tasks folder the scan was made from (read before any manifest)."""
    earlier: dict[int, Manifest] = field(default_factory=dict)
    """The manifests of earlier plans of this sweep (same runs hash), by task index: pending."""

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
    store: Store,
    sweep_name: str,
    n_tasks: int,
    spec_hash: str,
    *,
    verify: bool = True,
    runs_hash: str | None = None,
    all_manifests: bool = False,
) -> TaskScan:
    """The state of every task ``0 .. n_tasks-1``, from one listing plus one read per manifest.

    Memory and time grow with the objects in the store, not with ``n_tasks``. With
    ``runs_hash``, the manifests of earlier plans of the sweep are pending and kept in
    ``earlier``; ``all_manifests`` also reads the manifests of tasks at ``n_tasks`` or above (an
    earlier, larger plan's), which only ``earlier`` holds.
    """
    prefix = tasks_prefix(sweep_name)
    keys = tuple(store.list(prefix))
    files = _task_files(keys, prefix, n_tasks, all_manifests=all_manifests)
    found: dict[int, TaskCheck] = {}
    earlier: dict[int, Manifest] = {}
    for index in sorted(files["manifest"] | files["failed"]):
        if index in files["manifest"]:
            check = check_task(
                store, sweep_name, index, spec_hash, verify=verify, runs_hash=runs_hash
            )
            if check.state is TaskState.PENDING and check.manifest is not None:
                earlier[index] = check.manifest
            if index >= n_tasks:
                continue
        else:
            check = TaskCheck(index, TaskState.PENDING)
        if check.state is not TaskState.DONE and index in files["failed"]:
            marker = read_failure(store, sweep_name, index)
            reason = marker.error if marker is not None else "failure marker unreadable"
            if check.state is TaskState.PENDING:
                check = TaskCheck(index, TaskState.FAILED, reason)
        if check.state is not TaskState.PENDING:
            found[index] = check
    return TaskScan(n_tasks, found, keys, earlier)


def scan_tasks(
    store: Store, sweep_name: str, n_tasks: int, spec_hash: str, *, verify: bool = True
) -> list[TaskCheck]:
    """Every task's check as a list (``scan_store`` without the list, for sweeps of any size)."""
    return list(scan_store(store, sweep_name, n_tasks, spec_hash, verify=verify).checks())


def _task_files(
    keys: Iterable[str], prefix: str, n_tasks: int, *, all_manifests: bool = False
) -> dict[str, set[int]]:
    """Task indexes below ``n_tasks`` that have a manifest (any index with ``all_manifests``),
    and those that have a failure marker."""
    found: dict[str, set[int]] = {"manifest": set(), "failed": set()}
    for key in keys:
        parsed = parse_task_file(key[len(prefix) :])
        if parsed is None or parsed.kind not in found:
            continue
        if parsed.index < n_tasks or (all_manifests and parsed.kind == "manifest"):
            found[parsed.kind].add(parsed.index)
    return found


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
    if data["runs_hash"] is None:  # manifests of plans that cannot grow keep their old shape
        del data["runs_hash"]
    return (json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n").encode()
