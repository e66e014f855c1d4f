"""Atomic file writes: a reader sees the old file or the complete new one, never a partial file.

Every file the product writes whole (Parquet side files, migrated JSONL, results tables, reports,
objects of the file store) goes through :func:`write_atomic`: the bytes go to a temporary file in
the target's own directory (one file system, so the rename is atomic), which is fsynced, renamed
over the target (``os.replace``) and then the directory is fsynced, so the new name survives a
crash. In exclusive mode the temporary file is hard-linked to the target instead, which fails when
the target exists: the first complete writer wins and later ones change nothing. A crash at any
point leaves the old content or the new one, plus at most a stray temporary file whose name
carries ``TEMP_MARKER``, which listings skip. The name also says which process wrote it
(``.<target name><marker><pid>-<host>-<random hex>``), so that a cleaner can tell the leftovers
of a dead writer on its own machine (:func:`parse_temp_name`, :func:`writer_gone`). Anything
short of a crash leaves no temporary file: the writer removes it on every exception, and
:func:`sigterm_raises` turns SIGTERM into one (``Terminated``) for commands that write files, so
``kill`` cleans up too.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import FrameType
from typing import TypeVar

__all__ = [
    "TEMP_MARKER",
    "TempName",
    "Terminated",
    "check_terminated",
    "parse_temp_name",
    "sigterm_raises",
    "temp_name",
    "write_atomic",
    "writer_gone",
]

TEMP_MARKER = ".govsim-partial-"
"""Part of the name of every in-flight temporary file (see the module docstring)."""
_WRITER = re.compile(r"^(?P<pid>\d+)-(?P<host>.*)-[0-9a-f]{16}$")

_T = TypeVar("_T")
_WRITE_BYTES = 1 << 20
"""Bytes gathered from the caller's chunks before one ``os.write``."""


@dataclass(frozen=True)
class TempName:
    """What the name of a temporary file says: its target's name and who was writing it."""

    target: str
    pid: int | None
    """The writer's process id; None for names of earlier releases, which carry none."""
    host: str


def _host() -> str:
    """This machine's name as it goes into temporary file names (no '/')."""
    return socket.gethostname().replace("/", "_")[:64]


def temp_name(target_name: str, marker: str = TEMP_MARKER) -> str:
    """A fresh name for this process's temporary file of ``target_name``."""
    return f".{target_name}{marker}{os.getpid()}-{_host()}-{uuid.uuid4().hex[:16]}"


def parse_temp_name(name: str, marker: str = TEMP_MARKER) -> TempName | None:
    """Read a temporary file's name; None if ``name`` is not one."""
    if not name.startswith(".") or marker not in name:
        return None
    target, _, writer = name[1:].rpartition(marker)
    if not target:
        return None
    match = _WRITER.match(writer)
    if match is None:
        return TempName(target, None, "")
    return TempName(target, int(match["pid"]), match["host"])


def writer_gone(temp: TempName) -> bool:
    """True only if the writer of ``temp`` ran on this machine and that process has ended.

    False whenever it cannot tell (another machine, no pid in the name, or a live process
    with that pid, which may be a later process that reused it).
    """
    if temp.pid is None or temp.host != _host():
        return False
    try:
        os.kill(temp.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _fsync_dir(path: Path) -> None:
    """Flush a directory entry change (rename, link) to disk where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(
    path: str | os.PathLike[str],
    data: bytes | bytearray | memoryview | Iterable[bytes],
    *,
    exclusive: bool = False,
    temp_marker: str = TEMP_MARKER,
    on_os_error: Callable[[OSError], Exception] | None = None,
) -> bool:
    """Write ``data`` (bytes, or an iterable of chunks) to ``path`` atomically; create parents.

    Returns True when the target now holds ``data``; False only in ``exclusive`` mode, when the
    target already existed (it is left untouched). ``on_os_error`` translates the OS errors of
    this function's own file operations (raised ``from`` the original); without it they are
    re-raised naming ``path`` when they named no file (a failed write on a full disk names
    none). Errors raised by the ``data`` iterable propagate unchanged, and the temporary file is
    removed in every case.
    """
    target = Path(path)

    def os_call(fn: Callable[[], _T]) -> _T:
        try:
            return fn()
        except OSError as exc:
            if on_os_error is not None:
                raise on_os_error(exc) from exc
            if exc.filename is None:
                raise OSError(exc.errno, exc.strerror, str(target)) from exc
            raise

    chunks: Iterable[bytes] = (
        [bytes(data)] if isinstance(data, bytes | bytearray | memoryview) else data
    )
    tmp = target.with_name(temp_name(target.name, temp_marker))
    os_call(lambda: target.parent.mkdir(parents=True, exist_ok=True))
    try:  # from before the file exists, so that no exception can slip in between
        fd = os_call(lambda: os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        try:
            # Our own buffer, written with os.write: a failed write (a full disk) raises here,
            # through os_call, not again later from a buffered file's close.
            pending = bytearray()
            for chunk in chunks:  # the caller's iterable: its errors are not translated
                check_terminated()
                pending += chunk
                if len(pending) >= _WRITE_BYTES:
                    os_call(partial(_write_all, fd, pending))
                    pending.clear()
            os_call(partial(_write_all, fd, pending))
            os_call(lambda: os.fsync(fd))
        finally:
            os.close(fd)
        check_terminated()
        return os_call(lambda: _publish(tmp, target, exclusive=exclusive))
    finally:
        tmp.unlink(missing_ok=True)


def _write_all(fd: int, data: bytes | bytearray) -> None:
    """Write all of ``data``; a short write is continued, so only an error stops it."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _publish(tmp: Path, target: Path, *, exclusive: bool) -> bool:
    """Move a complete temporary file into place; False if ``exclusive`` found a target."""
    if exclusive:
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
    else:
        os.replace(tmp, target)
    _fsync_dir(target.parent)
    return True


class Terminated(BaseException):
    """SIGTERM arrived inside :func:`sigterm_raises`; raised so that cleanup code runs.

    A ``BaseException``, like ``KeyboardInterrupt``, so that ``except Exception`` does not
    swallow it. Exit with status 143 (128 + SIGTERM) after catching it.
    """


class _Termination:
    """Whether SIGTERM arrived inside ``sigterm_raises`` (the handler's record of it)."""

    requested = False


_TERMINATION = _Termination()


def check_terminated() -> None:
    """Raise ``Terminated`` if SIGTERM arrived inside :func:`sigterm_raises`.

    The handler raises at once, wherever the interpreter is; but an exception raised inside a
    callback of a C library (a JSON hook, a serialiser) can come out wrapped in another one, and
    be caught as that. Long loops call this at safe points, so a stop request always ends them.
    """
    if _TERMINATION.requested:
        raise Terminated("SIGTERM received")


@contextlib.contextmanager
def sigterm_raises() -> Iterator[_Termination]:
    """Within the block, SIGTERM raises ``Terminated`` in the main thread; restored on exit.

    Yields the record of it: after the block, ``requested`` tells whether SIGTERM arrived, even
    if the exception that ended the block is another one (see :func:`check_terminated`). The
    first SIGTERM raises; later ones are ignored while the stack unwinds, so a second ``kill``
    cannot interrupt the cleanup it started. Outside the main thread (where Python cannot set
    handlers) the block runs with the handler unchanged.
    """
    _TERMINATION.requested = False
    if threading.current_thread() is not threading.main_thread():
        yield _TERMINATION
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _TERMINATION.requested = True
        raise Terminated(f"{signal.Signals(signum).name} received")

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield _TERMINATION
    finally:
        signal.signal(signal.SIGTERM, previous)
