"""An S3 server killed (SIGKILL) between and during writes, then restarted on the same ports and
data: acknowledged objects survive intact, and writing resumes, by retry or by a later call."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from kit.servers import SeaweedFS, aws_env_for

from sweep_controller.errors import TransientStorageError
from sweep_controller.store import Retrier, RetryPolicy, S3Store, make_s3_client

pytestmark = pytest.mark.integration


def payload(i: int) -> bytes:
    """Return a distinct 64 KiB body for object i."""
    return (f"run {i:06d} ".encode() * 6554)[: 64 * 1024]


def store_on(
    server: SeaweedFS,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sleep: Callable[[float], None],
    max_attempts: int,
) -> S3Store:
    """Return a store in a fresh bucket of `server` whose retrier waits with `sleep`."""
    for name, value in aws_env_for(server, tmp_path).items():
        monkeypatch.setenv(name, value)
    client = make_s3_client(max_attempts=1, connect_timeout=1, read_timeout=10)
    retrier = Retrier(RetryPolicy(max_attempts=max_attempts), sleep=sleep)
    return S3Store(server.create_bucket(), "sweep", client=client, retrier=retrier)


def key(i: int) -> str:
    return f"tasks/{i:06d}.jsonl"


def test_writes_fail_transiently_while_down_and_resume_after_restart(
    fresh_seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sleeps: list[float] = []
    store = store_on(fresh_seaweedfs, monkeypatch, tmp_path, sleeps.append, max_attempts=3)
    for i in range(5):
        store.put_bytes(key(i), payload(i))
    fresh_seaweedfs.stop()
    with pytest.raises(TransientStorageError, match="gave up after 3 attempts"):
        store.put_bytes(key(5), payload(5))
    assert store.retries == 2 and len(sleeps) == 2
    fresh_seaweedfs.start()
    for i in range(5, 10):
        store.put_bytes(key(i), payload(i))
    assert sorted(store.list("tasks/")) == [key(i) for i in range(10)]
    for i in range(10):
        assert store.get_bytes(key(i)) == payload(i)


def test_server_killed_during_a_stream_of_writes_loses_nothing(
    fresh_seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server_back = threading.Event()

    def wait_for_restart(_delay: float) -> None:
        """A retry's wait: until the server is back (instead of a backoff)."""
        server_back.wait(timeout=30)

    store = store_on(fresh_seaweedfs, monkeypatch, tmp_path, wait_for_restart, max_attempts=6)
    total, kill_after = 30, 5
    acknowledged: list[int] = []
    errors: list[BaseException] = []
    enough_written = threading.Event()

    def writer() -> None:
        try:
            for i in range(total):
                store.put_bytes(key(i), payload(i))
                acknowledged.append(i)
                if len(acknowledged) == kill_after:
                    enough_written.set()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            enough_written.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert enough_written.wait(timeout=60)
    fresh_seaweedfs.stop()  # SIGKILL while the writer keeps writing
    fresh_seaweedfs.start()
    server_back.set()
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert errors == []
    assert store.retries >= 1, "the writer never met the outage"
    assert acknowledged == list(range(total))
    assert sorted(store.list("tasks/")) == [key(i) for i in range(total)]
    print(f"writer retried {store.retries} times across the restart")
    for i in range(total):
        assert store.get_bytes(key(i)) == payload(i)
