"""``check_task``: a manifest that does not parse makes its task INVALID, with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweep_controller.execution.layout import TaskState, check_task, manifest_key
from sweep_controller.store import open_store

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
