"""Result stores: one small interface over a local directory (`file://`) and S3 (`s3://`).

`open_store(uri)` picks the backend from the URI scheme:

- `file://results`, `file:///abs/results` or a plain path `results`: a directory (`FileStore`);
  a relative path is resolved against the current directory when the store is opened.
- `s3://bucket/prefix`: a bucket and key prefix (`S3Store`), through boto3 and the standard AWS
  configuration chain (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL for S3-compatible servers).
  It needs the ``s3`` extra; ``S3Store`` and ``make_s3_client`` are imported on first use, so the
  core install never loads boto3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sweep_controller.errors import KeyNotFound, PermanentStorageError
from sweep_controller.extras import require
from sweep_controller.store.base import Store, check_key
from sweep_controller.store.file import FileStore
from sweep_controller.store.retry import Retrier, RetryEvent, RetryPolicy

if TYPE_CHECKING:
    from sweep_controller.store.s3 import S3Store, make_s3_client

__all__ = [
    "FileStore",
    "KeyNotFound",
    "Retrier",
    "RetryEvent",
    "RetryPolicy",
    "S3Store",
    "Store",
    "check_key",
    "make_s3_client",
    "open_store",
]


def open_store(uri: str, *, retrier: Retrier | None = None) -> Store:
    """Return the store for `uri` (file://PATH, a plain PATH, or s3://BUCKET[/PREFIX])."""
    if not isinstance(uri, str) or not uri.strip():
        raise PermanentStorageError(f"uri: {uri!r} is empty; use file://PATH or s3://BUCKET/PREFIX")
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return FileStore(uri, retrier=retrier)
    scheme = scheme.lower()
    if scheme == "file":
        if not rest:
            raise PermanentStorageError(f"uri: {uri!r} names no directory; use file://PATH")
        return FileStore(rest, retrier=retrier)
    if scheme == "s3":
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise PermanentStorageError(f"uri: {uri!r} names no bucket; use s3://BUCKET/PREFIX")
        require(f"{uri}: an S3 store", "s3")
        from sweep_controller.store.s3 import S3Store

        return S3Store(bucket, prefix, retrier=retrier)
    raise PermanentStorageError(
        f"uri: {uri!r} has unsupported scheme {scheme!r}; use file://PATH, a plain PATH "
        "or s3://BUCKET/PREFIX"
    )


def __getattr__(name: str) -> Any:
    """Import the S3 store (boto3) when it is first asked for (PEP 562)."""
    if name in ("S3Store", "make_s3_client"):
        require(f"sweep_controller.store.{name}", "s3")
        from sweep_controller.store import s3

        return getattr(s3, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
