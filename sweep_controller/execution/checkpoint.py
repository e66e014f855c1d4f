"""Checkpoints: the runs an unfinished task has finished, kept for the task's next attempt.

A task commits all or nothing (``sweep_controller.execution.commit``), so without checkpoints an
attempt stopped at run 31 of 63 (Ctrl-C, SIGTERM, a reclaimed node, ``kill -9``) loses its 31
runs. While it simulates, an attempt therefore also keeps what it has finished in the store:

- every ``CHECKPOINT_SECONDS`` of simulation, and when it is asked to stop, it uploads the
  validated record lines finished since its last checkpoint as a *part*,
  ``NNNNNN.<commit>.part.jsonl`` (a fresh commit id: no two parts share a key, and a part never
  changes once written), then writes the *marker* ``NNNNNN.checkpoint.json``, which names every
  part so far, in order, each with its size and sha256, and the number of runs they hold. The
  runs are always the first ``count`` runs of the task in its run order: lines are kept in that
  order, and a stop request is honoured between runs.
- The next attempt, once it holds the task's lease, reads the marker. When it was written for
  the same spec hash, code version, task and positions, and every part it names is there with
  its size and sha256 and holds exactly the task's first ``count`` run indexes, the attempt
  starts from those lines and simulates only the runs after them. Anything else (no marker, a
  part missing or different, another spec) and the attempt starts from the first run: a
  checkpoint can cost work, never correctness.
- The commit is unchanged: the task's records file holds every line (the kept ones copied from
  the parts), and its manifest is the commit point. Readers of results read only manifests, so
  a run counts once, in its task's committed records, and never from a part. Once committed,
  the worker removes the marker and the parts it named; ``sweepctl run``'s cleanup removes
  what is left of done tasks (markers, and after ``GARBAGE_AGE`` parts), and keeps the parts of
  tasks that are not done.

Distributed semantics: only the lease holder writes a task's checkpoint. A holder that lost its
lease and goes on may still write one beside the new holder's: each marker is complete and
names only whole parts of one attempt's prefix of the task, so whichever marker is read last is
a valid start, and the records two attempts would produce differ only in ``run_id`` and
``timestamp``. What ``kill -9`` loses is at most the runs since the last checkpoint (up to
``CHECKPOINT_SECONDS`` of simulation, plus the run in progress); Ctrl-C and SIGTERM lose only
the run in progress.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, ValidationError

from simulator.records.schema import UtcDatetime
from sweep_controller.errors import KeyNotFound, SweepError
from sweep_controller.execution.layout import (
    PART_SUFFIX,
    DataFile,
    checkpoint_key,
    data_key,
    new_commit,
    sha256_hex,
    tasks_prefix,
)
from sweep_controller.execution.spool import Spool
from sweep_controller.store import Store

__all__ = ["CHECKPOINT_SECONDS", "Checkpoint", "Checkpointer", "read_checkpoint"]

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 60.0
"""Seconds of simulation between two checkpoints of a task (and at every stop request)."""


class Checkpoint(BaseModel):
    """The marker of a task's checkpoint: the parts that hold its first ``count`` runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    checkpoint_version: Literal[1] = 1
    sweep: str
    index: NonNegativeInt
    spec_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    code_version: str
    position_start: NonNegativeInt
    position_stop: NonNegativeInt
    count: NonNegativeInt = Field(description="Runs the parts hold: the task's first ones.")
    parts: tuple[DataFile, ...] = Field(description="Part files in run order.")
    created: UtcDatetime


def read_checkpoint(store: Store, sweep_name: str, index: int) -> Checkpoint | None:
    """Task ``index``'s checkpoint marker; None when there is none or it does not parse."""
    try:
        raw = store.get_bytes(checkpoint_key(sweep_name, index))
    except KeyNotFound:
        return None
    try:
        return Checkpoint.model_validate_json(raw)
    except ValidationError:
        log.warning("task %d: ignoring a checkpoint marker that does not parse", index)
        return None


class Checkpointer:
    """One attempt's checkpoints of a task: resumes from the last one and writes new ones.

    ``run_indexes`` are the task's run indexes in run order (what a kept prefix must hold);
    ``timer`` measures the interval between checkpoints; ``clock`` and ``token`` mint commit
    ids as for a commit; ``on_written`` is told the size of every object written.
    """

    def __init__(
        self,
        store: Store,
        sweep_name: str,
        index: int,
        *,
        spec_hash: str,
        code_version: str,
        positions: range,
        run_indexes: Sequence[int],
        interval_seconds: float,
        timer: Callable[[], float],
        clock: Callable[[], datetime],
        token: Callable[[], str],
        on_written: Callable[[int], None],
    ) -> None:
        self.store, self.sweep_name, self.index = store, sweep_name, index
        self.spec_hash, self.code_version, self.positions = spec_hash, code_version, positions
        self.run_indexes = run_indexes
        self.interval_seconds = interval_seconds
        self._timer, self._clock, self._token, self._on_written = timer, clock, token, on_written
        self.parts: list[DataFile] = []
        self.count = 0
        """Runs the task's checkpoint holds (as this attempt last wrote or read it)."""
        self.resumed = 0
        """Runs this attempt took from the checkpoint instead of simulating them."""
        self._chunk = Spool()
        self._last = timer()
        self._marker_seen = False

    # -- resuming -------------------------------------------------------------------------------

    def resume(self, out: Spool) -> int:
        """Append the task's kept record lines to ``out``; how many runs they are (0: none)."""
        marker = read_checkpoint(self.store, self.sweep_name, self.index)
        if marker is None:
            return 0
        self._marker_seen = True
        why = self._mismatch(marker)
        lines: list[bytes] = []
        if not why:
            why = self._read_parts(marker, lines)
        if why:
            log.warning("task %d: not resuming from its checkpoint: %s", self.index, why)
            return 0
        for line in lines:
            out.write(line)
        self.parts, self.count, self.resumed = list(marker.parts), marker.count, marker.count
        log.info("task %d: resuming after the %d runs of its checkpoint", self.index, self.count)
        return self.count

    def _mismatch(self, marker: Checkpoint) -> str:
        """Why the marker is not this attempt's task under this spec and code ('' if it is)."""
        if marker.spec_hash != self.spec_hash:
            return f"written under spec hash {marker.spec_hash[:12]}..."
        if marker.code_version != self.code_version:
            return f"written by code version {marker.code_version}, not {self.code_version}"
        if (marker.sweep, marker.index) != (self.sweep_name, self.index) or (
            marker.position_start,
            marker.position_stop,
        ) != (self.positions.start, self.positions.stop):
            return "written for another task"
        if marker.count > len(self.run_indexes):
            return f"holds {marker.count} runs; the task has {len(self.run_indexes)}"
        return ""

    def _part_key(self, part: DataFile) -> str:
        """The store key of one of the task's parts."""
        return f"{tasks_prefix(self.sweep_name)}{part.name}"

    def _read_parts(self, marker: Checkpoint, lines: list[bytes]) -> str:
        """Read and check the marker's parts into ``lines``; why not ('' when they are good)."""
        for part in marker.parts:
            key = self._part_key(part)
            if not part.name.startswith(f"{self.index:06d}.") or not part.name.endswith(
                f".{PART_SUFFIX}"
            ):
                return f"names {part.name!r}, not a part of this task"
            try:
                data = self.store.get_bytes(key)
            except KeyNotFound:
                return f"{self.store.uri_for(key)} is missing"
            if len(data) != part.bytes or sha256_hex(data) != part.sha256:
                return f"{self.store.uri_for(key)} does not match its marker"
            lines.extend(data.splitlines(keepends=True))
        if len(lines) != marker.count:
            return f"its parts hold {len(lines)} lines, the marker says {marker.count}"
        for line, expected in zip(lines, self.run_indexes, strict=False):
            try:
                run_index = json.loads(line)["run_index"]
            except (ValueError, KeyError, TypeError):
                return "a part holds a line that is not a run record"
            if run_index != expected:
                return f"a part holds run {run_index} where the task's run {expected} belongs"
        return ""

    # -- keeping --------------------------------------------------------------------------------

    def add(self, line: bytes) -> None:
        """A validated record line, the task's next run in order (kept at the next ``save``)."""
        self._chunk.write(line)

    def due(self) -> bool:
        """Whether ``interval_seconds`` have passed since the last checkpoint (or the start)."""
        return self._timer() - self._last >= self.interval_seconds

    def save(self) -> None:
        """Upload the lines added since the last checkpoint as a part, then the marker."""
        self._last = self._timer()
        if not self._chunk.count:
            return
        commit = new_commit(self._clock(), self._token())
        key = data_key(self.sweep_name, self.index, commit, PART_SUFFIX)
        self.store.put_stream(key, self._chunk.chunks())
        self._on_written(self._chunk.size)
        part = DataFile(
            name=key.rsplit("/", 1)[1], bytes=self._chunk.size, sha256=self._chunk.sha256
        )
        marker = Checkpoint(
            sweep=self.sweep_name,
            index=self.index,
            spec_hash=self.spec_hash,
            code_version=self.code_version,
            position_start=self.positions.start,
            position_stop=self.positions.stop,
            count=self.count + self._chunk.count,
            parts=(*self.parts, part),
            created=self._clock(),
        )
        body = marker.model_dump_json().encode()
        self.store.put_bytes(checkpoint_key(self.sweep_name, self.index), body)
        self._on_written(len(body))
        self.parts, self.count, self._marker_seen = list(marker.parts), marker.count, True
        self._chunk.close()
        self._chunk = Spool()

    def save_on_stop(self) -> None:
        """``save`` at a stop: a store failure is logged, not raised (the stop goes on)."""
        try:
            self.save()
        except SweepError as exc:
            log.warning("task %d: could not keep its finished runs: %s", self.index, exc)

    def remove(self) -> None:
        """Remove the task's marker, then the parts it named, once the task is committed.

        Best effort: the committed records hold every kept line, so nothing reads the parts any
        more, and a part left behind (a failed delete, a part only another attempt's marker
        named) is what ``sweepctl run``'s cleanup removes. Removing them here keeps a Job's
        tasks, whose workers do no cleanup, from storing their lines twice.
        """
        if not self._marker_seen:
            return
        try:
            self.store.delete(checkpoint_key(self.sweep_name, self.index))
            for part in self.parts:
                self.store.delete(self._part_key(part))
        except SweepError as exc:
            log.warning("task %d: could not remove its checkpoint: %s", self.index, exc)
        self.parts, self._marker_seen = [], False

    def close(self) -> None:
        """Release the buffer of lines not yet kept."""
        self._chunk.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
