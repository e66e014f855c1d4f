"""Streaming a task's records: the spool, and a commit from it on both stores.

The buffered worker uploaded ``b"".join(lines)``; the streamed one uploads the spool's chunks. The
objects must be the same bytes, a multipart upload must be completed or aborted (never left
pending, never half visible), and the manifest must state the size and sha256 of what went up.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest
from kit.servers import S3Bucket

from sweep_controller.errors import TaskInterrupted
from sweep_controller.execution.commit import TaskFile, commit_task
from sweep_controller.execution.layout import RECORDS, manifest_key
from sweep_controller.execution.spool import UPLOAD_CHUNK_BYTES, Spool
from sweep_controller.store import FileStore, S3Store, Store, make_s3_client

MiB = 1024 * 1024
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def lines(megabytes: float) -> list[bytes]:
    """JSON-ish lines of varied length adding up to about ``megabytes``."""
    out, total, i = [], 0, 0
    while total < megabytes * MiB:
        line = b'{"run_index": %d, "pad": "%s"}\n' % (i, b"x" * (1000 + 37 * (i % 50)))
        out.append(line)
        total += len(line)
        i += 1
    return out


def spooled(data: list[bytes], memory_bytes: int = 64 * 1024) -> Spool:
    spool = Spool(memory_bytes)
    for line in data:
        spool.write(line)
    return spool


def test_the_spool_reads_back_what_was_written_and_hashes_it() -> None:
    data = lines(2.5)
    joined = b"".join(data)
    with spooled(data) as spool:
        assert spool.on_disk  # past 64 KiB it lives in a temporary file
        assert (spool.size, spool.count) == (len(joined), len(data))
        assert spool.sha256 == hashlib.sha256(joined).hexdigest()
        chunks = list(spool.chunks())
        assert b"".join(chunks) == joined
        assert max(len(c) for c in chunks) == UPLOAD_CHUNK_BYTES
        assert b"".join(spool.chunks()) == joined  # again: a redone upload reads it all


def test_a_small_spool_stays_in_memory_and_an_empty_one_is_one_empty_chunk() -> None:
    with spooled(lines(0.01)) as small:
        assert not small.on_disk
    with Spool() as empty:
        assert list(empty.chunks()) == [b""]
        assert empty.sha256 == hashlib.sha256(b"").hexdigest()


def test_the_stop_point_runs_before_each_chunk() -> None:
    calls = count()

    def stop_after_two() -> None:
        if next(calls) == 2:
            raise TaskInterrupted("stop")

    with spooled(lines(3)) as spool:
        got = []
        with pytest.raises(TaskInterrupted):
            for chunk in spool.chunks(stop_after_two):
                got.append(chunk)
        assert len(got) == 2


def commit(store: Store, spool: Spool, *, stop_after_chunks: int | None = None) -> None:
    """Commit ``spool`` as task 3's records; a stop request after that many chunks."""
    chunks_read = count()

    def should_stop() -> bool:
        return stop_after_chunks is not None and next(chunks_read) > stop_after_chunks

    tokens = count()
    commit_task(
        store, "s", 3, [TaskFile(RECORDS, "jsonl", spool)], count=spool.count,
        positions=range(30, 40), spec_hash="a" * 64, code_version="test",
        should_stop=should_stop, clock=lambda: T0 + timedelta(seconds=1),
        token=lambda: f"{next(tokens):08x}", on_written=lambda n: None,
    )  # fmt: skip


@pytest.fixture
def s3_store(s3_bucket: S3Bucket) -> S3Store:
    """A store whose uploads over 5 MiB are multipart with 5 MiB parts (the S3 minimum)."""
    return S3Store(s3_bucket.name, "out", client=make_s3_client(),
                   multipart_threshold=5 * MiB, part_size=5 * MiB)  # fmt: skip


def pending_uploads(store: S3Store) -> list[str]:
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    return [str(upload["Key"]) for upload in uploads]


def check_commit(store: Store, data: list[bytes]) -> None:
    """The committed JSONL is the buffered path's bytes, as the manifest states them."""
    manifest = json.loads(store.get_bytes(manifest_key("s", 3)))
    entry = manifest["files"][RECORDS]
    body = store.get_bytes(f"s/tasks/{entry['name']}")
    joined = b"".join(data)
    assert body == joined
    assert (entry["bytes"], entry["sha256"]) == (len(joined), hashlib.sha256(joined).hexdigest())
    assert manifest["count"] == len(data)


@pytest.mark.integration
def test_a_multipart_commit_on_s3_is_the_buffered_bytes(s3_store: S3Store) -> None:
    data = lines(12)  # three parts: 5 + 5 + 2 MiB
    with spooled(data) as spool:
        commit(s3_store, spool)
    check_commit(s3_store, data)
    assert pending_uploads(s3_store) == []


def test_a_commit_on_files_is_the_buffered_bytes(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    data = lines(3)
    with spooled(data) as spool:
        commit(store, spool)
    check_commit(store, data)
    assert sorted(p.name for p in (tmp_path / "s" / "tasks").iterdir()) == [
        "000003.20250101T000001Z-00000000.jsonl",
        "000003.manifest.json",
    ]


@pytest.mark.integration
def test_a_failure_mid_upload_on_s3_leaves_nothing_visible_and_no_pending_upload(
    s3_store: S3Store,
) -> None:
    with spooled(lines(12)) as spool, pytest.raises(TaskInterrupted):
        commit(s3_store, spool, stop_after_chunks=7)  # after the first 5 MiB part went up
    assert list(s3_store.list("s/")) == []
    assert pending_uploads(s3_store) == []


def test_a_failure_mid_write_on_files_leaves_nothing_visible(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    with spooled(lines(3)) as spool, pytest.raises(TaskInterrupted):
        commit(store, spool, stop_after_chunks=2)
    assert list(store.list("s/")) == []
    assert [p.name for p in (tmp_path / "s" / "tasks").iterdir()] == []
