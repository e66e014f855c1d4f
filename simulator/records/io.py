"""Reading and writing run records: JSONL results files and the Parquet side files beside them.

Appending is the one write path for results files, and it must never damage what is already
there: every record batch becomes complete lines written with a single ``os.write`` on an
``O_APPEND`` descriptor under an exclusive lock, so concurrent writers cannot interleave half
lines; a write that fails part way (a full disk) is cut back, so the file keeps only complete
lines; and a file whose last line lacks its newline (a writer killed mid-line) is refused rather
than glued onto. Per-agent records of large runs go to a Parquet side file next to the JSONL file,
written atomically (``simulator.atomic``), so a record never points at a partial file. Readers
get raw lines (the validator decides what they mean) and Parquet batches of bounded size.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simulator.atomic import write_atomic
from simulator.errors import RecordError
from simulator.params import ARCHETYPES, AgentRecords
from simulator.records.schema import AgentRecordsRef, RunRecord

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "BATCH_ROWS",
    "REGULAR_FILE",
    "append_records",
    "file_kind",
    "file_sha256",
    "iter_lines",
    "parquet_path",
    "read_agent_batches",
    "write_agent_parquet",
]

BATCH_ROWS = 1 << 16
"""Rows per batch when reading a Parquet side file."""


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


def parquet_path(jsonl_path: Path, run_id: uuid.UUID) -> Path:
    """Where a run's side file goes: ``<dir>/<stem>.agents/<run_id>.parquet``."""
    return jsonl_path.parent / f"{jsonl_path.stem}.agents" / f"{run_id}.parquet"


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


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's content."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def read_agent_batches(
    path: Path, columns: Sequence[str], batch_rows: int = BATCH_ROWS
) -> tuple[pa.Schema, int, Iterator[pa.RecordBatch]]:
    """A Parquet side file's schema, row count and batches of ``columns``.

    Raises ``pyarrow.ArrowException`` or ``OSError`` when it is not a readable Parquet file; the
    batches are read lazily, so only the columns asked for are read, ``batch_rows`` at a time.
    """
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path)

    def batches() -> Iterator[pa.RecordBatch]:
        yield from table.iter_batches(batch_size=batch_rows, columns=list(columns))

    return table.schema_arrow, table.metadata.num_rows, batches()
