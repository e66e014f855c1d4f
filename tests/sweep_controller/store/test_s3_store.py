"""What only the S3 store must get right, against a real server: multipart uploads are
completed or aborted, never left half-visible."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kit.servers import S3Bucket

from sweep_controller.store import S3Store, make_s3_client

pytestmark = pytest.mark.integration
MiB = 1024 * 1024


@pytest.fixture
def store(s3_bucket: S3Bucket) -> S3Store:
    """A store in a fresh bucket with 5 MiB parts (the S3 minimum)."""
    return S3Store(
        s3_bucket.name,
        "out",
        client=make_s3_client(),
        multipart_threshold=5 * MiB,
        part_size=5 * MiB,
    )


def pending_uploads(store: S3Store) -> list[str]:
    """Return the keys of multipart uploads begun but neither completed nor aborted."""
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    return [str(upload["Key"]) for upload in uploads]


def chunks(megabytes: int, fail: bool = False) -> Iterator[bytes]:
    for i in range(megabytes):
        yield bytes([i % 256]) * MiB
    if fail:
        raise RuntimeError("data source failed")


def test_a_failing_stream_aborts_its_multipart_upload(store: S3Store) -> None:
    with pytest.raises(RuntimeError, match="data source failed"):
        store.put_stream("big", chunks(12, fail=True))
    assert pending_uploads(store) == []
    assert not store.exists("big")


def test_a_completed_upload_leaves_nothing_pending(store: S3Store) -> None:
    assert store.put_stream("big", chunks(11)) is True
    assert pending_uploads(store) == []
    assert len(store.get_bytes("big")) == 11 * MiB


def test_if_absent_multipart_on_an_existing_key_uploads_nothing(store: S3Store) -> None:
    store.put_bytes("big", b"first")
    assert store.put_stream("big", chunks(11), if_absent=True) is False
    assert store.get_bytes("big") == b"first"
    assert pending_uploads(store) == []


def test_conditional_complete_refuses_when_another_writer_won(store: S3Store) -> None:
    def racing() -> Iterator[bytes]:
        yield from chunks(6)  # the upload has begun: the existence check has passed
        store.put_bytes("big", b"the other writer")
        yield from chunks(5)

    assert store.put_stream("big", racing(), if_absent=True) is False
    assert store.get_bytes("big") == b"the other writer"
    assert pending_uploads(store) == []
