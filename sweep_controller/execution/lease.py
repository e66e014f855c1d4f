"""Task leases: which process is working on a task, so that others skip it instead of redoing it.

Two runners on one sweep, a runner beside a Job, or two pods of one index (a node partition, a
Job deleted with ``--cascade=orphan``) would otherwise simulate the same tasks side by side.
Before it simulates, an attempt takes the task's lease; a runner that finds the lease held skips
the task and comes back to it later, and a worker (a Job pod) waits for it.

The lease is advisory: results stay correct without it (every commit names its own data files,
see ``sweep_controller.execution.layout``), so a lease that two processes believe they hold costs
duplicate work, never a corrupt task. It needs nothing from a store but create-if-absent (a hard
link on files, ``If-None-Match: *`` on S3), reads, listing and plain puts, and never deletes, so
it works with a write-only role.

- The lease is a chain of generations, ``NNNNNN.lease.GGGGGG.json``; the highest generation is
  the lease. Taking it means creating the next generation with create-if-absent: of any number
  of takers, exactly one creates it, and the others then read it as held.
- A generation records its holder (attempt id, host, pid, boot id and the process's start time)
  and when it expires. It is free once released or expired, or when its holder ran on this
  machine (same host name and boot id) and that process is gone, so a sweep rerun after
  ``kill -9`` takes its tasks back at once; on other machines only expiry frees it.
- The holder renews its own generation in a background thread every ``RENEW_SECONDS`` (a plain
  put: only the holder writes its generation), and marks it released when the attempt ends. A
  holder stopped or cut off for longer than ``LEASE_SECONDS`` loses the lease to whoever takes
  the next generation; it notices at its next renewal (the next generation exists), logs it,
  and may still commit: both commits are complete, and the last one wins.
- Clocks: expiry compares the holder's clock with the reader's; they must agree to well within
  ``LEASE_SECONDS`` (S3 itself refuses requests signed more than 15 minutes off).

The protocol lives in :class:`GenerationLease`; :class:`TaskLease` places it under a task's keys,
and the metric slots (``sweep_controller.execution.slot``) use it for a slot of a sweep.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, NonNegativeInt, ValidationError

from simulator.records.building import utc_now
from simulator.records.schema import UtcDatetime
from sweep_controller.errors import (
    KeyNotFound,
    LeaseContended,
    StoreUnreachable,
    SweepError,
)
from sweep_controller.execution.layout import lease_key, lease_prefix, parse_task_file
from sweep_controller.store import Store

__all__ = [
    "LEASE_SECONDS",
    "RENEW_SECONDS",
    "GenerationLease",
    "Holder",
    "LeaseRecord",
    "TaskLease",
    "is_live",
]

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0
"""How long a generation stays live without renewal."""
RENEW_SECONDS = 20.0
"""How often the holder renews: a third of the lease, so two renewals may fail in a row."""
_TAKE_TRIES = 5


class LeaseRecord(BaseModel):
    """One generation of a task's lease."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    holder: str
    host: str
    pid: NonNegativeInt
    boot: str = ""
    """The machine's boot id (Linux), empty where there is none."""
    process_start: NonNegativeInt = 0
    """The holder process's start time in clock ticks since boot (tells a reused pid apart)."""
    acquired: UtcDatetime
    expires: UtcDatetime
    released: bool = False

    def describe(self) -> str:
        """Who holds it, for messages."""
        return f"{self.host} pid {self.pid} (attempt {self.holder[:8]})"


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name, or None if there is no such pid."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class Holder:
    """This attempt as a lease holder: its id and where it runs."""

    id: str
    host: str
    pid: int
    boot: str
    process_start: int

    @classmethod
    def here(cls, holder_id: str) -> Holder:
        """The current process, under attempt id ``holder_id``."""
        stat = _proc_stat(os.getpid())
        start = int(stat[19]) if stat is not None and len(stat) > 19 else 0
        return cls(holder_id, socket.gethostname(), os.getpid(), _boot_id(), start)


def _process_gone(record: LeaseRecord) -> bool:
    """Whether the holder process of a lease taken on this machine has ended."""
    stat = _proc_stat(record.pid)
    if stat is None or stat[0] in ("Z", "X"):
        return True
    return bool(record.process_start) and len(stat) > 19 and int(stat[19]) != record.process_start


def is_live(record: LeaseRecord, now: datetime, here: Holder) -> bool:
    """Whether a lease generation still holds at ``now``, seen from ``here``."""
    if record.released or record.expires <= now:
        return False
    same_machine = bool(here.boot) and record.host == here.host and record.boot == here.boot
    return not (same_machine and _process_gone(record))


class GenerationLease:
    """A lease kept as a chain of generations below one key prefix: take, renew, release.

    The concrete leases (:class:`TaskLease`, and the metric slots of
    ``sweep_controller.execution.slot``) say where their generations live (``_key``,
    ``_prefix``, ``_generation``), what a generation records (``record_type``) and any fields
    of their own (``_fields``); the protocol above is the same for all.
    """

    record_type: type[LeaseRecord] = LeaseRecord
    what = "lease"
    """What the lease is of, for log lines (``task 3``)."""

    def __init__(
        self,
        store: Store,
        holder: Holder,
        *,
        ttl: float = LEASE_SECONDS,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store, self.holder = store, holder
        self.ttl, self.clock = timedelta(seconds=ttl), clock
        self.generation: int | None = None
        """The generation this attempt holds, once taken."""
        self.previous: LeaseRecord | None = None
        """What the generation below ours recorded when we took it (None: none, or unreadable);
        after a create whose answer was lost, our own generation's record."""

    def _key(self, generation: int) -> str:
        raise NotImplementedError

    def _prefix(self) -> str:
        """The key prefix that lists every generation (and perhaps other keys)."""
        raise NotImplementedError

    def _generation(self, name: str) -> int | None:
        """The generation a listed key's last segment names; None for other keys."""
        raise NotImplementedError

    def _fields(self) -> dict[str, object]:
        """Fields of ``record_type`` beyond the common ones, for the next write."""
        return {}

    def _body(self, *, released: bool = False) -> bytes:
        now = self.clock()
        h = self.holder
        return (
            self.record_type(
                holder=h.id,
                host=h.host,
                pid=h.pid,
                boot=h.boot,
                process_start=h.process_start,
                acquired=now,
                expires=now if released else now + self.ttl,
                released=released,
                **self._fields(),
            )
            .model_dump_json()
            .encode()
        )

    def latest(self) -> tuple[int, LeaseRecord | None]:
        """The highest generation and its record (0 and None when there is none).

        The record is None too when it cannot be read: such a generation is free.
        """
        generations = [
            generation
            for key in self.store.list(self._prefix())
            if (generation := self._generation(key.rsplit("/", 1)[-1])) is not None
        ]
        if not generations:
            return 0, None
        top = max(generations)
        try:
            return top, self.record_type.model_validate_json(self.store.get_bytes(self._key(top)))
        except (KeyNotFound, ValidationError):
            return top, None

    def acquire(self) -> LeaseRecord | None:
        """Take the lease; None when taken, else the live generation another attempt holds."""
        self.previous = None
        if self.store.put_bytes(self._key(1), self._body(), if_absent=True):
            self.generation = 1  # the first generation: no listing needed
            return None
        for _ in range(_TAKE_TRIES):
            top, record = self.latest()
            if record is not None and record.holder == self.holder.id:
                self.generation = top  # our own create, whose answer was lost and retried
                self.previous = record
                return None
            if record is not None and is_live(record, self.clock(), self.holder):
                return record
            self.previous = record
            if self.store.put_bytes(self._key(top + 1), self._body(), if_absent=True):
                self.generation = top + 1
                return None
        self.previous = None
        raise LeaseContended(
            f"{self.store.uri_for(self._key(top + 1))}: lease still contended after "
            f"{_TAKE_TRIES} tries"
        )

    def _lost_to(self) -> LeaseRecord | None:
        """The generation above ours, if someone took the lease over; None while we hold it."""
        assert self.generation is not None
        try:
            raw = self.store.get_bytes(self._key(self.generation + 1))
        except KeyNotFound:
            return None
        try:
            return self.record_type.model_validate_json(raw)
        except ValidationError:
            return LeaseRecord(
                holder="?", host="?", pid=0, acquired=self.clock(), expires=self.clock()
            )

    def renew(self) -> LeaseRecord | None:
        """Extend our generation; return the taker's record instead if the lease was taken over."""
        if self.generation is None:
            raise RuntimeError("renew() before the lease was taken")
        taker = self._lost_to()
        if taker is None:
            self.store.put_bytes(self._key(self.generation), self._body())
        return taker

    def release(self) -> None:
        """Mark our generation released (nothing to do if it was taken over meanwhile)."""
        if self.generation is not None and self._lost_to() is None:
            self.store.put_bytes(self._key(self.generation), self._body(released=True))
        self.generation = None

    @contextlib.contextmanager
    def kept(self, every: float = RENEW_SECONDS) -> Iterator[Self]:
        """Renew the taken lease every ``every`` seconds while the block runs; release it after.

        Renewal and release are best effort: a storage error is logged, not raised, since the
        lease only saves work.
        """
        stop = threading.Event()

        def renew_until_stopped() -> None:
            while not stop.wait(every):
                try:
                    taker = self.renew()
                except SweepError as exc:
                    level = logging.DEBUG if isinstance(exc, StoreUnreachable) else logging.WARNING
                    log.log(level, "%s: could not renew its lease: %s", self.what, exc)
                    continue
                if taker is not None:
                    log.warning(
                        "%s: lease lost to %s (this attempt was cut off for over %.0f s); "
                        "both attempts may commit, the last complete commit wins",
                        self.what,
                        taker.describe(),
                        self.ttl.total_seconds(),
                    )
                    return

        thread = threading.Thread(target=renew_until_stopped, name="govsim-lease", daemon=True)
        thread.start()
        unreachable = False
        try:
            yield self
        except StoreUnreachable:
            unreachable = True
            raise
        finally:
            stop.set()
            thread.join()
            if unreachable:  # releasing would only wait for the same store; the lease expires
                log.debug("%s: lease left to expire: the store is unreachable", self.what)
            else:
                try:
                    self.release()
                except SweepError as exc:
                    # A store that stopped answering costs the task one error line, not two.
                    level = logging.DEBUG if isinstance(exc, StoreUnreachable) else logging.WARNING
                    log.log(level, "%s: could not release its lease: %s", self.what, exc)


class TaskLease(GenerationLease):
    """The lease of one task, as one attempt sees it: take, renew in the background, release."""

    def __init__(
        self,
        store: Store,
        sweep_name: str,
        index: int,
        holder: Holder,
        *,
        ttl: float = LEASE_SECONDS,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__(store, holder, ttl=ttl, clock=clock)
        self.sweep_name, self.index = sweep_name, index
        self.what = f"task {index}"

    def _key(self, generation: int) -> str:
        return lease_key(self.sweep_name, self.index, generation)

    def _prefix(self) -> str:
        return lease_prefix(self.sweep_name, self.index)

    def _generation(self, name: str) -> int | None:
        parsed = parse_task_file(name)
        return parsed.generation if parsed is not None and parsed.index == self.index else None
