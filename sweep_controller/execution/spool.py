"""A task's data file written as it is produced, with bounded memory, then read back for upload.

A task of 10^5 runs makes about 150 MB of JSONL (about 1.5 KB per run). Held in memory until the
upload, with the record dicts it was made from, that is several times the engine's own needs, and
it grows with ``runsPerTask``. The worker instead appends each validated line to a
:class:`Spool`: the first ``SPOOL_MEMORY_BYTES`` stay in memory, the rest goes to an anonymous
temporary file in ``TMPDIR`` (``/tmp``, the pod's emptyDir). The sha256 and the size are computed
while writing, so the manifest needs no second pass, and the upload reads the file back in
``UPLOAD_CHUNK_BYTES`` chunks, which the store sends as one ``PutObject`` or as a multipart
upload of ``part_size`` parts (S3), or writes to a temporary file renamed into place (files).

Memory: at most ``SPOOL_MEMORY_BYTES`` here, plus one chunk, plus the S3 store's part buffer
(``part_size``, 8 MiB; twice that while a part is copied out). Disk: the task's JSONL once, in
``TMPDIR`` (150 MB for 10^5 runs), released when the spool is closed. The commit id is still
minted just before the upload, and a slow upload is redone from the same spool, so nothing about
commits changes (``sweep_controller.execution.commit``).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Self

__all__ = ["SPOOL_MEMORY_BYTES", "UPLOAD_CHUNK_BYTES", "Spool"]

SPOOL_MEMORY_BYTES = 4 << 20
"""Bytes a spool keeps in memory before it moves to a temporary file."""
UPLOAD_CHUNK_BYTES = 1 << 20
"""Bytes read back per upload chunk."""


class Spool:
    """Bytes appended in order, counted and hashed as they come, read back any number of times.

    Use as a context manager (or call ``close``): the temporary file is removed on close.
    """

    def __init__(self, memory_bytes: int = SPOOL_MEMORY_BYTES) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=memory_bytes)  # noqa: SIM115
        self._hash = hashlib.sha256()
        self.size = 0
        """Bytes written so far."""
        self.count = 0
        """Calls to ``write`` so far (records, for the JSONL)."""

    @classmethod
    def of(cls, data: bytes) -> Spool:
        """A spool holding ``data``."""
        spool = cls()
        spool.write(data)
        return spool

    def write(self, data: bytes) -> None:
        """Append ``data``."""
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)
        self.count += 1

    @property
    def sha256(self) -> str:
        """Hex sha256 of everything written so far."""
        return self._hash.hexdigest()

    @property
    def on_disk(self) -> bool:
        """Whether the spool has moved to a temporary file."""
        return bool(getattr(self._file, "_rolled", False))

    def chunks(self, before_each: Callable[[], None] = lambda: None) -> Iterator[bytes]:
        """Everything written, from the start, in ``UPLOAD_CHUNK_BYTES`` chunks (at least one).

        ``before_each`` runs before each chunk (a stop point, which may raise).
        """
        self._file.flush()
        self._file.seek(0)
        left = self.size
        while True:
            before_each()
            chunk = self._file.read(min(UPLOAD_CHUNK_BYTES, left))
            if left and not chunk:
                raise OSError(f"spool: {left} bytes written are missing from its temporary file")
            left -= len(chunk)
            yield chunk
            if left <= 0:
                return

    def close(self) -> None:
        """Release the memory and the temporary file."""
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
