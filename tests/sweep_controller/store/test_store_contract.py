"""One contract for every store: the file store in a temp dir, the S3 store on a real SeaweedFS."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sweep_controller.errors import KeyNotFound, PermanentStorageError, StorageError
from sweep_controller.store import FileStore, S3Store, Store, make_s3_client, open_store
from sweep_controller.store.base import TEMP_MARKER

MiB = 1024 * 1024
PAGE_SIZE = 3  # small, so that listing ten keys takes several ListObjectsV2 pages


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A store of each backend, empty, with small page and part sizes."""
    if request.param == "file":
        return FileStore(tmp_path / "results")
    uri: str = request.getfixturevalue("s3_uri")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return S3Store(
        bucket,
        f"{prefix}/results",
        client=make_s3_client(),  # endpoint and keys from the AWS_* environment
        page_size=PAGE_SIZE,
        multipart_threshold=5 * MiB,
        part_size=5 * MiB,
    )


class Boom(Exception):
    """Raised by a test's data source midway through a write."""


def test_round_trip_preserves_every_byte(store: Store) -> None:
    data = bytes(range(256)) * 17 + b"\n{}\r\n"
    assert store.put_bytes("sweep/tasks/000000.jsonl", data) is True
    assert store.get_bytes("sweep/tasks/000000.jsonl") == data


def test_empty_object_round_trips(store: Store) -> None:
    store.put_bytes("empty", b"")
    assert store.exists("empty")
    assert store.get_bytes("empty") == b""


def test_overwrite_replaces_the_whole_object(store: Store) -> None:
    store.put_bytes("k", b"a much longer first version")
    store.put_bytes("k", b"short")
    assert store.get_bytes("k") == b"short"


def test_if_absent_never_replaces(store: Store) -> None:
    assert store.put_bytes("manifest.json", b"first", if_absent=True) is True
    assert store.put_bytes("manifest.json", b"second", if_absent=True) is False
    assert store.get_bytes("manifest.json") == b"first"
    store.delete("manifest.json")
    assert store.put_bytes("manifest.json", b"third", if_absent=True) is True
    assert store.get_bytes("manifest.json") == b"third"


def test_if_absent_race_has_exactly_one_winner(store: Store) -> None:
    writers = 6
    barrier = threading.Barrier(writers)
    results: dict[int, bool] = {}

    def write(i: int) -> None:
        barrier.wait()
        results[i] = store.put_bytes("race", f"writer {i}".encode(), if_absent=True)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [i for i, won in results.items() if won]
    assert len(results) == writers
    assert len(winners) == 1
    assert store.get_bytes("race") == f"writer {winners[0]}".encode()


def test_exists_follows_put_and_delete(store: Store) -> None:
    assert not store.exists("a/b.txt")
    store.put_bytes("a/b.txt", b"x")
    assert store.exists("a/b.txt")
    assert not store.exists("a")  # a prefix is not an object
    store.delete("a/b.txt")
    assert not store.exists("a/b.txt")


def test_missing_key_raises_key_not_found_naming_the_uri(store: Store) -> None:
    with pytest.raises(KeyNotFound) as info:
        store.get_bytes("sweep/tasks/000042.jsonl")
    assert isinstance(info.value, PermanentStorageError)
    assert store.uri_for("sweep/tasks/000042.jsonl") in str(info.value)


def test_delete_of_a_missing_key_is_not_an_error(store: Store) -> None:
    store.delete("never/written")
    assert not store.exists("never/written")


def listed(store: Store, prefix: str = "") -> list[str]:
    """Return the listing sorted (order is backend-defined), checking it has no duplicates."""
    keys = list(store.list(prefix))
    assert len(keys) == len(set(keys)), keys
    return sorted(keys)


def test_list_filters_by_string_prefix(store: Store) -> None:
    keys = [
        "s/tasks/000010.jsonl",
        "s/tasks/000002.jsonl",
        "s/tasks/000001.jsonl",
        "s/manifest.json",
        "s/tasks-old/x",
        "t/other",
    ]
    for key in keys:
        store.put_bytes(key, key.encode())
    assert listed(store, "s/tasks/") == [
        "s/tasks/000001.jsonl",
        "s/tasks/000002.jsonl",
        "s/tasks/000010.jsonl",
    ]
    assert listed(store, "s/tasks/00000") == ["s/tasks/000001.jsonl", "s/tasks/000002.jsonl"]
    assert listed(store, "s/tasks") == [
        "s/tasks-old/x",
        "s/tasks/000001.jsonl",
        "s/tasks/000002.jsonl",
        "s/tasks/000010.jsonl",
    ]
    assert listed(store) == sorted(keys)
    assert listed(store, "nothing/") == []


def test_list_returns_every_key_across_pages(store: Store) -> None:
    keys = [f"p/{i:03d}" for i in range(4 * PAGE_SIZE + 1)]
    for key in keys:
        store.put_bytes(key, b".")
    assert listed(store, "p/") == keys


def test_nested_keys_beside_shorter_ones(store: Store) -> None:
    store.put_bytes("a/b.txt", b"1")
    store.put_bytes("a/b/c/d.txt", b"2")
    store.put_bytes("a/bc", b"3")
    assert store.get_bytes("a/b/c/d.txt") == b"2"
    assert listed(store, "a/b") == ["a/b.txt", "a/b/c/d.txt", "a/bc"]


@pytest.mark.parametrize(
    "key", ["", "/abs", "a//b", "a/", "../up", "a/./b", "a/../b", "a\\b", f"x{TEMP_MARKER}1"]
)
def test_invalid_keys_are_rejected_before_any_io(store: Store, key: str) -> None:
    with pytest.raises(PermanentStorageError, match="key"):
        store.put_bytes(key, b"x")
    with pytest.raises(PermanentStorageError, match="key"):
        store.exists(key)


def test_uri_for_reopens_to_the_same_objects(store: Store) -> None:
    store.put_bytes("sweep/tasks/000003.jsonl", b"payload")
    uri = store.uri_for("sweep/tasks/000003.jsonl")
    assert uri == f"{store.uri}/sweep/tasks/000003.jsonl"
    assert uri.startswith(("file:///", "s3://"))
    reopened = open_store(store.uri)  # through the URI factory and, for S3, the AWS_* env
    assert type(reopened) is type(store)
    assert reopened.get_bytes("sweep/tasks/000003.jsonl") == b"payload"
    assert reopened.uri_for("x") == store.uri_for("x")


def test_large_object_is_invisible_until_complete(store: Store) -> None:
    chunk = 1 * MiB
    total = 12 * MiB  # above the S3 multipart threshold: three 5 MiB parts (the last shorter)
    seen_midway: list[tuple[bool, list[str]]] = []

    def chunks() -> Iterator[bytes]:
        for i in range(total // chunk):
            if i == 11:  # two parts are uploaded by now
                seen_midway.append((store.exists("big.bin"), list(store.list())))
            yield bytes([i]) * chunk

    assert store.put_stream("big.bin", chunks()) is True
    assert seen_midway == [(False, [])]
    data = store.get_bytes("big.bin")
    assert len(data) == total
    assert data == b"".join(bytes([i]) * chunk for i in range(12))


def test_failed_write_leaves_the_old_object_and_no_partial_one(store: Store) -> None:
    store.put_bytes("task.jsonl", b"old complete content")

    def failing() -> Iterator[bytes]:
        for i in range(12):
            yield bytes([i]) * MiB
        raise Boom("the data source failed")

    with pytest.raises(Boom):  # the caller's own error, not translated
        store.put_stream("task.jsonl", failing())
    with pytest.raises(Boom):
        store.put_stream("fresh.jsonl", failing())
    assert store.get_bytes("task.jsonl") == b"old complete content"
    assert not store.exists("fresh.jsonl")
    assert list(store.list()) == ["task.jsonl"]


CRASHING_WRITER = """
import os, signal, sys
from sweep_controller.store import S3Store, open_store
store = open_store(sys.argv[1])
if isinstance(store, S3Store):
    store.multipart_threshold = store.part_size = 5 * 1024 * 1024
def chunks():
    for i in range(12):
        yield bytes([i]) * (1024 * 1024)
    os.kill(os.getpid(), signal.SIGKILL)
store.put_stream(sys.argv[2], chunks())
"""


@pytest.mark.slow
def test_killed_writer_leaves_the_old_object_and_no_partial_one(store: Store) -> None:
    store.put_bytes("task.jsonl", b"old complete content")
    for key in ("task.jsonl", "fresh.jsonl"):
        proc = subprocess.run(
            [sys.executable, "-c", CRASHING_WRITER, store.uri, key],
            capture_output=True,
            timeout=60,
        )
        assert proc.returncode == -9, proc.stderr.decode()
    assert store.get_bytes("task.jsonl") == b"old complete content"
    assert not store.exists("fresh.jsonl")
    assert list(store.list()) == ["task.jsonl"]


def test_store_errors_share_one_base(store: Store) -> None:
    with pytest.raises(StorageError):
        store.get_bytes("absent")
