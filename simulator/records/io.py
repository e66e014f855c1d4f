"""Reading and writing run records: JSONL results files and the Parquet side files beside them.

Appending is the one write path for results files, and it must never damage what is already
there: every record batch becomes complete lines written with a single ``os.write`` on an
``O_APPEND`` descriptor under an exclusive lock, so concurrent writers cannot interleave half
lines; a write that fails part way (a full disk) is cut back, so the file keeps only complete
lines; and a file whose last line lacks its newline (a writer killed mid-line) is refused rather
than glued onto. Per-agent records of large runs, and flip traces, go to Parquet side files next
to the JSONL file (``<stem>.agents/<run_id>.parquet``, ``<stem>.traces/<run_id>.parquet``),
written atomically (``simulator.atomic``) before the record that points at them, so a record never
points at a partial file. Readers get raw lines (the validator decides what they mean) and Parquet
batches of bounded size.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from simulator.atomic import write_atomic
from simulator.errors import RecordError
from simulator.params import ARCHETYPES, AgentRecords
from simulator.records.schema import AgentRecordsRef, RunRecord, TracesRef
from simulator.trace import CAUSES, Trace

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "AGENTS_DIR",
    "BATCH_ROWS",
    "REGULAR_FILE",
    "TRACES_DIR",
    "TRACE_COLUMNS",
    "append_records",
    "file_kind",
    "file_sha256",
    "iter_lines",
    "parquet_path",
    "read_parquet_batches",
    "resolve_side_file",
    "side_file_name",
    "trace_parquet",
    "trace_path",
    "traces_ref",
    "write_agent_parquet",
    "write_trace_parquet",
]

BATCH_ROWS = 1 << 16
"""Rows per batch when reading a Parquet side file."""
AGENTS_DIR = ".agents"
"""Suffix of the folder of per-agent side files: ``<stem of the JSONL file>.agents``."""
TRACES_DIR = ".traces"
"""Suffix of the folder of flip-trace side files: ``<stem of the JSONL file>.traces``."""
TRACE_COLUMNS = ("run", "agent", "round", "from_vote", "to_vote", "cause")
"""Columns of a flip-trace side file, in order."""


def append_records(path: str | os.PathLike[str], records: Iterable[RunRecord]) -> int:
    """Append records as JSON lines in one write; create parent dirs; return the count.

    All or nothing: if the write fails part way (a full disk, a quota, a size limit), the file is
    cut back to its previous size before the ``OSError`` (naming the file) propagates, so it
    never ends in a partial line. Appenders hold an exclusive ``flock`` on the file while they
    write, so cutting back never removes another appender's lines.
    """
    lines = [r.model_dump_json(by_alias=True) + "\n" for r in records]
    if not lines:
        return 0
    data = "".join(lines).encode()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            raise RecordError(
                f"{target}: last line has no trailing newline (truncated by an earlier writer?); "
                "refusing to append; check it with python -m simulator.validate"
            )
        try:
            view = memoryview(data)
            while view:  # a regular file takes it in one write; loop if the OS says otherwise
                view = view[os.write(fd, view) :]
        except BaseException as exc:  # an OSError, or a signal that raised mid-append
            os.ftruncate(fd, size)
            if isinstance(exc, OSError) and exc.filename is None:
                raise OSError(exc.errno, exc.strerror, str(target)) from exc
            raise
    finally:
        os.close(fd)  # also releases the lock
    return len(lines)


REGULAR_FILE = "a regular file"
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(path: str | os.PathLike[str]) -> str | None:
    """What is at ``path`` (links followed): ``REGULAR_FILE``, "a directory", "a FIFO", ...

    None when nothing is there. Record tools read and write regular files only: reading a FIFO
    would block, and replacing a device (as root) would destroy it.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISREG(mode):
        return REGULAR_FILE
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def iter_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    """``(line number, raw line)`` of a JSONL file, newline kept, one line in memory at a time."""
    with open(path, "rb") as fh:
        yield from enumerate(fh, start=1)


def side_file_name(jsonl_name: str, folder: str, run_id: uuid.UUID) -> str:
    """A run's side file relative to its JSONL file: ``<stem><folder>/<run_id>.parquet``.

    ``folder`` is ``AGENTS_DIR`` or ``TRACES_DIR``; the record's ``path`` is this string.
    """
    return f"{PurePosixPath(jsonl_name).stem}{folder}/{run_id}.parquet"


def parquet_path(jsonl_path: Path, run_id: uuid.UUID) -> Path:
    """Where a run's per-agent side file goes: ``<dir>/<stem>.agents/<run_id>.parquet``."""
    return jsonl_path.parent / side_file_name(jsonl_path.name, AGENTS_DIR, run_id)


def trace_path(jsonl_path: Path, run_id: uuid.UUID) -> Path:
    """Where a run's flip trace goes: ``<dir>/<stem>.traces/<run_id>.parquet``."""
    return jsonl_path.parent / side_file_name(jsonl_path.name, TRACES_DIR, run_id)


def resolve_side_file(base_dir: Path, path: str) -> Path:
    """The side file a record's ``path`` names, resolved against the JSONL file's directory.

    Raises ``RecordError`` (the reason, without the field) when the path is absolute or leads
    out of that directory (through ``..`` or a symbolic link).
    """
    rel = Path(path)
    if rel.is_absolute():
        raise RecordError(f"{path!r} must be relative to the JSONL file")
    full = base_dir / rel
    if not full.resolve().is_relative_to(base_dir.resolve()):
        raise RecordError(f"{path!r} leads out of the folder of the JSONL file")
    return full


def write_agent_parquet(
    columns: Mapping[str, np.ndarray], jsonl_path: Path, run_id: uuid.UUID
) -> AgentRecordsRef:
    """Write per-agent columns beside ``jsonl_path`` atomically; return the record's ref.

    ``columns`` are the per-agent record fields as arrays: ``archetype`` as integer codes
    (positions in ``ARCHETYPES``) and ``flip_round`` 0 where the agent never flipped.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = pa.array([a.value for a in ARCHETYPES])
    table = pa.table(
        {
            **columns,
            "archetype": pa.DictionaryArray.from_arrays(
                pa.array(columns["archetype"], type=pa.int8()), names
            ),
            "flip_round": pa.array(columns["flip_round"], mask=columns["flip_round"] == 0),
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    data = memoryview(sink.getvalue())
    target = parquet_path(jsonl_path, run_id)
    write_atomic(target, data)
    return AgentRecordsRef(
        mode=AgentRecords.PARQUET,
        path=target.relative_to(jsonl_path.parent).as_posix(),
        sha256=hashlib.sha256(data).hexdigest(),
        count=table.num_rows,
    )


def trace_parquet(trace: Trace, run: int) -> memoryview:
    """A flip trace as the bytes of its Parquet side file (columns ``TRACE_COLUMNS``).

    ``run`` is the run's ``run_index``, repeated on every row, so that the rows of several runs'
    traces read together stay apart; ``cause`` is dictionary-encoded (``neighbours``,
    ``whale_signal``).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = len(trace)
    table = pa.table(
        {
            "run": pa.array(np.full(rows, run, dtype=np.int64)),
            "agent": pa.array(trace.agent, type=pa.int32()),
            "round": pa.array(trace.round, type=pa.int32()),
            "from_vote": pa.array(trace.from_vote, type=pa.bool_()),
            "to_vote": pa.array(trace.to_vote, type=pa.bool_()),
            "cause": pa.DictionaryArray.from_arrays(
                pa.array(trace.cause, type=pa.int8()), pa.array([c.value for c in CAUSES])
            ),
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return memoryview(sink.getvalue())


def traces_ref(data: bytes | memoryview, path: str, rows: int) -> TracesRef:
    """The record's reference to a trace side file holding ``data`` at ``path`` (relative)."""
    return TracesRef(path=path, sha256=hashlib.sha256(data).hexdigest(), count=rows)


def write_trace_parquet(trace: Trace, run: int, jsonl_path: Path, run_id: uuid.UUID) -> TracesRef:
    """Write a run's flip trace beside ``jsonl_path`` atomically; return the record's ref."""
    data = trace_parquet(trace, run)
    target = trace_path(jsonl_path, run_id)
    write_atomic(target, data)
    return traces_ref(data, target.relative_to(jsonl_path.parent).as_posix(), len(trace))


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's content."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def read_parquet_batches(
    source: Path | pa.NativeFile, columns: Sequence[str], batch_rows: int = BATCH_ROWS
) -> tuple[pa.Schema, int, Iterator[pa.RecordBatch]]:
    """A Parquet side file's schema, row count and batches of ``columns``.

    ``source`` is a path or an open Arrow file (such as a ``pyarrow.BufferReader`` over bytes
    about to be stored). Raises ``pyarrow.ArrowException`` or ``OSError`` when it is not a
    readable Parquet file; the batches are read lazily, so only the columns asked for are read,
    ``batch_rows`` at a time.
    """
    import pyarrow.parquet as pq

    table = pq.ParquetFile(source)

    def batches() -> Iterator[pa.RecordBatch]:
        yield from table.iter_batches(batch_size=batch_rows, columns=list(columns))

    return table.schema_arrow, table.metadata.num_rows, batches()
