"""Committing a task: its data files under names of their own, then the manifest that names them.

A task is several objects (the run records, and side files such as per-agent or trace tables),
and any number of attempts may write the same task at once. Objects at fixed keys would let one
attempt's manifest end up beside another attempt's data. So each commit uploads its data files
under names that no other commit uses, ``NNNNNN.<commit>.<suffix>`` (``<commit>``: the UTC time
and 8 random hex digits, minted just before the upload), and only then writes the manifest
(atomic, last writer wins) that names each file with its size and sha256. A data file never
changes once written, and readers trust only the files a manifest names, so they see the
previous commit, none, or this one complete, whatever other attempts do meanwhile.

Cleanup (``sweep_controller.execution.cleanup``) removes unnamed data files once their commit id
is old, so a commit names only files minted less than ``FRESH_FOR`` ago: an upload slower than
that is done again under a new commit id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sweep_controller.errors import TaskInterrupted
from sweep_controller.execution.cleanup import FRESH_FOR
from sweep_controller.execution.layout import (
    DataFile,
    Manifest,
    commit_time,
    data_key,
    manifest_json,
    manifest_key,
    new_commit,
)
from sweep_controller.execution.spool import UPLOAD_CHUNK_BYTES, Spool
from sweep_controller.store import Store

__all__ = ["UPLOAD_CHUNK_BYTES", "TaskFile", "commit_task", "stop_point"]

log = logging.getLogger(__name__)


def stop_point(should_stop: Callable[[], bool]) -> None:
    """Raise ``TaskInterrupted`` if a stop was requested (a safe point: nothing is committed)."""
    if should_stop():
        raise TaskInterrupted("stop requested; nothing was committed by this attempt")


@dataclass(frozen=True)
class TaskFile:
    """One data file of a task: its role in the manifest, its name suffix and its content.

    The run records are role ``records`` (``layout.RECORDS``), suffix ``jsonl``; a side file is
    one more entry (for example role ``flip_trace``, suffix ``trace.parquet``). The content is a
    :class:`~sweep_controller.execution.spool.Spool` (size and sha256 known, read back in
    chunks), so a large file is never whole in memory.
    """

    role: str
    suffix: str
    data: Spool


def commit_task(
    store: Store,
    sweep_name: str,
    index: int,
    files: Sequence[TaskFile],
    *,
    count: int,
    positions: range,
    spec_hash: str,
    runs_hash: str | None = None,
    code_version: str,
    should_stop: Callable[[], bool],
    clock: Callable[[], datetime],
    token: Callable[[], str],
    on_written: Callable[[int], None],
) -> Manifest:
    """Upload ``files`` under a fresh commit id, then write the manifest that names them.

    ``count`` is the number of run records; ``token`` gives the commit id's random hex digits;
    ``on_written`` is told the size of each object written. A stop request is honoured before
    each file and between upload chunks; once the files are up, the manifest is written anyway.
    """
    while True:
        commit = new_commit(clock(), token())
        named: dict[str, DataFile] = {}
        for file in files:
            stop_point(should_stop)
            key = data_key(sweep_name, index, commit, file.suffix)
            store.put_stream(key, file.data.chunks(lambda: stop_point(should_stop)))
            on_written(file.data.size)
            named[file.role] = DataFile(
                name=key.rsplit("/", 1)[1], bytes=file.data.size, sha256=file.data.sha256
            )
        if clock() - commit_time(commit) < FRESH_FOR:
            break
        log.warning("task %d: the upload took over %s; uploading again", index, FRESH_FOR)
    manifest = Manifest(
        sweep=sweep_name,
        index=index,
        commit=commit,
        count=count,
        files=named,
        spec_hash=spec_hash,
        runs_hash=runs_hash,
        code_version=code_version,
        position_start=positions.start,
        position_stop=positions.stop,
        created=clock(),
    )
    body = manifest_json(manifest)
    store.put_bytes(manifest_key(sweep_name, index), body)
    on_written(len(body))
    return manifest
