"""The result-store interface every backend implements, and the key rules they share.

A sweep writes each task's results under a deterministic key below one output URI. The worker
must not care whether that URI is a local directory or an S3 bucket, so both backends implement
the same small interface, and one contract test suite runs over all of them.

Keys are relative and '/'-separated (`sweep/tasks/000007.jsonl`): no leading '/', no empty,
'.' or '..' segments, no backslashes. Objects are whole: a reader sees either no object or a
complete one, never a partial write.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterable, Iterator
from datetime import datetime

from simulator.atomic import TEMP_MARKER  # in temporary files of in-flight writes; not in keys
from sweep_controller.errors import PermanentStorageError
from sweep_controller.store.retry import Retrier

__all__ = ["TEMP_MARKER", "Store", "check_key", "check_prefix"]


_BAD_SEGMENTS = frozenset({"", ".", ".."})


def check_key(key: str) -> str:
    """Return `key` if it is a valid relative object key, else raise PermanentStorageError."""
    if not isinstance(key, str) or not key:
        raise PermanentStorageError(f"key: {key!r} must be a non-empty string")
    if "\\" in key or "\x00" in key:
        raise PermanentStorageError(f"key: {key!r} must not contain backslashes or NUL bytes")
    if key.startswith("/") or any(seg in _BAD_SEGMENTS for seg in key.split("/")):
        raise PermanentStorageError(
            f"key: {key!r} must be relative and '/'-separated, without empty, '.' or '..' segments"
        )
    if TEMP_MARKER in key:
        raise PermanentStorageError(f"key: {key!r} must not contain the reserved {TEMP_MARKER!r}")
    return key


def check_prefix(prefix: str) -> str:
    """Return `prefix` if it can start a valid key ('' lists everything), else raise."""
    if prefix == "":
        return prefix
    # A prefix may end in '/' or mid-segment; the part before it must be a valid key.
    head = prefix[:-1] if prefix.endswith("/") else prefix
    if not head:
        raise PermanentStorageError(f"prefix: {prefix!r} must be relative (no leading '/')")
    check_key(head)
    return prefix


_TEMP_RE = re.compile(re.escape(TEMP_MARKER))


def is_temp_name(name: str) -> bool:
    """Return True for names of in-flight temporary files, which no listing shows."""
    return bool(_TEMP_RE.search(name))


class Store(abc.ABC):
    """A flat key -> bytes object store with atomic whole-object writes.

    Distributed semantics: results are written at least once. Keys are deterministic (a task's
    output key depends only on the sweep and the task index), so a retried or duplicated pod
    rewrites an identical object; readers never see a partial object, only the old one, none, or
    the new one. `if_absent=True` makes a write a no-op when the key already exists, so the first
    of two racing writers wins. Stores are cheap to open by URI in each process; they hold no
    locks.
    """

    uri: str
    retrier: Retrier

    @property
    def retries(self) -> int:
        """Return how many transient failures this store has retried so far."""
        return self.retrier.retries

    def put_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        """Write `data` under `key` atomically; with if_absent, never replace an existing object.

        Returns True if this call wrote the object, False if if_absent found one already there.
        """
        return self.put_stream(key, (data,), if_absent=if_absent)

    @abc.abstractmethod
    def put_stream(self, key: str, chunks: Iterable[bytes], *, if_absent: bool = False) -> bool:
        """Write the concatenated `chunks` under `key` atomically (see put_bytes).

        If iterating `chunks` raises, the exception propagates unchanged and nothing under `key`
        changes: no partial object becomes visible.
        """

    @abc.abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """Return the object under `key`; raise KeyNotFound if there is none."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Return True if an object exists under `key`."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """Yield each key that starts with `prefix` (a string prefix, not only a directory) once.

        The order is the backend's (AWS S3 and the file store: lexicographic; some S3-compatible
        servers list directory by directory); sort the keys if order matters.
        """

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object under `key`; deleting a missing key is not an error."""

    @abc.abstractmethod
    def remove_partial_writes(self, prefix: str, *, before: datetime) -> int:
        """Remove what interrupted writes under `prefix` left behind; return how many.

        File store: temporary files last modified before `before`, and those whose writer ran
        on this machine and has ended; S3: multipart uploads initiated before `before`,
        aborted. A write in progress is younger than any sensible `before`, and an interrupted
        one is invisible to every other operation, so this only reclaims space.
        """

    @abc.abstractmethod
    def uri_for(self, key: str) -> str:
        """Return the absolute URI of `key` (file:///... or s3://bucket/...)."""
