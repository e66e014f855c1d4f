"""A store in a local (or network-mounted) directory, with crash-safe atomic writes.

A write goes through `simulator.atomic.write_atomic`: a temporary file in the target's own
directory, fsynced, then renamed over the target (`os.replace`, atomic on POSIX within one file
system) and the directory fsynced. With `if_absent` the temporary file is hard-linked to the target
instead, which fails if the target exists. A crash at any point leaves the old object or the new
one, plus at most a stray temporary file that no listing or lookup ever shows.
"""

from __future__ import annotations

import builtins
import errno
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

from simulator.atomic import parse_temp_name, write_atomic, writer_gone
from sweep_controller.errors import (
    KeyNotFound,
    PermanentStorageError,
    StorageError,
    TransientStorageError,
)
from sweep_controller.store.base import TEMP_MARKER, Store, check_key, check_prefix, is_temp_name
from sweep_controller.store.retry import Retrier

__all__ = ["FileStore"]

T = TypeVar("T")

# Errors a network file system (NFS, SMB, FUSE) may raise and then recover from, and running
# out of file descriptors (a retry, or another pod, has them). Every other OSError is permanent:
# a full disk or quota (ENOSPC, EDQUOT), no permission (EACCES, EPERM), a read-only file system
# (EROFS), a bad path fail the same way on every attempt.
_TRANSIENT_ERRNOS = frozenset(
    {
        errno.EAGAIN,
        errno.EBUSY,
        errno.EINTR,
        errno.ETIMEDOUT,
        errno.ESTALE,
        errno.ECONNRESET,
        errno.ENETDOWN,
        errno.EMFILE,
        errno.ENFILE,
    }
)


def _translate(exc: OSError, operation: str, uri: str) -> StorageError:
    """Return the storage error for an OSError raised while doing `operation` on `uri`."""
    text = f"{uri}: {operation} failed: {exc.strerror or exc}"
    if exc.errno in _TRANSIENT_ERRNOS:
        return TransientStorageError(text)
    return PermanentStorageError(text)


class FileStore(Store):
    """Objects as files under a root directory; keys map to relative paths.

    Distributed semantics: writes are atomic renames, so concurrent readers see the old or the
    new file, never a partial one; two writers of the same deterministic key leave one complete
    object (the last rename wins, or the first link with if_absent). Safe across processes on one
    host; on network file systems atomicity is only as good as their rename. A key cannot be both
    an object and a prefix of other keys ('a' and 'a/b'), unlike on S3.
    """

    def __init__(self, root: str | os.PathLike[str], *, retrier: Retrier | None = None) -> None:
        self.root = Path(root).expanduser().resolve()
        self.uri = f"file://{self.root.as_posix()}"
        self.retrier = retrier if retrier is not None else Retrier()

    def __repr__(self) -> str:
        return f"FileStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def _call(self, operation: str, uri: str, fn: Callable[[], T]) -> T:
        def once() -> T:
            try:
                return fn()
            except OSError as exc:
                raise _translate(exc, operation, uri) from exc

        return self.retrier.call(operation, once)

    def uri_for(self, key: str) -> str:
        """Return file:///absolute/path/of/key."""
        return f"file://{self._path(key).as_posix()}"

    def put_stream(self, key: str, chunks: Iterable[bytes], *, if_absent: bool = False) -> bool:
        """Write chunks to a temporary file, fsync it, then rename (or link) it into place."""
        path = self._path(key)
        uri = self.uri_for(key)
        if path.is_dir():
            raise PermanentStorageError(
                f"{uri}: put failed: the key is also a prefix of other keys (a directory here)"
            )
        # errors raised by the caller's iterable propagate unchanged; ours become storage errors
        return write_atomic(
            path,
            chunks,
            exclusive=if_absent,
            temp_marker=TEMP_MARKER,
            on_os_error=partial(_translate, operation="put", uri=uri),
        )

    def get_bytes(self, key: str) -> bytes:
        """Return the file's content; raise KeyNotFound if there is no such object."""
        path = self._path(key)

        def read() -> bytes:
            try:
                return path.read_bytes()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
                raise KeyNotFound(f"{self.uri_for(key)}: no such object") from exc

        return self._call("get", self.uri_for(key), read)

    def exists(self, key: str) -> bool:
        """Return True if a regular file holds this key."""
        path = self._path(key)
        return self._call("exists", self.uri_for(key), path.is_file)

    def list(self, prefix: str = "") -> Iterator[str]:
        """Yield keys starting with `prefix` in lexicographic order, never temporary files."""
        check_prefix(prefix)
        base = self.root.joinpath(*prefix.split("/")[:-1]) if "/" in prefix else self.root
        keys = self._call("list", f"{self.uri}/{prefix}", lambda: self._walk(base, prefix))
        yield from keys

    def _walk(self, base: Path, prefix: str) -> builtins.list[str]:
        found: builtins.list[str] = []
        if not base.is_dir():
            return found

        def fail(exc: OSError) -> None:
            raise exc

        for dirpath, _dirnames, filenames in os.walk(base, onerror=fail):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if is_temp_name(name):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    found.append(key)
        found.sort()
        return found

    def remove_partial_writes(self, prefix: str, *, before: datetime) -> int:
        """Remove temporary files of writes under `prefix` that no live process is writing.

        A temporary file goes when it was last modified before `before`, or when its name says
        it was written on this machine by a process that has ended (killed mid-write).
        """
        check_prefix(prefix)
        base = self.root.joinpath(*prefix.split("/")[:-1]) if "/" in prefix else self.root
        cutoff = before.timestamp()

        def stale(path: Path) -> bool:
            temp = parse_temp_name(path.name, TEMP_MARKER)
            if temp is None:
                return False
            rel_dir = path.parent.relative_to(self.root).as_posix()
            key = temp.target if rel_dir == "." else f"{rel_dir}/{temp.target}"
            return key.startswith(prefix) and (writer_gone(temp) or path.stat().st_mtime < cutoff)

        def remove() -> int:
            removed = 0
            if not base.is_dir():
                return removed
            for dirpath, _dirnames, filenames in os.walk(base):
                for name in filenames:
                    path = Path(dirpath, name)
                    try:
                        if stale(path):
                            path.unlink()
                            removed += 1
                    except FileNotFoundError:  # published, or removed by another cleaner
                        continue
            return removed

        return self._call("remove partial writes", f"{self.uri}/{prefix}", remove)

    def delete(self, key: str) -> None:
        """Remove the file if present; empty parent directories are left in place."""
        path = self._path(key)

        def remove() -> None:
            try:
                path.unlink()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                return

        self._call("delete", self.uri_for(key), remove)
