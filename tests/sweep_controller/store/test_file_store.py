"""What only the file store must get right: temp files, paths, and URI parsing by open_store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sweep_controller.errors import PermanentStorageError
from sweep_controller.store import FileStore, S3Store, open_store
from sweep_controller.store.base import TEMP_MARKER

CRASH_AFTER_FIRST_CHUNK = """
import os, signal, sys
from sweep_controller.store import open_store
def chunks():
    yield b"new partial content"
    os.kill(os.getpid(), signal.SIGKILL)
open_store(sys.argv[1]).put_stream(sys.argv[2], chunks())
"""


def test_a_killed_writer_leaves_a_stray_temp_file_that_stays_hidden(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.put_bytes("sweep/tasks/000001.jsonl", b"old")
    proc = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_FIRST_CHUNK, store.uri, "sweep/tasks/000001.jsonl"],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr.decode()
    on_disk = os.listdir(tmp_path / "sweep" / "tasks")
    strays = [name for name in on_disk if TEMP_MARKER in name]
    assert len(strays) == 1 and strays[0].startswith(".000001.jsonl")
    assert list(store.list()) == ["sweep/tasks/000001.jsonl"]
    assert store.get_bytes("sweep/tasks/000001.jsonl") == b"old"
    with pytest.raises(PermanentStorageError, match="reserved"):
        store.exists(f"sweep/tasks/{strays[0]}")


def test_successful_writes_leave_no_temp_files(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.put_bytes("a/k", b"1")
    store.put_bytes("a/k", b"2")
    store.put_bytes("a/k", b"3", if_absent=True)
    assert os.listdir(tmp_path / "a") == ["k"]


def test_a_key_cannot_be_both_an_object_and_a_prefix(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.put_bytes("a/b", b"1")
    with pytest.raises(PermanentStorageError, match="prefix of other keys"):
        store.put_bytes("a", b"2")
    with pytest.raises(PermanentStorageError, match="put failed"):
        store.put_bytes("a/b/c", b"3")
    assert store.get_bytes("a/b") == b"1"


def test_relative_roots_resolve_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("file://results")
    store.put_bytes("x", b"1")
    assert (tmp_path / "results" / "x").read_bytes() == b"1"
    assert store.uri == f"file://{tmp_path}/results"
    assert store.uri_for("x") == f"file://{tmp_path}/results/x"


@pytest.mark.parametrize(
    ("uri", "root"),
    [
        ("file://results", "results"),
        ("results/sub", "results/sub"),
        ("file:///abs/results", "/abs/results"),
        ("FILE:///abs/results", "/abs/results"),
        ("/abs/results", "/abs/results"),
    ],
)
def test_open_store_file_uris(
    uri: str, root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store(uri)
    assert isinstance(store, FileStore)
    assert store.root == (tmp_path / root).resolve()


@pytest.mark.parametrize(
    ("uri", "bucket", "prefix", "canonical"),
    [
        ("s3://bucket", "bucket", "", "s3://bucket"),
        ("s3://bucket/", "bucket", "", "s3://bucket"),
        ("s3://bucket/results", "bucket", "results/", "s3://bucket/results"),
        ("s3://bucket/a/b/", "bucket", "a/b/", "s3://bucket/a/b"),
    ],
)
def test_open_store_s3_uris(
    uri: str, bucket: str, prefix: str, canonical: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    store = open_store(uri)
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix, store.uri) == (bucket, prefix, canonical)
    assert store.uri_for("t/1.jsonl") == f"{canonical}/t/1.jsonl"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("gs://bucket/x", "unsupported scheme 'gs'"),
        ("s3://", "names no bucket"),
        ("s3:///prefix", "names no bucket"),
        ("file://", "names no directory"),
        ("s3://bucket/a//b", "key"),
        ("s3://bucket/../b", "key"),
    ],
)
def test_open_store_rejects_bad_uris(uri: str, message: str) -> None:
    with pytest.raises(PermanentStorageError, match=message):
        open_store(uri)
