"""Metric slots on both stores: claims never share a slot, totals carry over, counters only grow.

Claimers race in threads and in processes; expiry, release and takeover are driven with fixed
clocks. The S3 cases run against the session's SeaweedFS.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kit.live_sweeps import gateway_value
from kit.promstack import Pushgateway
from kit.servers import free_port
from prometheus_client import CollectorRegistry

from sweep_controller.execution.lease import Holder
from sweep_controller.execution.slot import (
    NoFreeSlot,
    SlotLease,
    SlotRecord,
    SlotReporter,
    claim_slot,
    slot_lease_key,
    slot_order,
    slot_ttl,
    slots_prefix,
)
from sweep_controller.metrics import SlotTotals, WorkerMetrics, compose_slot
from sweep_controller.outcomes import TaskOutcome
from sweep_controller.store import FileStore, Store, open_store

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SWEEP, NS = "s", "lab"
KEY = {"sweep_namespace": NS, "sweep": SWEEP}
TTL = slot_ttl(30.0)


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.integration)])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store's URI, of each backend."""
    if request.param == "file":
        return f"file://{tmp_path / 'results'}"
    return str(request.getfixturevalue("s3_uri"))


@pytest.fixture
def store(store_uri: str) -> Store:
    return open_store(store_uri)


def elsewhere(name: str) -> Holder:
    """A holder on another machine: only expiry or release frees its slots."""
    return Holder(name.ljust(32, "."), "elsewhere", 1, "", 0)


def claim(store: Store, holder: Holder, *, first: int = 0, p: int = 4, at: datetime = NOW,
          job: str = "") -> SlotLease:  # fmt: skip
    return claim_slot(store, SWEEP, NS, holder, parallelism=p, first=first, job_uid=job, ttl=TTL,
                      clock=lambda: at)  # fmt: skip


def totals(runs: int) -> SlotTotals:
    m = WorkerMetrics(CollectorRegistry(), sweep=SWEEP, namespace=NS, total_tasks=9)
    for _ in range(runs):
        m.observe_run(duration_seconds=0.1, agents=10, flips=1, agents_flipped=1, passed=True)
    return compose_slot(m.registry, base=SlotTotals(), already=SlotTotals()).totals


def runs_in(t: SlotTotals) -> float | None:
    return t.sample_value("govsim_runs_total", {**KEY, "outcome": "ok"})


def record(store: Store, slot: int, generation: int) -> SlotRecord:
    return SlotRecord.model_validate_json(
        store.get_bytes(slot_lease_key(SWEEP, NS, slot, generation))
    )


@pytest.mark.parametrize(
    ("first", "p", "tried"),
    [
        (0, 4, [0, 1, 2, 3, 4, 5]),
        (5, 4, [1, 2, 3, 0, 4, 5]),  # index mod P first, then from 0, then beyond P
        (7, 1, [0, 1, 2]),
        (12, 12, [0, 1]),
    ],
)
def test_slot_order(first: int, p: int, tried: list[int]) -> None:
    assert list(slot_order(first, p))[: len(tried)] == tried
    assert len(list(slot_order(first, p))) == 2 * p + 64


def test_slot_order_needs_a_parallelism() -> None:
    with pytest.raises(ValueError, match="parallelism: 0 is below 1"):
        slot_order(0, 0)


def test_keys_keep_namespaces_apart_and_name_no_namespace() -> None:
    assert slot_lease_key("s", "lab", 3, 2) == "s/slots/lab/000003/lease.000002.json"
    assert slots_prefix("s", "") == "s/slots/_/"


def test_a_claim_starts_at_index_mod_p_and_passes_held_slots(store: Store) -> None:
    assert claim(store, elsewhere("a"), first=5).slot == 1
    assert claim(store, elsewhere("b"), first=5).slot == 2
    assert claim(store, elsewhere("c"), first=1).slot == 3
    assert claim(store, elsewhere("d"), first=2).slot == 0
    # Every slot below P is held: the next claimer goes beyond P.
    assert claim(store, elsewhere("e"), first=3).slot == 4


def test_claimers_give_up_beyond_twice_p_plus_64(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    live = SlotRecord(holder="x", host="elsewhere", pid=1, acquired=NOW,
                      expires=NOW + timedelta(seconds=TTL))  # fmt: skip
    for slot in range(2 * 1 + 64):
        store.put_bytes(slot_lease_key(SWEEP, NS, slot, 1), live.model_dump_json().encode())
    with pytest.raises(NoFreeSlot, match="slots/lab/: every metric slot up to 65 is held"):
        claim(store, elsewhere("z"), p=1)


def test_racing_threads_never_share_a_slot(store: Store) -> None:
    claimers = 10
    barrier = threading.Barrier(claimers)
    slots: dict[int, int] = {}

    def take(i: int) -> None:
        barrier.wait()
        slots[i] = claim(store, elsewhere(f"{i:x}"), first=i, p=4).slot

    threads = [threading.Thread(target=take, args=(i,)) for i in range(claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(slots) == claimers
    assert sorted(slots.values()) == list(range(claimers))  # distinct, and none left unused


CHILD = """
import sys
from datetime import UTC, datetime
from sweep_controller.execution.lease import Holder
from sweep_controller.execution.slot import claim_slot
from sweep_controller.store import open_store

store = open_store(sys.argv[1])
lease = claim_slot(store, "s", "lab", Holder.here(sys.argv[2] * 32), parallelism=3,
                   first=int(sys.argv[3]))
print(lease.slot, flush=True)
sys.stdin.readline()  # hold the slot until told to let go
lease.release()
"""


@pytest.mark.slow  # five Python processes start
def test_racing_processes_never_share_a_slot(store_uri: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, store_uri, f"{i:x}", str(i)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(5)
    ]
    try:
        held = [int(p.stdout.readline()) for p in procs if p.stdout is not None]
        assert sorted(held) == list(range(5))  # 3 = P of them, then upwards
    finally:
        for p in procs:
            p.communicate("\n", timeout=60)
    assert all(p.returncode == 0 for p in procs)
    # Released: the next claimer takes the slot its index points at again.
    assert claim(open_store(store_uri), elsewhere("f"), first=2, p=3).slot == 2


def test_an_expired_holders_slot_is_taken_over_with_its_totals(store: Store) -> None:
    first = claim(store, elsewhere("a"))
    first.totals = totals(runs=5)
    assert first.renew() is None
    # Before expiry the slot is held; after it, the next claimer carries the totals on.
    assert claim(store, elsewhere("b"), at=NOW + timedelta(seconds=TTL - 1)).slot == 1
    taker = claim(store, elsewhere("c"), at=NOW + timedelta(seconds=TTL + 1))
    assert (taker.slot, taker.generation) == (0, 2)
    assert runs_in(taker.totals) == 5
    assert runs_in(record(store, 0, 2).totals) == 5  # recorded before its first push
    assert first.renew() is not None  # the cut-off holder learns it lost the slot


def test_a_released_slot_carries_its_totals_within_a_job_only(store: Store) -> None:
    first = claim(store, elsewhere("a"), job="job-1")
    first.totals = totals(runs=3)
    first.release()
    again = claim(store, elsewhere("b"), job="job-1")
    assert (again.slot, runs_in(again.totals)) == (0, 3)
    again.release()
    # A re-created Job's pods start from zero: their done tasks count again, as skipped.
    other = claim(store, elsewhere("c"), job="job-2")
    assert (other.slot, other.totals) == (0, SlotTotals())


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def reporter(store: Store, holder: Holder, clock: Clock, url: str, first: int = 0) -> SlotReporter:
    m = WorkerMetrics(CollectorRegistry(), sweep=SWEEP, namespace=NS, total_tasks=9)
    return SlotReporter(url, m, store, holder, parallelism=2, first=first, push_timeout=2,
                        clock=clock)  # fmt: skip


def observe(r: SlotReporter, runs: int) -> None:
    for _ in range(runs):
        r.metrics.observe_run(duration_seconds=0.1, agents=10, flips=1, agents_flipped=1,
                              passed=True)  # fmt: skip


def test_a_cut_off_holder_moves_to_another_slot_and_nothing_is_counted_twice(
    store: Store,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # no Pushgateway: the records tell the totals
    clock = Clock()
    a, b = reporter(store, elsewhere("a"), clock, url), reporter(store, elsewhere("b"), clock, url)
    a.begin()
    observe(a, 2)
    a.push()
    clock.now += timedelta(seconds=TTL + 1)  # a is cut off past its lease
    b.begin()
    assert b.slot == 0
    observe(a, 1)
    a.push()  # finds its slot taken, moves on with only what slot 0 does not hold
    assert (a.slot, a.slots_held) == (1, [0, 1])
    observe(b, 4)
    b.metrics.finish_task(TaskOutcome.SUCCEEDED, duration_seconds=1)
    a.metrics.finish_task(TaskOutcome.SUCCEEDED, duration_seconds=1)
    b.finish()
    a.finish()
    slot0 = record(store, 0, 2)
    slot1 = record(store, 1, 1)
    assert slot0.released and slot1.released
    assert (runs_in(slot0.totals), runs_in(slot1.totals)) == (6, 1)  # 2 of a's + b's 4; a's 1
    done = {**KEY, "status": "succeeded"}
    assert slot0.totals.sample_value("govsim_tasks_total", done) == 1
    assert slot1.totals.sample_value("govsim_tasks_total", done) == 1


def test_a_failed_store_write_skips_the_push_and_the_next_one_catches_up(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    url = f"http://127.0.0.1:{free_port()}"
    r = reporter(store, Holder.here("a" * 32), Clock(), url)
    failures = {**KEY}
    r.begin()
    assert (
        r.metrics.registry.get_sample_value("govsim_pushgateway_push_failures_total", failures) == 1
    )  # pushed (and failed: nothing listens), so it was recorded first
    observe(r, 2)
    slots = tmp_path / slots_prefix(SWEEP, NS)
    shutil.move(slots, tmp_path / "aside")
    slots.parent.mkdir(parents=True, exist_ok=True)
    slots.write_text("in the way")  # the slot's lease can no longer be written
    assert r.push() is False
    assert (
        r.metrics.registry.get_sample_value("govsim_pushgateway_push_failures_total", failures) == 1
    )  # not pushed at all: the Pushgateway never gets ahead of the record
    slots.unlink()
    shutil.move(tmp_path / "aside", slots)
    r.push()
    assert runs_in(record(store, 0, 1).totals) == 2


def test_a_task_that_never_began_still_counts_at_its_end(store: Store) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    r = reporter(store, elsewhere("a"), Clock(), url, first=1)
    assert r.push() is False and r.slot is None  # periodic pushes wait for begin()
    r.metrics.finish_task(TaskOutcome.SKIPPED, duration_seconds=0.1)
    r.finish()
    skipped = record(store, 1, 1).totals.sample_value(
        "govsim_tasks_total", {**KEY, "status": "skipped"}
    )
    assert skipped == 1 and r.slot is None


@pytest.mark.integration
def test_a_slots_pushed_counters_only_grow_as_holders_come_and_go(
    tmp_path: Path, pushgateway: Pushgateway, unique_sweep: str
) -> None:
    """Five tasks in turn on one slot, through a real Pushgateway: what it shows never drops."""
    store = FileStore(tmp_path)
    group = {"sweep": unique_sweep, "slot": "0", "job": "govsim-worker"}
    shown: list[tuple[float | None, float | None]] = []

    def look() -> None:
        shown.append(
            (
                gateway_value(pushgateway, "govsim_runs_total", {**group, "outcome": "ok"}),
                gateway_value(pushgateway, "govsim_run_flips_bucket", {**group, "le": "+Inf"}),
            )
        )

    for task in range(5):
        m = WorkerMetrics(CollectorRegistry(), sweep=unique_sweep, total_tasks=5)
        r = SlotReporter(pushgateway.url, m, store, Holder.here(uuid.uuid4().hex), first=task)
        assert r.begin()
        look()
        for _ in range(task + 1):
            m.observe_run(duration_seconds=0.1, agents=10, flips=1, agents_flipped=1, passed=True)
            assert r.push()
            look()
        m.finish_task(TaskOutcome.SUCCEEDED, duration_seconds=1)
        assert r.finish()
        look()
    runs = [s[0] or 0.0 for s in shown]
    buckets = [s[1] or 0.0 for s in shown]
    assert runs == sorted(runs) and buckets == sorted(buckets)
    assert runs[-1] == buckets[-1] == 1 + 2 + 3 + 4 + 5
    done = gateway_value(pushgateway, "govsim_tasks_total", {**group, "status": "succeeded"})
    assert done == 5
