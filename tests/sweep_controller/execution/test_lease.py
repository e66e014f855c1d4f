"""Task leases on both stores: one holder at a time, release, expiry, dead holders, takeover."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kit.specs import grid_doc, write_spec
from kit.waiting import wait_until

from sweep_controller.execution.layout import lease_key
from sweep_controller.execution.lease import Holder, LeaseRecord, TaskLease, is_live
from sweep_controller.execution.worker import TaskContext, execute_task
from sweep_controller.outcomes import TaskOutcome
from sweep_controller.spec.loading import load_sweep
from sweep_controller.store import FileStore, Store, open_store

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """An empty store of each backend."""
    if request.param == "file":
        return FileStore(tmp_path / "results")
    return open_store(request.getfixturevalue("s3_uri"))


def lease(store: Store, holder_id: str, *, at: datetime = NOW, ttl: float = 60) -> TaskLease:
    """Task 3's lease as attempt ``holder_id`` of this process sees it, with a fixed clock."""
    return TaskLease(store, "s", 3, Holder.here(holder_id), ttl=ttl, clock=lambda: at)


def forge(store: Store, generation: int, **fields: object) -> None:
    """Write a lease generation as another holder would have."""
    record: dict[str, object] = {
        "holder": "other",
        "host": "elsewhere",
        "pid": 1,
        "acquired": NOW - timedelta(seconds=10),
        "expires": NOW + timedelta(seconds=50),
        **fields,
    }
    body = LeaseRecord.model_validate(record).model_dump_json().encode()
    store.put_bytes(lease_key("s", 3, generation), body)


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


def test_the_first_taker_holds_and_the_next_sees_who(store: Store) -> None:
    first, second = lease(store, "a" * 32), lease(store, "b" * 32)
    assert first.acquire() is None and first.generation == 1
    held = second.acquire()
    assert held is not None and held.holder == "a" * 32 and second.generation is None
    assert held.expires == NOW + timedelta(seconds=60)
    first.release()
    assert second.acquire() is None and second.generation == 2  # a new generation, created
    assert sorted(store.list("s/")) == [lease_key("s", 3, 1), lease_key("s", 3, 2)]


def test_racing_takers_have_exactly_one_winner(store: Store) -> None:
    takers = 6
    barrier = threading.Barrier(takers)
    results: dict[int, LeaseRecord | None] = {}

    def take(i: int) -> None:
        barrier.wait()
        results[i] = lease(store, f"{i:032x}").acquire()

    threads = [threading.Thread(target=take, args=(i,)) for i in range(takers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [i for i, held in results.items() if held is None]
    assert len(winners) == 1
    assert {held.holder for held in results.values() if held is not None} == {f"{winners[0]:032x}"}


@pytest.mark.parametrize(
    ("fields", "live"),
    [
        ({}, True),  # another machine, not expired
        ({"expires": NOW}, False),  # expired
        ({"released": True}, False),
    ],
)
def test_a_generation_is_free_once_released_or_expired(
    store: Store, fields: dict[str, object], live: bool
) -> None:
    forge(store, 1, **fields)
    taker = lease(store, "c" * 32)
    held = taker.acquire()
    assert (held is not None) is live
    assert taker.generation == (None if live else 2)


def test_a_dead_holder_on_this_machine_frees_its_lease_at_once(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    here = Holder.here("d" * 32)
    forge(store, 1, host=here.host, boot=here.boot, pid=dead_pid())
    if not here.boot:
        pytest.skip("no boot id on this platform: only expiry frees a lease")
    assert lease(store, "e" * 32).acquire() is None
    # ...but a live process (this one) keeps it, and so does a pid on another machine.
    forge(store, 3, host=here.host, boot=here.boot, pid=here.pid, process_start=here.process_start)
    assert lease(store, "f" * 32).acquire() is not None
    record = LeaseRecord.model_validate_json(store.get_bytes(lease_key("s", 3, 3)))
    assert is_live(record, NOW, here)
    elsewhere = record.model_copy(update={"host": "elsewhere", "pid": dead_pid()})
    assert is_live(elsewhere, NOW, here)


def test_a_reused_pid_does_not_keep_a_dead_holders_lease(tmp_path: Path) -> None:
    here = Holder.here("g" * 32)
    if not here.boot:
        pytest.skip("no boot id on this platform")
    store = FileStore(tmp_path)
    # This process's pid, but another start time: the holder was an earlier process.
    forge(store, 1, host=here.host, boot=here.boot, pid=here.pid,
          process_start=here.process_start + 1)  # fmt: skip
    assert lease(store, "h" * 32).acquire() is None


def test_renewal_extends_the_lease_and_notices_a_takeover(store: Store) -> None:
    holder = lease(store, "a" * 32, ttl=30)
    assert holder.acquire() is None
    later = lease(store, "a" * 32, at=NOW + timedelta(seconds=20), ttl=30)
    later.generation = holder.generation
    assert later.renew() is None
    record = LeaseRecord.model_validate_json(store.get_bytes(lease_key("s", 3, 1)))
    assert record.expires == NOW + timedelta(seconds=50)
    # Cut off past the expiry: another attempt takes the next generation.
    taker = lease(store, "b" * 32, at=NOW + timedelta(seconds=51))
    assert taker.acquire() is None and taker.generation == 2
    lost = later.renew()
    assert lost is not None and lost.holder == "b" * 32
    later.release()  # leaves the taker's generation alone
    assert lease(store, "c" * 32, at=NOW + timedelta(seconds=52)).acquire() is not None


def test_kept_renews_in_the_background_and_releases_at_the_end(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    times = iter(NOW + timedelta(seconds=s) for s in range(0, 10_000))
    holder = TaskLease(store, "s", 3, Holder.here("a" * 32), ttl=60, clock=lambda: next(times))
    assert holder.acquire() is None

    def expires() -> datetime:
        return LeaseRecord.model_validate_json(store.get_bytes(lease_key("s", 3, 1))).expires

    first = expires()
    with holder.kept(every=0.01):
        wait_until(lambda: expires() > first, timeout=10, what="a renewal")
    record = LeaseRecord.model_validate_json(store.get_bytes(lease_key("s", 3, 1)))
    assert record.released and holder.generation is None


def test_an_attempt_on_a_task_held_elsewhere_does_nothing_and_says_who(tmp_path: Path) -> None:
    sweep = load_sweep(write_spec(tmp_path / "s.yaml", grid_doc("held", f"file://{tmp_path}/o")))
    ctx = TaskContext.open(sweep)
    other = TaskLease(ctx.store, "held", 2, Holder.here("b" * 32))
    assert other.acquire() is None
    before = sorted(ctx.store.list("held/"))
    attempt = execute_task(ctx, 2, wait_for_lease=False)
    assert (attempt.outcome, attempt.exit_code, attempt.runs) == (TaskOutcome.HELD, 0, 0)
    assert attempt.held_by is not None and "attempt bbbbbbbb" in attempt.held_by
    assert sorted(ctx.store.list("held/")) == before
    other.release()
    assert execute_task(ctx, 2, wait_for_lease=False).outcome is TaskOutcome.SUCCEEDED
