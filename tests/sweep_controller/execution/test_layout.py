"""``check_task`` and task file names: what makes a task done or invalid, in either layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweep_controller.execution.layout import (
    TaskState,
    check_task,
    manifest_key,
    parse_task_file,
    sha256_hex,
)
from sweep_controller.store import FileStore, open_store

HASH = "a" * 64


def _manifest(**changes: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "manifest_version": 1,
        "sweep": "s",
        "index": 0,
        "count": 1,
        "bytes": 10,
        "sha256": HASH,
        "spec_hash": HASH,
        "code_version": "0.4.0",
        "position_start": 0,
        "position_stop": 1,
        "created": "2026-01-01T00:00:00Z",
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid JSON: "),
        (json.dumps(_manifest(count=None)).encode(), "count: missing field"),
        (json.dumps(_manifest(count=-1)).encode(), "count: invalid value: "),
        (json.dumps(_manifest(extra=1)).encode(), "extra: unknown field"),
        (json.dumps(_manifest(sha256="xyz")).encode(), "sha256: invalid value: "),
    ],
)
def test_an_unreadable_manifest_makes_the_task_invalid_with_one_line(
    tmp_path: Path, raw: bytes, reason: str
) -> None:
    store = open_store(f"file://{tmp_path}")
    store.put_bytes(manifest_key("s", 0), raw)
    check = check_task(store, "s", 0, HASH)
    assert check.state is TaskState.INVALID
    where = store.uri_for(manifest_key("s", 0))
    assert check.reason.startswith(f"{where}: {reason}"), check.reason
    assert "\n" not in check.reason


def test_a_readable_manifest_is_not_invalid_for_its_shape(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}")
    store.put_bytes(manifest_key("s", 0), json.dumps(_manifest()).encode())
    check = check_task(store, "s", 0, HASH, verify=False)
    assert check.state is TaskState.DONE and check.manifest is not None


def _v2(store: FileStore, data: bytes, **changes: object) -> dict[str, object]:
    """Task 0 committed in the current layout: its records under commit C, and its manifest."""
    commit = "20260101T000000Z-0123abcd"
    name = f"000000.{commit}.jsonl"
    store.put_bytes(f"s/tasks/{name}", data)
    doc = _manifest(manifest_version=2, commit=commit, bytes=None, sha256=None)
    doc["files"] = {"records": {"name": name, "bytes": len(data), "sha256": sha256_hex(data)}}
    doc.update(changes)
    store.put_bytes(manifest_key("s", 0), json.dumps(doc).encode())
    return doc


def test_a_task_is_done_when_every_file_its_manifest_names_verifies(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    doc = _v2(store, b'{"run": 0}\n')
    check = check_task(store, "s", 0, HASH, keep_data=True)
    assert check.state is TaskState.DONE and check.data == b'{"run": 0}\n'
    # A side file is verified like the records.
    files = dict(doc["files"])  # type: ignore[call-overload]
    side = "000000.20260101T000000Z-0123abcd.trace.parquet"
    store.put_bytes(f"s/tasks/{side}", b"PAR1")
    files["flip_trace"] = {"name": side, "bytes": 4, "sha256": sha256_hex(b"PAR2")}
    _v2(store, b'{"run": 0}\n', files=files)
    check = check_task(store, "s", 0, HASH)
    assert check.state is TaskState.INVALID and f"{side}: sha256" in check.reason


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("000001.20260101T000000Z-0123abcd.jsonl", "not a file of its commit"),  # another task
        ("000000.20260101T000000Z-ffffffff.jsonl", "not a file of its commit"),  # another commit
        ("000000.jsonl", "not a file of its commit"),  # the version-1 key
    ],
)
def test_a_manifest_may_name_only_its_own_commits_files(
    tmp_path: Path, name: str, reason: str
) -> None:
    store = FileStore(tmp_path)
    data = b'{"run": 0}\n'
    store.put_bytes(f"s/tasks/{name}", data)
    _v2(store, data, files={"records": {"name": name, "bytes": 11, "sha256": sha256_hex(data)}})
    check = check_task(store, "s", 0, HASH)
    assert check.state is TaskState.INVALID and reason in check.reason


def test_a_named_file_that_is_missing_makes_the_task_invalid(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    _v2(store, b"{}\n")
    store.delete("s/tasks/000000.20260101T000000Z-0123abcd.jsonl")
    check = check_task(store, "s", 0, HASH)
    assert check.state is TaskState.INVALID
    assert check.reason == f"{store.uri}/s/tasks/000000.20260101T000000Z-0123abcd.jsonl: missing"


def test_results_of_an_earlier_release_are_still_read(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    data = b'{"run": 0}\n'
    store.put_bytes("s/tasks/000000.jsonl", data)
    doc = _manifest(bytes=len(data), sha256=sha256_hex(data))
    store.put_bytes(manifest_key("s", 0), json.dumps(doc).encode())
    check = check_task(store, "s", 0, HASH, keep_data=True)
    assert check.state is TaskState.DONE and check.data == data
    assert check.manifest is not None and check.manifest.manifest_version == 1
    assert check.manifest.records.name == "000000.jsonl"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("000007.20260101T000000Z-0123abcd.jsonl", ("data", 7, "20260101T000000Z-0123abcd")),
        (
            "000007.20260101T000000Z-0123abcd.trace.parquet",
            ("data", 7, "20260101T000000Z-0123abcd"),
        ),
        ("1000000.manifest.json", ("manifest", 1_000_000, None)),
        ("000007.failed.json", ("failed", 7, None)),
        ("000007.lease.000012.json", ("lease", 7, None)),
        ("000007.jsonl", ("legacy-data", 7, None)),
        ("000007.20260101T000000Z-0123ABCD.jsonl", None),
        ("7.manifest.json", None),
        ("notes.txt", None),
    ],
)
def test_task_file_names(name: str, expected: tuple[str, int, str | None] | None) -> None:
    parsed = parse_task_file(name)
    found = None if parsed is None else (parsed.kind, parsed.index, parsed.commit)
    assert found == expected
