"""Metric slots: the places a sweep's tasks push their metrics under, so series follow parallelism.

One Pushgateway group per task index would make every task bring about a hundred new series,
which Prometheus keeps in its head block for hours after the task ends. Instead a task pushes
under a **slot** of its sweep: a small number that no two running tasks share, claimed here, in
the sweep's store. Tasks take turns on a slot, and each pushes the slot's totals (its own
metrics on top of what the slot's earlier holders did, ``sweep_controller.metrics.slots``), so a
sweep has about as many groups, and series, as tasks run at once, whatever its task count.

Claiming. An Indexed Job gives no such number (``index mod P`` collides, since indexes are handed
out as earlier ones end), so a task claims one: a slot is a lease (``execution.lease``, a chain
of generations ``<sweep>/slots/<namespace>/SSSSSS/lease.GGGGGG.json``, ``_`` standing for no
namespace) and the claimer tries slots from ``index mod P`` up to ``P - 1``, then from 0, then
``P`` upwards, taking the first one that is free (never used, released, expired, or held by a
process of this machine that has ended). ``P`` is the sweep's parallelism (``GOVSIM_PARALLELISM``
in a Job's pod, the pool size in ``sweepctl run``); it only orders the tries, so a wrong ``P``
costs a few more reads, never a shared slot.

Totals. A slot's lease generation records the slot's totals. The holder writes them (renewing its
generation) before each push, so what the Pushgateway shows is never ahead of what the next
holder starts from, and the slot's counters never go backwards while its holders come and go:

* a holder that crashes loses what it counted since its last push (at most one push interval);
  its lease expires (``3 x`` the push interval) and the next holder goes on from its last push;
* a store write that fails skips that push (the next one carries everything);
* a holder cut off from the store for longer than its lease loses the slot to the next claimer,
  notices at its next write, and moves to another slot, taking only what it counted since its
  last write with it; if that write raced the takeover, at most one push interval of counts is
  lost or shows as a counter reset (which ``rate()`` treats as one);
* a lost or unreadable generation starts the slot from zero again: a counter reset.

The totals carry over between holders of the same Job (``GOVSIM_JOB_UID``, the Job's uid in its
pods; empty outside Kubernetes, where every ``sweepctl run`` of the sweep carries them on). The
pods of a re-created Job start their slots from zero: their tasks that are done already count as
``skipped``, and carrying the earlier Job's ``succeeded`` would count them twice.

Store cost: one generation per claim (about one per task attempt), never deleted, like task
leases; a claim lists the slot's generations (``tasks / P`` of them), reads the newest and creates
the next; a push adds a read and a write.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from simulator.records.building import utc_now
from sweep_controller.errors import LeaseContended, StoreUnreachable, SweepError
from sweep_controller.execution.lease import (
    LEASE_SECONDS,
    GenerationLease,
    Holder,
    LeaseRecord,
)
from sweep_controller.metrics import (
    DEFAULT_PUSH_INTERVAL_SECONDS,
    DEFAULT_PUSH_TIMEOUT_SECONDS,
    SlotTotals,
    WorkerMetrics,
    compose_slot,
    push_task_metrics,
)
from sweep_controller.store import Store

__all__ = [
    "SLOTS_DIR",
    "NoFreeSlot",
    "SlotLease",
    "SlotRecord",
    "SlotReporter",
    "claim_slot",
    "slot_lease_key",
    "slot_order",
    "slot_prefix",
    "slot_ttl",
    "slots_prefix",
]

log = logging.getLogger(__name__)

SLOTS_DIR = "slots"
_NO_NAMESPACE = "_"  # not a Kubernetes namespace name, so it cannot collide with one
_SLOT_DIGITS = 6
_EXTRA_SLOTS = 64
"""Slots tried beyond ``2 * P`` before giving up: leases of crashed holders not yet expired."""


class NoFreeSlot(SweepError):
    """Every metric slot tried is held by a live task (not expected: more than 2P + 64 holders)."""


def slots_prefix(sweep_name: str, namespace: str) -> str:
    """The key prefix of a sweep's slot leases for ``namespace`` (empty: outside Kubernetes)."""
    return f"{sweep_name}/{SLOTS_DIR}/{namespace or _NO_NAMESPACE}/"


def slot_prefix(sweep_name: str, namespace: str, slot: int) -> str:
    """The key prefix of slot ``slot``'s lease generations (a folder of their own)."""
    return f"{slots_prefix(sweep_name, namespace)}{slot:0{_SLOT_DIGITS}d}/lease."


def slot_lease_key(sweep_name: str, namespace: str, slot: int, generation: int) -> str:
    """Key of generation ``generation`` of slot ``slot``'s lease."""
    return f"{slot_prefix(sweep_name, namespace, slot)}{generation:06d}.json"


def slot_ttl(push_interval_seconds: float) -> float:
    """How long a slot's generation stays live: three push intervals (renewed at each push)."""
    return max(LEASE_SECONDS, 3 * push_interval_seconds)


def slot_order(first: int, parallelism: int) -> Iterator[int]:
    """The slots a claimer tries: ``first mod P`` up to ``P - 1``, then 0, then ``P`` upwards."""
    if parallelism < 1:
        raise ValueError(f"slots: parallelism: {parallelism} is below 1")
    start = first % parallelism
    return itertools.chain(
        range(start, parallelism),
        range(start),
        range(parallelism, 2 * parallelism + _EXTRA_SLOTS),
    )


class SlotRecord(LeaseRecord):
    """One generation of a slot's lease: the holder, and the slot's totals as last pushed."""

    job_uid: str = ""
    """The Job whose pods carry these totals on (empty outside Kubernetes)."""
    totals: SlotTotals = SlotTotals()


class SlotLease(GenerationLease):
    """The lease of one metric slot of a sweep, carrying the slot's totals from holder to holder."""

    record_type = SlotRecord

    def __init__(
        self,
        store: Store,
        sweep_name: str,
        namespace: str,
        slot: int,
        holder: Holder,
        *,
        job_uid: str = "",
        ttl: float = LEASE_SECONDS,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__(store, holder, ttl=ttl, clock=clock)
        self.sweep_name, self.namespace, self.slot = sweep_name, namespace, slot
        self.job_uid = job_uid
        self.what = f"metric slot {slot}"
        self.totals = SlotTotals()
        """The totals our generation records: carried over when taken, then as last pushed."""

    def _key(self, generation: int) -> str:
        return slot_lease_key(self.sweep_name, self.namespace, self.slot, generation)

    def _prefix(self) -> str:
        return slot_prefix(self.sweep_name, self.namespace, self.slot)

    def _generation(self, name: str) -> int | None:
        digits = name.removeprefix("lease.").removesuffix(".json")
        ok = name.startswith("lease.") and name.endswith(".json") and digits.isdigit()
        return int(digits) if ok else None

    def carried(self) -> SlotTotals:
        """The totals a new holder starts from: the previous holder's, if of the same Job."""
        previous = self.previous
        if isinstance(previous, SlotRecord) and previous.job_uid == self.job_uid:
            return previous.totals
        return SlotTotals()

    def _fields(self) -> dict[str, object]:
        totals = self.totals if self.generation is not None else self.carried()
        return {"job_uid": self.job_uid, "totals": totals}

    def acquire(self) -> LeaseRecord | None:
        """Take the slot (see ``GenerationLease.acquire``); its carried totals are ``totals``."""
        held = super().acquire()
        if held is None:
            self.totals = self.carried()
        return held


def claim_slot(
    store: Store,
    sweep_name: str,
    namespace: str,
    holder: Holder,
    *,
    parallelism: int,
    first: int = 0,
    job_uid: str = "",
    ttl: float = LEASE_SECONDS,
    clock: Callable[[], datetime] = utc_now,
) -> SlotLease:
    """Take the first free slot in ``slot_order(first, parallelism)``; raises ``NoFreeSlot``.

    Storage errors propagate; a slot whose next generation other claimers keep winning is
    passed over.
    """
    for slot in slot_order(first, parallelism):
        lease = SlotLease(
            store, sweep_name, namespace, slot, holder, job_uid=job_uid, ttl=ttl, clock=clock
        )
        try:
            if lease.acquire() is None:
                return lease
        except LeaseContended:
            continue
    raise NoFreeSlot(
        f"{store.uri.rstrip('/')}/{slots_prefix(sweep_name, namespace)}: every metric slot up to "
        f"{2 * parallelism + _EXTRA_SLOTS - 1} is held"
    )


class SlotReporter:
    """Pushes one task's metrics under a slot of its sweep: claim, record the totals, push, release.

    ``begin`` (once the task is held) claims a slot and pushes; ``push`` (the periodic pushes)
    does nothing before ``begin``; ``finish`` claims a slot if there is none yet (a task found
    done, or failed before it was held, still counts), pushes and releases the slot. Each push
    first records the slot's totals in its lease, then PUTs them. Never raises: a failure is a
    log line, and the next push tries again. Thread-safe (the periodic pusher runs on a thread).
    """

    def __init__(
        self,
        gateway_url: str,
        metrics: WorkerMetrics,
        store: Store,
        holder: Holder,
        *,
        parallelism: int = 1,
        first: int = 0,
        job_uid: str = "",
        push_interval_seconds: float = DEFAULT_PUSH_INTERVAL_SECONDS,
        push_timeout: float = DEFAULT_PUSH_TIMEOUT_SECONDS,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if parallelism < 1:
            raise ValueError(f"slots: parallelism: {parallelism} is below 1")
        self.gateway_url, self.metrics = gateway_url, metrics
        self.store, self.holder = store, holder
        self.parallelism, self.first, self.job_uid = parallelism, first, job_uid
        self.ttl = slot_ttl(push_interval_seconds)
        self.push_timeout, self.clock = push_timeout, clock
        self.lease: SlotLease | None = None
        self.slots_held: list[int] = []
        """Every slot this task pushed under, in order (more than one only after a takeover)."""
        self._lock = threading.Lock()
        self._begun = False
        self._base = SlotTotals()
        self._already = SlotTotals()
        self._recorded_own = SlotTotals()
        self._written_at: datetime | None = None
        self._latest: SlotTotals | None = None
        self._claim_failed = False

    @property
    def slot(self) -> int | None:
        """The slot held now (None before the claim, after the release or a failed claim)."""
        lease = self.lease
        return lease.slot if lease is not None else None

    def begin(self) -> bool:
        """The task is held: claim a slot and push; periodic pushes go out from now on."""
        with self._lock:
            self._begun = True
            return self._push_locked()

    def push(self) -> bool:
        """A periodic push (nothing before ``begin``); False when nothing was pushed."""
        with self._lock:
            return self._begun and self._push_locked()

    def finish(self) -> bool:
        """The final push, then the slot's release; call once, after the periodic pushes."""
        with self._lock:
            self._begun = True
            pushed = self._push_locked()
            lease, self.lease = self.lease, None
            if lease is not None:
                # The latest totals, even if their write failed: a record ahead of the
                # Pushgateway is safe (the next holder goes on from it), one behind is not.
                if self._latest is not None:
                    lease.totals = self._latest
                try:
                    lease.release()
                except SweepError as exc:
                    self._log_store_error("could not release its metric slot", exc)
            return pushed

    def _claim(self) -> bool:
        try:
            lease = claim_slot(
                self.store,
                self.metrics.sweep,
                self.metrics.namespace,
                self.holder,
                parallelism=self.parallelism,
                first=self.first,
                job_uid=self.job_uid,
                ttl=self.ttl,
                clock=self.clock,
            )
        except SweepError as exc:
            if not self._claim_failed:
                self._log_store_error("could not claim a metric slot; not pushing", exc)
            self._claim_failed = True
            return False
        self.lease, self._base = lease, lease.totals
        self._recorded_own, self._written_at = self._already, self.clock()
        self.slots_held.append(lease.slot)
        return True

    def _push_locked(self) -> bool:
        for _ in range(2):  # a slot lost to a takeover: one more try in another slot
            if self.lease is None and not self._claim():
                return False
            lease = self.lease
            assert lease is not None
            composed = compose_slot(self.metrics.registry, base=self._base, already=self._already)
            self._latest = composed.totals
            recorded = self._record(lease, composed.totals)
            if recorded is None:
                return False
            if recorded:
                self._recorded_own = composed.own
                return push_task_metrics(
                    self.gateway_url,
                    self.metrics,
                    slot=lease.slot,
                    families=composed.families,
                    timeout=self.push_timeout,
                )
            # Taken over: the slot's chain holds our counts up to our last write; move on.
            self._already, self.lease, self._latest = self._recorded_own, None, None
        return False

    def _record(self, lease: SlotLease, totals: SlotTotals) -> bool | None:
        """Write the slot's totals into our generation: True when recorded (or unchanged and
        recently renewed), False when the slot was taken over, None when the store failed."""
        now = self.clock()
        fresh = self._written_at is not None and now - self._written_at < self._renew_every
        if totals == lease.totals and fresh:
            return True
        recorded, lease.totals = lease.totals, totals
        try:
            taker = lease.renew()
        except SweepError as exc:
            lease.totals = recorded  # maybe not written: the next push writes again
            self._log_store_error(f"could not record metric slot {lease.slot}; push skipped", exc)
            return None
        if taker is not None:
            log.warning(
                "sweep %s: metric slot %d was taken over by %s (this task was cut off for over "
                "%.0f s); moving to another slot",
                self.metrics.sweep,
                lease.slot,
                taker.describe(),
                self.ttl,
            )
            return False
        self._written_at = now
        return True

    @property
    def _renew_every(self) -> timedelta:
        return timedelta(seconds=self.ttl / 3)

    def _log_store_error(self, what: str, exc: SweepError) -> None:
        level = logging.DEBUG if isinstance(exc, StoreUnreachable) else logging.WARNING
        log.log(level, "sweep %s: %s: %s", self.metrics.sweep, what, exc)
