"""Cleanup of a sweep's prefix: partial writes of dead writers, old unnamed data, and no more."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kit.runs import temp_files

from simulator.atomic import TEMP_MARKER, parse_temp_name, temp_name
from sweep_controller.execution.cleanup import GARBAGE_AGE, PARTIAL_AGE, clean_sweep
from sweep_controller.execution.layout import (
    RECORDS,
    DataFile,
    Manifest,
    TaskState,
    data_key,
    manifest_json,
    manifest_key,
    new_commit,
    scan_store,
    scan_tasks,
    sha256_hex,
)
from sweep_controller.store import FileStore, Store

HASH = "a" * 64
NOW = datetime.now(UTC)

CRASH_AFTER_FIRST_CHUNK = """
import os, signal, sys
from sweep_controller.store import open_store
def chunks():
    yield b"partial"
    os.kill(os.getpid(), signal.SIGKILL)
open_store(sys.argv[1]).put_stream(sys.argv[2], chunks())
"""


def killed_writer(store: FileStore, key: str) -> Path:
    """Leave the temporary file of a writer killed mid-write to ``key``; return its path."""
    proc = subprocess.run([sys.executable, "-c", CRASH_AFTER_FIRST_CHUNK, store.uri, key],
                          capture_output=True, timeout=60)  # fmt: skip
    assert proc.returncode == -9, proc.stderr.decode()
    (stray,) = temp_files(store.root)
    return stray


def live_writer_temp(store: FileStore, key: str, *, age: timedelta) -> Path:
    """A temporary file of ``key`` as this (live) process names it, last written ``age`` ago."""
    target = store.root / key
    target.parent.mkdir(parents=True, exist_ok=True)
    stray = target.parent / temp_name(target.name)
    stray.write_bytes(b"in progress")
    stamp = (NOW - age).timestamp()
    os.utime(stray, (stamp, stamp))
    return stray


def commit(store: Store, index: int, minted: datetime, token: str) -> Manifest:
    """Task ``index`` committed as ``minted``: its records file, then its manifest."""
    name = new_commit(minted, token)
    data = f'{{"task": {index}}}\n'.encode()
    key = data_key("s", index, name, "jsonl")
    store.put_bytes(key, data)
    records = DataFile(name=key.rsplit("/", 1)[1], bytes=len(data), sha256=sha256_hex(data))
    manifest = Manifest(sweep="s", index=index, commit=name, count=1, files={RECORDS: records},
                        spec_hash=HASH, code_version="x", position_start=index,
                        position_stop=index + 1, created=minted)  # fmt: skip
    store.put_bytes(manifest_key("s", index), manifest_json(manifest))
    return manifest


def test_a_dead_writers_temporary_file_goes_at_once_a_live_ones_when_old(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    dead = killed_writer(store, "s/tasks/000000.x.jsonl")
    young = live_writer_temp(store, "s/tasks/000001.x.jsonl", age=timedelta(minutes=1))
    old = live_writer_temp(store, "s/tasks/000002.x.jsonl", age=PARTIAL_AGE * 2)
    other = live_writer_temp(store, "t/tasks/000002.x.jsonl", age=PARTIAL_AGE * 2)
    assert TEMP_MARKER in dead.name
    writer = parse_temp_name(dead.name)
    assert writer is not None and writer.target == "000000.x.jsonl" and writer.pid != os.getpid()
    assert store.remove_partial_writes("s/", before=NOW - PARTIAL_AGE) == 2
    assert sorted(temp_files(tmp_path)) == sorted([young, other])
    assert not dead.exists() and not old.exists()


def test_old_unnamed_data_goes_named_and_young_data_stays(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    old, young = NOW - GARBAGE_AGE * 2, NOW - timedelta(minutes=5)
    superseded = commit(store, 0, old, "0" * 8)  # task 0: committed twice long ago
    current = commit(store, 0, old, "1" * 8)
    named_old = commit(store, 1, old, "2" * 8)  # task 1: named by its manifest, old
    newer = commit(store, 1, young, "3" * 8)  # ...and an attempt that died before its manifest
    store.put_bytes(manifest_key("s", 1), manifest_json(named_old))
    died = commit(store, 2, young, "4" * 8)  # task 2: an attempt that died moments ago
    store.delete(manifest_key("s", 2))
    store.put_bytes("s/tasks/000000.jsonl", b"{}\n")  # data of an earlier release, replaced
    store.put_bytes("s/tasks/000003.jsonl", b"{}\n")  # uncommitted data of an earlier release
    checks = scan_tasks(store, "s", 4, HASH)
    assert [c.state for c in checks] == [TaskState.DONE, TaskState.DONE] + [TaskState.PENDING] * 2
    cleaned = clean_sweep(store, "s", scan_store(store, "s", 4, HASH), NOW)
    assert (cleaned.partial, cleaned.unnamed, cleaned.error) == (0, 2, None)
    kept = [current, named_old, newer, died]
    assert sorted(store.list("s/")) == sorted(
        [manifest_key("s", 0), manifest_key("s", 1), "s/tasks/000003.jsonl"]
        + [f"s/tasks/{m.records.name}" for m in kept]
    )
    assert superseded.records.name not in {m.records.name for m in kept}
    assert [c.state for c in scan_tasks(store, "s", 4, HASH)] == [c.state for c in checks]


def test_another_sweeps_tasks_are_not_touched(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    foreign = commit(store, 0, NOW - GARBAGE_AGE * 2, "5" * 8)
    store.put_bytes(data_key("s", 0, new_commit(NOW - GARBAGE_AGE * 2, "6" * 8), "jsonl"), b"")
    checks = scan_tasks(store, "s", 1, "b" * 64)
    assert checks[0].state is TaskState.FOREIGN and foreign.spec_hash == HASH
    assert clean_sweep(store, "s", scan_store(store, "s", 1, "b" * 64), NOW).total == 0


@pytest.mark.integration
def test_s3_aborts_only_multipart_uploads_older_than_the_cutoff(s3_uri: str) -> None:
    from sweep_controller.store import open_store

    store = open_store(s3_uri)
    client, bucket, prefix = store.client, store.bucket, store.prefix  # type: ignore[attr-defined]
    for key in ("s/tasks/000000.x.jsonl", "t/tasks/000000.x.jsonl"):
        client.create_multipart_upload(Bucket=bucket, Key=f"{prefix}{key}")

    def open_keys() -> list[str]:
        listed = client.list_multipart_uploads(Bucket=bucket, Prefix=prefix)
        return sorted(u["Key"].removeprefix(prefix) for u in listed.get("Uploads", []))

    assert store.remove_partial_writes("s/", before=NOW - timedelta(hours=1)) == 0
    assert open_keys() == ["s/tasks/000000.x.jsonl", "t/tasks/000000.x.jsonl"]
    assert store.remove_partial_writes("s/", before=NOW + timedelta(hours=1)) == 1
    assert open_keys() == ["t/tasks/000000.x.jsonl"]
