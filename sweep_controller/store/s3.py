"""A store in an S3 bucket (AWS or any S3-compatible server such as SeaweedFS or MinIO).

S3 makes an object visible only when a PutObject or a CompleteMultipartUpload succeeds, so small
bodies go up in one PutObject and large ones as a multipart upload that is completed at the end or
aborted on any failure: no partial object is ever visible. botocore exceptions are translated here,
at the seam, into transient and permanent storage errors; transient ones are retried by the store's
`Retrier`. The client follows the standard AWS configuration chain (environment, shared config
and credentials files, web identity / IRSA, instance metadata), including the service endpoint
variables AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import builtins
import functools
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from sweep_controller.env import ADDRESSING_ENV
from sweep_controller.errors import (
    KeyNotFound,
    PermanentStorageError,
    StorageError,
    StoreUnreachable,
    TransientStorageError,
)
from sweep_controller.store.base import Store, check_key, check_prefix
from sweep_controller.store.retry import Retrier

__all__ = ["ADDRESSING_ENV", "S3Store", "make_s3_client", "translate_error"]

T = TypeVar("T")
MiB = 1024 * 1024
_ADDRESSING_STYLES = ("auto", "path", "virtual")

log = logging.getLogger(__name__)

# Error codes worth retrying whatever the HTTP status says.
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "OperationAborted",
        # Concurrent conditional writes to one key: S3 asks the loser to retry.
        "ConditionalRequestConflict",
        # A multipart upload vanished (e.g. completed by an attempt whose response was lost):
        # the caller must redo the whole put, which a retried task does.
        "NoSuchUpload",
        # The body was damaged or cut short on the way: sending it again fixes it.
        "BadDigest",
        "IncompleteBody",
        "XAmzContentSHA256Mismatch",
        # Credentials that expired or a clock that drifted: a refreshed token, or another node
        # with a synchronised clock, succeeds.
        "ExpiredToken",
        "RequestExpired",
        "RequestTimeTooSkewed",
    }
)
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
# No answer at all: the server is down, unreachable or hung. Transient, and what the local
# runner's circuit breaker counts (ReadTimeoutError and ConnectionClosedError are HTTPClientErrors;
# connect timeouts and refused connections are botocore ConnectionErrors).
_UNREACHABLE = (
    BotoConnectionError,
    ReadTimeoutError,
    ConnectionClosedError,
    builtins.ConnectionError,
    TimeoutError,
)


def _one_line(text: str) -> str:
    """Collapse whitespace and newlines so that an error message stays on one line."""
    return " ".join(text.split())


def translate_error(exc: Exception, operation: str, uri: str) -> StorageError:
    """Return the storage error matching a botocore exception raised by `operation` on `uri`."""
    text = _one_line(f"{uri}: {operation} failed: {type(exc).__name__}: {exc}")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = str(error.get("Message", "") or "")
        text = f"{uri}: {operation} failed: {code or 'error'} (HTTP {status})"
        text = _one_line(f"{text}: {message}" if message else text)
        if code in _NOT_FOUND_CODES:
            return KeyNotFound(f"{uri}: no such object")
        if code in _TRANSIENT_CODES or status >= 500 or status == 429:
            return TransientStorageError(text)
        return PermanentStorageError(text)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return PermanentStorageError(
            f"{text} (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
            "or a web identity / instance role)"
        )
    if isinstance(exc, SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return PermanentStorageError(
            f"{text} (the endpoint's certificate is not trusted: set AWS_CA_BUNDLE)"
        )
    if isinstance(exc, _UNREACHABLE):
        return StoreUnreachable(text)
    if isinstance(exc, HTTPClientError | IncompleteReadError):
        return TransientStorageError(text)
    return PermanentStorageError(text)


_ENDPOINT_ENVS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def _endpoint_problem(url: str) -> str | None:
    """Why ``url`` is not an endpoint URL (``http[s]://HOST[:PORT][/PATH]``), or None."""
    try:
        parts = urlsplit(url)
        port = parts.port  # a port that is not a number in [0, 65535] raises ValueError
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https"):
        return "the scheme must be http or https"
    if not parts.hostname or any(c.isspace() for c in url):
        return "it names no host"
    if port == 0:
        return "port 0 is not a port to connect to"
    return None


def _check_endpoint(endpoint_url: str | None) -> None:
    """Refuse, as one line naming its source, an S3 endpoint URL botocore would choke on."""
    if endpoint_url is not None:
        sources = [("endpoint_url", endpoint_url)]
    elif os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").strip().lower() == "true":
        sources = []
    else:
        sources = [(name, os.environ[name]) for name in _ENDPOINT_ENVS if os.environ.get(name)]
    for name, url in sources[:1]:  # botocore uses the first one set
        problem = _endpoint_problem(url)
        if problem is not None:
            raise PermanentStorageError(
                f"{name}: {url!r} is not an endpoint URL (http[s]://HOST[:PORT]): {problem}"
            )


def _is_aws_endpoint(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn", ".api.aws"))


@functools.cache
def _shared_loader() -> botocore.loaders.Loader:
    """Return one botocore data loader per process: parsing the S3 model once saves ~0.1 s."""
    return botocore.loaders.create_loader()


def _new_session() -> boto3.session.Session:
    """Return a fresh session (credentials resolved anew) that reuses the parsed API models."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _shared_loader())
    return boto3.session.Session(botocore_session=core)


def make_s3_client(
    *,
    endpoint_url: str | None = None,
    addressing: str | None = None,
    max_attempts: int = 2,
    connect_timeout: float = 5.0,
    read_timeout: float = 30.0,
    session: boto3.session.Session | None = None,
) -> Any:
    """Return a boto3 S3 client from the standard AWS configuration chain.

    The endpoint comes from `endpoint_url`, else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL / the
    shared config (resolved by botocore itself). Addressing comes from `addressing`, else the
    GOVSIM_S3_ADDRESSING variable (auto | path | virtual); auto picks path-style for any endpoint
    that is not AWS, since S3-compatible servers rarely resolve bucket subdomains. botocore's own
    retries are kept low (`max_attempts` in total): the store's Retrier does the backoff. These
    settings win over AWS_MAX_ATTEMPTS, AWS_RETRY_MODE and the shared config, so how long a call
    to a dead or hung server can take is bounded by them (docs/storage.md, "A dead store").
    """
    style = (addressing or os.environ.get(ADDRESSING_ENV) or "auto").strip().lower()
    if style not in _ADDRESSING_STYLES:
        raise PermanentStorageError(
            f"{ADDRESSING_ENV}: {style!r} is not one of {', '.join(_ADDRESSING_STYLES)}"
        )
    _check_endpoint(endpoint_url)
    session = session if session is not None else _new_session()
    base = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        tcp_keepalive=True,
    )

    def build(addressing_style: str) -> Any:
        config = base.merge(Config(s3={"addressing_style": addressing_style}))
        return session.client("s3", endpoint_url=endpoint_url, config=config)

    try:
        client = build(style)
        if style == "auto" and not _is_aws_endpoint(client.meta.endpoint_url):
            client = build("path")
    except BotoCoreError as exc:
        raise translate_error(exc, "create client", "s3://") from exc
    except ValueError as exc:  # an endpoint from the shared config file that botocore refuses
        raise PermanentStorageError(f"S3 endpoint: {exc}") from None
    return client


class S3Store(Store):
    """Objects in an S3 bucket under a key prefix (`s3://bucket/prefix/<key>`).

    Distributed semantics: every successful put replaces the whole object atomically (last writer
    wins), and readers see the old object, none, or the complete new one. Results are written at
    least once: keys are deterministic, so a retried pod rewrites an identical object. A retried
    put whose first response was lost may report `if_absent` as False although this very call
    wrote the object. An aborted multipart upload that could not be aborted (server unreachable)
    stays invisible; a bucket lifecycle rule (AbortIncompleteMultipartUpload) reclaims its parts.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        retrier: Retrier | None = None,
        page_size: int = 1000,
        multipart_threshold: int = 16 * MiB,
        part_size: int = 8 * MiB,
    ) -> None:
        if not bucket:
            raise PermanentStorageError("s3 uri: the bucket name is empty (use s3://BUCKET/PREFIX)")
        if not 1 <= page_size <= 1000:
            raise ValueError(f"page_size: {page_size} is outside [1, 1000]")
        if part_size < 1 or multipart_threshold < 1:
            raise ValueError("part_size, multipart_threshold: must be >= 1 byte")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        if self.prefix:
            check_prefix(self.prefix)
        self.uri = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.client = client if client is not None else make_s3_client()
        self.retrier = retrier if retrier is not None else Retrier()
        self.page_size = page_size
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self._bucket_seen = False

    def __repr__(self) -> str:
        return f"S3Store({self.uri!r})"

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def uri_for(self, key: str) -> str:
        """Return s3://bucket/prefix/key."""
        return f"s3://{self.bucket}/{self._key(key)}"

    def _call(self, operation: str, uri: str, fn: Callable[[], T]) -> T:
        def once() -> T:
            try:
                return fn()
            except (ClientError, BotoCoreError, builtins.ConnectionError, TimeoutError) as exc:
                raise translate_error(exc, operation, uri) from exc

        return self.retrier.call(operation, once)

    def _require_bucket(self) -> None:
        """Fail before the first write if the bucket does not exist (one listing, once).

        Some S3-compatible servers (SeaweedFS) create a missing bucket on the first PutObject,
        so a misspelt bucket would silently fill up; the store never creates buckets. The check
        lists at most one key under the store's own prefix (ListObjectsV2), which a missing bucket
        answers with 404 NoSuchBucket and which the worker's role may do (it may list only its
        prefix, so a HeadBucket would be refused). A 403 (no permission to look) is not proof of
        absence: the write then goes ahead, and AWS refuses it with NoSuchBucket if the bucket
        is missing.
        """
        if self._bucket_seen:
            return
        uri = f"s3://{self.bucket}"
        try:
            self._call(
                "check bucket",
                uri,
                lambda: self.client.list_objects_v2(
                    Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1
                ),
            )
        except PermanentStorageError as exc:
            cause = exc.__cause__
            status = (
                cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if isinstance(cause, ClientError)
                else None
            )
            if status == 404:
                raise PermanentStorageError(
                    f"{uri}: bucket {self.bucket!r} does not exist; create it first "
                    "(sweeps never create buckets)"
                ) from exc
            if status != 403:
                raise
        self._bucket_seen = True

    def put_stream(self, key: str, chunks: Iterable[bytes], *, if_absent: bool = False) -> bool:
        """Upload in one PutObject below multipart_threshold, else as a multipart upload.

        The first write of a store checks that the bucket exists; a missing bucket is a
        PermanentStorageError naming it, and nothing is written.
        """
        full, uri = self._key(key), self.uri_for(key)
        self._require_bucket()
        condition = {"IfNoneMatch": "*"} if if_absent else {}
        buffer = bytearray()
        upload: _Multipart | None = None
        try:
            for chunk in chunks:  # errors raised by the caller's iterable propagate unchanged
                buffer += chunk
                if upload is None and len(buffer) < self.multipart_threshold:
                    continue
                if upload is None:
                    if if_absent and self.exists(key):
                        return False
                    upload = _Multipart(self, full, uri)
                while len(buffer) >= self.part_size:
                    upload.add_part(bytes(buffer[: self.part_size]))
                    del buffer[: self.part_size]
            if upload is None:
                put = partial(
                    self.client.put_object,
                    Bucket=self.bucket,
                    Key=full,
                    Body=bytes(buffer),
                    **condition,
                )
                return self._conditional(partial(self._call, "put", uri, put))
            if buffer or not upload.parts:
                upload.add_part(bytes(buffer))
            written = self._conditional(partial(upload.complete, condition))
            if not written:
                upload.abort()
            return written
        except BaseException:
            if upload is not None and not upload.completed:
                upload.abort()
            raise

    @staticmethod
    def _conditional(fn: Callable[[], object]) -> bool:
        """Run a conditional write; return False if the server refused it because the key exists."""
        try:
            fn()
        except PermanentStorageError as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") in {
                "PreconditionFailed",
                "412",
            }:
                return False
            raise
        return True

    def get_bytes(self, key: str) -> bytes:
        """Return the object's body; raise KeyNotFound if there is none."""
        full = self._key(key)

        def read() -> bytes:
            response = self.client.get_object(Bucket=self.bucket, Key=full)
            return bytes(response["Body"].read())

        return self._call("get", self.uri_for(key), read)

    def exists(self, key: str) -> bool:
        """Return True if HeadObject finds the key."""
        full = self._key(key)
        try:
            self._call(
                "exists",
                self.uri_for(key),
                lambda: self.client.head_object(Bucket=self.bucket, Key=full),
            )
        except KeyNotFound:
            return False
        return True

    def list(self, prefix: str = "") -> Iterator[str]:
        """Yield keys starting with `prefix` in the server's order, one ListObjectsV2 a page."""
        check_prefix(prefix)
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": self.prefix + prefix,
            "MaxKeys": self.page_size,
        }
        uri = f"{self.uri}/{prefix}"
        while True:
            page = self._call("list", uri, partial(self.client.list_objects_v2, **request))
            for item in page.get("Contents", ()):
                yield str(item["Key"])[len(self.prefix) :]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            request["ContinuationToken"] = token

    def remove_partial_writes(self, prefix: str, *, before: datetime) -> int:
        """Abort the multipart uploads under `prefix` initiated before `before`."""
        check_prefix(prefix)
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
        uri = f"{self.uri}/{prefix}"
        stale: builtins.list[tuple[str, str]] = []
        while True:
            page = self._call(
                "list multipart uploads",
                uri,
                partial(self.client.list_multipart_uploads, **request),
            )
            stale += [
                (str(u["Key"]), str(u["UploadId"]))
                for u in page.get("Uploads", ())
                if u["Initiated"] < before
            ]
            if not page.get("IsTruncated"):
                break
            request["KeyMarker"] = page.get("NextKeyMarker", "")
            request["UploadIdMarker"] = page.get("NextUploadIdMarker", "")
        for full, upload_id in stale:
            self._call("abort multipart upload", f"s3://{self.bucket}/{full}",
                       partial(self._abort_upload, full, upload_id))  # fmt: skip
        return len(stale)

    def _abort_upload(self, full: str, upload_id: str) -> None:
        """Abort one upload; one that is already gone (another cleaner) is not an error."""
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise

    def delete(self, key: str) -> None:
        """Delete the object; S3 treats a missing key as success."""
        full = self._key(key)
        self._call(
            "delete",
            self.uri_for(key),
            lambda: self.client.delete_object(Bucket=self.bucket, Key=full),
        )


class _Multipart:
    """One multipart upload in progress: parts are retried one by one, abort is best effort."""

    def __init__(self, store: S3Store, key: str, uri: str) -> None:
        self.store, self.key, self.uri = store, key, uri
        self.parts: builtins.list[dict[str, Any]] = []
        self.completed = False
        response = store._call(
            "create multipart upload",
            uri,
            lambda: store.client.create_multipart_upload(Bucket=store.bucket, Key=key),
        )
        self.upload_id: str = response["UploadId"]

    def add_part(self, body: bytes) -> None:
        """Upload the next part."""
        number = len(self.parts) + 1
        response = self.store._call(
            "upload part",
            self.uri,
            lambda: self.store.client.upload_part(
                Bucket=self.store.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=body,
            ),
        )
        self.parts.append({"PartNumber": number, "ETag": response["ETag"]})

    def complete(self, condition: dict[str, str]) -> None:
        """Complete the upload: the object becomes visible, whole, at this instant."""
        self.store._call(
            "complete multipart upload",
            self.uri,
            lambda: self.store.client.complete_multipart_upload(
                Bucket=self.store.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": self.parts},
                **condition,
            ),
        )
        self.completed = True

    def abort(self) -> None:
        """Abort the upload, logging (not raising) if that fails too."""
        try:
            self.store.client.abort_multipart_upload(
                Bucket=self.store.bucket, Key=self.key, UploadId=self.upload_id
            )
        except (ClientError, BotoCoreError, OSError) as exc:
            log.warning(
                "%s: could not abort multipart upload %s: %s", self.uri, self.upload_id, exc
            )
