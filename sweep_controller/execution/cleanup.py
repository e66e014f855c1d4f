"""Removing what no reader needs from a sweep's prefix: leftovers of interrupted and lost writes.

Three kinds of leftovers pile up under ``<sweep>/tasks/`` and nothing reads them:

- **partial writes**: temporary files ``.<name>.govsim-partial-<pid>-<host>-<hex>`` of a writer
  killed mid-write, and incomplete multipart uploads on S3;
- **unnamed data files**: ``NNNNNN.<commit>.<suffix>`` files that no manifest names, either from
  an attempt that died before its manifest or from a commit that a later one replaced;
- **version-1 data**: an ``NNNNNN.jsonl`` of an earlier release that the task's (newer)
  manifest no longer names;
- (data files that a retired plan's manifest names, ``sweep_controller.execution.plans``, are
  not leftovers: the runner passes their names to keep);
- **checkpoints of done tasks** (``sweep_controller.execution.checkpoint``): the marker
  ``NNNNNN.checkpoint.json`` of a task that is done, and, once old, its part files
  ``NNNNNN.<commit>.part.jsonl``. The parts of a task that is not done are kept whatever
  their age: its next attempt resumes from them.

``sweepctl run`` removes them when it starts (:func:`clean_sweep`). It removes only what cannot
be in use: a temporary file whose writer ran on this machine and has ended (its name carries the
writer's pid and host), or that nobody has touched for ``PARTIAL_AGE`` (a live writer writes its
temporary file within seconds; this covers writers on other machines, where a pid means
nothing); a multipart upload initiated more than ``PARTIAL_AGE`` ago; and an unnamed data file
whose commit id is older than ``GARBAGE_AGE``. A writer names only data files minted less than
``FRESH_FOR`` before it writes its manifest (it uploads again otherwise), so a file old enough
to remove can no longer become named. A reader that read a manifest just before it was
replaced, and whose files were then removed, reads the new manifest instead (``check_task``).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sweep_controller.errors import PermanentStorageError
from sweep_controller.execution.layout import (
    PART_SUFFIX,
    TaskCheck,
    TaskScan,
    TaskState,
    commit_time,
    parse_task_file,
    tasks_prefix,
)
from sweep_controller.store import Store

__all__ = ["FRESH_FOR", "GARBAGE_AGE", "PARTIAL_AGE", "Cleaned", "clean_sweep"]

log = logging.getLogger(__name__)

PARTIAL_AGE = timedelta(minutes=15)
"""A temporary file or multipart upload untouched this long belongs to a dead writer."""
GARBAGE_AGE = timedelta(hours=1)
"""An unnamed data file whose commit is this old will never be named."""
FRESH_FOR = GARBAGE_AGE / 2
"""A writer names only data files minted less than this long ago."""


@dataclass(frozen=True)
class Cleaned:
    """What one cleanup removed."""

    partial: int = 0
    unnamed: int = 0
    error: str | None = None
    """Why cleanup stopped early (a store that refuses deletes), if it did."""

    @property
    def total(self) -> int:
        """Everything removed."""
        return self.partial + self.unnamed


def _named(checks: Iterable[TaskCheck]) -> tuple[dict[int, set[str]], set[int]]:
    """The file names each task's manifest names, and the tasks not to touch (foreign)."""
    named: dict[int, set[str]] = {}
    foreign: set[int] = set()
    for check in checks:
        if check.state is TaskState.FOREIGN:
            foreign.add(check.index)
        elif check.manifest is not None:
            named[check.index] = {f.name for f in check.manifest.files.values()}
    return named, foreign


def unnamed_files(
    keys: Iterable[str],
    prefix: str,
    scan: TaskScan,
    now: datetime,
    *,
    keep: Collection[str] = frozenset(),
) -> list[str]:
    """The keys among ``keys`` (below ``prefix``) that ``clean_sweep`` removes.

    ``scan`` holds the tasks' states (``scan_store``), read after ``keys`` were listed; a
    manifest written since can only name files younger than ``GARBAGE_AGE``, which stay.
    ``keep`` names more files to keep: those that retired plans' manifests name, and the
    files of earlier plans' manifests still in the folder are kept too.
    """
    named, foreign = _named(scan.found.values())
    kept = set(keep) | {f.name for m in scan.earlier.values() for f in m.files.values()}
    done = {c.index for c in scan.found.values() if c.state is TaskState.DONE}
    n_tasks = scan.n_tasks
    found = []
    for key in keys:
        parsed = parse_task_file(key[len(prefix) :])
        if parsed is None or parsed.index >= n_tasks or parsed.index in foreign:
            continue
        if parsed.name in named.get(parsed.index, ()) or parsed.name in kept:
            continue
        if parsed.kind == "checkpoint" and parsed.index in done:
            found.append(key)
            continue
        if parsed.name.endswith(f".{PART_SUFFIX}") and parsed.index not in done:
            continue  # a checkpoint's part: the task's next attempt resumes from it
        if (parsed.kind == "legacy-data" and parsed.index in named) or (
            parsed.kind == "data"
            and parsed.commit is not None
            and commit_time(parsed.commit) < now - GARBAGE_AGE
        ):
            found.append(key)
    return found


def clean_sweep(
    store: Store,
    sweep_name: str,
    scan: TaskScan,
    now: datetime,
    *,
    keep: Collection[str] = frozenset(),
) -> Cleaned:
    """Remove a sweep's old partial writes and unnamed data files (see the module docstring).

    Best effort: a store that refuses deletes (a write-only role) stops the cleanup, and the
    reason is returned instead of raised.
    """
    prefix = tasks_prefix(sweep_name)
    partial = unnamed = 0
    try:
        partial = store.remove_partial_writes(prefix, before=now - PARTIAL_AGE)
        for key in unnamed_files(scan.keys, prefix, scan, now, keep=keep):  # the scan's own listing
            store.delete(key)
            unnamed += 1
    except PermanentStorageError as exc:
        log.warning("cleanup of %s stopped: %s", store.uri_for(prefix.rstrip("/")), exc)
        return Cleaned(partial, unnamed, str(exc))
    return Cleaned(partial, unnamed)
