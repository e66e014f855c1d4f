"""S3 error paths: botocore errors become transient or permanent storage errors, and only the
transient ones are retried. Service errors come from botocore's Stubber; network failures from
real sockets (refused, closed without an answer, never answering)."""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
    ResponseStreamingError,
    SSLError,
)
from botocore.stub import Stubber
from kit.servers import free_port

from sweep_controller.errors import (
    KeyNotFound,
    PermanentStorageError,
    StorageError,
    StoreUnreachable,
    TransientStorageError,
)
from sweep_controller.store import Retrier, RetryPolicy, S3Store, make_s3_client
from sweep_controller.store.s3 import translate_error

URI = "s3://bucket/p/k"


def client_error(code: str, status: int, message: str = "message") -> ClientError:
    """Return the ClientError botocore raises for an S3 error response."""
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "PutObject",
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (client_error("SlowDown", 503), TransientStorageError),
        (client_error("ServiceUnavailable", 503), TransientStorageError),
        (client_error("InternalError", 500), TransientStorageError),
        (client_error("", 502), TransientStorageError),
        (client_error("TooManyRequests", 429), TransientStorageError),
        (client_error("RequestTimeout", 400), TransientStorageError),
        (client_error("ConditionalRequestConflict", 409), TransientStorageError),
        (client_error("BadDigest", 400), TransientStorageError),
        (client_error("ExpiredToken", 400), TransientStorageError),
        (client_error("RequestTimeTooSkewed", 403), TransientStorageError),
        (client_error("AccessDenied", 403), PermanentStorageError),
        (client_error("InvalidAccessKeyId", 403), PermanentStorageError),
        (client_error("SignatureDoesNotMatch", 403), PermanentStorageError),
        (client_error("NoSuchBucket", 404), PermanentStorageError),
        (client_error("InvalidArgument", 400), PermanentStorageError),
        (client_error("PreconditionFailed", 412), PermanentStorageError),
        (client_error("NoSuchKey", 404), KeyNotFound),
        (client_error("404", 404, ""), KeyNotFound),
        (EndpointConnectionError(endpoint_url="http://h"), StoreUnreachable),
        (ConnectTimeoutError(endpoint_url="http://h"), StoreUnreachable),
        (ConnectionClosedError(endpoint_url="http://h"), StoreUnreachable),
        (ReadTimeoutError(endpoint_url="http://h"), StoreUnreachable),
        (ConnectionResetError("reset by peer"), StoreUnreachable),
        (ConnectionRefusedError("refused"), StoreUnreachable),
        (SSLError(endpoint_url="http://h", error="EOF in violation of protocol"), StoreUnreachable),
        (ResponseStreamingError(error="cut short"), TransientStorageError),
        (
            SSLError(endpoint_url="http://h", error="[SSL: CERTIFICATE_VERIFY_FAILED]"),
            PermanentStorageError,
        ),
        (NoCredentialsError(), PermanentStorageError),
        (ParamValidationError(report="bad"), PermanentStorageError),
    ],
)
def test_translation_table(error: Exception, expected: type[StorageError]) -> None:
    translated = translate_error(error, "put", URI)
    assert type(translated) is expected
    assert str(translated).startswith(f"{URI}: ")
    assert "\n" not in str(translated)


def test_messages_name_uri_operation_code_and_status() -> None:
    message = str(translate_error(client_error("AccessDenied", 403, "Access Denied"), "put", URI))
    assert message == f"{URI}: put failed: AccessDenied (HTTP 403): Access Denied"


def test_missing_credentials_message_says_what_to_set() -> None:
    assert "AWS_ACCESS_KEY_ID" in str(translate_error(NoCredentialsError(), "get", URI))


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Credentials and region in the environment, and no machine configuration."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "GOVSIM_S3_ADDRESSING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


class Recorded:
    """A store over a given client whose retrier records its waits instead of sleeping."""

    def __init__(self, client: Any, max_attempts: int = 3, **options: Any) -> None:
        self.sleeps: list[float] = []
        self.retrier = Retrier(
            RetryPolicy(max_attempts=max_attempts),
            sleep=self.sleeps.append,
            rng=random.Random(0),
        )
        self.store = S3Store("bucket", "p", client=client, retrier=self.retrier, **options)


@pytest.fixture
def stubbed(aws_env: None) -> Iterator[tuple[Stubber, Recorded]]:
    """A store whose client answers from a Stubber queue; every queued answer must be used."""
    client = make_s3_client(endpoint_url="http://127.0.0.1:9", max_attempts=1)
    with Stubber(client) as stubber:
        yield stubber, Recorded(client)
        stubber.assert_no_pending_responses()


def bucket_exists(stubber: Stubber) -> None:
    """Queue the answer to the bucket check that precedes a store's first write."""
    stubber.add_response(
        "list_objects_v2", {"KeyCount": 0}, {"Bucket": "bucket", "Prefix": "p/", "MaxKeys": 1}
    )


def test_a_missing_bucket_fails_the_first_write_naming_it(
    stubbed: tuple[Stubber, Recorded],
) -> None:
    stubber, rec = stubbed
    # Nothing else may be called.
    stubber.add_client_error("list_objects_v2", "NoSuchBucket", "", 404)
    with pytest.raises(PermanentStorageError) as info:
        rec.store.put_bytes("tasks/000000.failed.json", b"{}")
    message = str(info.value)
    assert message == (
        "s3://bucket: bucket 'bucket' does not exist; create it first (sweeps never create buckets)"
    )
    assert (rec.sleeps, rec.store.retries) == ([], 0)


def test_the_bucket_is_checked_once_and_a_403_does_not_stop_writes(
    stubbed: tuple[Stubber, Recorded],
) -> None:
    stubber, rec = stubbed
    # May not look: AWS will tell on the write.
    stubber.add_client_error("list_objects_v2", "AccessDenied", "", 403)
    for key in ("p/a", "p/b"):
        stubber.add_response("put_object", {"ETag": '"e"'}, {"Bucket": "bucket", "Key": key,
                                                              "Body": b"x"})  # fmt: skip
    assert rec.store.put_bytes("a", b"x") is True
    assert rec.store.put_bytes("b", b"x") is True


def test_access_denied_is_permanent_and_not_retried(stubbed: tuple[Stubber, Recorded]) -> None:
    stubber, rec = stubbed
    stubber.add_client_error("get_object", "AccessDenied", "Access Denied", 403)
    with pytest.raises(PermanentStorageError, match="AccessDenied") as info:
        rec.store.get_bytes("k")
    assert not isinstance(info.value, KeyNotFound)
    assert isinstance(info.value.__cause__, ClientError)
    assert (rec.sleeps, rec.store.retries) == ([], 0)


def test_slow_down_is_retried_then_succeeds(stubbed: tuple[Stubber, Recorded]) -> None:
    stubber, rec = stubbed
    bucket_exists(stubber)
    stubber.add_client_error("put_object", "SlowDown", "Please reduce your request rate.", 503)
    stubber.add_client_error("put_object", "ServiceUnavailable", "busy", 503)
    stubber.add_response(
        "put_object", {"ETag": '"e"'}, {"Bucket": "bucket", "Key": "p/k", "Body": b"x"}
    )
    assert rec.store.put_bytes("k", b"x") is True
    assert rec.store.retries == 2
    assert len(rec.sleeps) == 2


def test_exhausted_retries_raise_transient(stubbed: tuple[Stubber, Recorded]) -> None:
    stubber, rec = stubbed
    for _ in range(3):
        stubber.add_client_error("get_object", "SlowDown", "slow down", 503)
    with pytest.raises(TransientStorageError, match="gave up after 3 attempts"):
        rec.store.get_bytes("k")
    assert rec.store.retries == 2


def test_missing_key_and_missing_bucket_differ(stubbed: tuple[Stubber, Recorded]) -> None:
    stubber, rec = stubbed
    stubber.add_client_error("head_object", "404", "", 404)
    stubber.add_client_error("get_object", "NoSuchKey", "The specified key does not exist.", 404)
    stubber.add_client_error("get_object", "NoSuchBucket", "The bucket does not exist", 404)
    assert rec.store.exists("k") is False
    with pytest.raises(KeyNotFound):
        rec.store.get_bytes("k")
    with pytest.raises(PermanentStorageError, match="NoSuchBucket") as info:
        rec.store.get_bytes("k")
    assert not isinstance(info.value, KeyNotFound)


def test_conditional_put_refused_returns_false(stubbed: tuple[Stubber, Recorded]) -> None:
    stubber, rec = stubbed
    bucket_exists(stubber)
    stubber.add_client_error("put_object", "PreconditionFailed", "pre-conditions", 412)
    assert rec.store.put_bytes("k", b"x", if_absent=True) is False


def multipart(aws_env: None) -> tuple[Stubber, Recorded]:
    client = make_s3_client(endpoint_url="http://127.0.0.1:9", max_attempts=1)
    return Stubber(client), Recorded(client, multipart_threshold=4, part_size=4)


UPLOAD = {"Bucket": "bucket", "Key": "p/k", "UploadId": "u1"}


def test_failed_part_aborts_the_upload(aws_env: None) -> None:
    stubber, rec = multipart(aws_env)
    bucket_exists(stubber)
    stubber.add_response("create_multipart_upload", {"UploadId": "u1"})
    stubber.add_response("upload_part", {"ETag": '"e1"'})
    stubber.add_client_error("upload_part", "AccessDenied", "denied", 403)
    stubber.add_response("abort_multipart_upload", {}, UPLOAD)
    with stubber, pytest.raises(PermanentStorageError, match="upload part"):
        rec.store.put_stream("k", [b"aaaa", b"bbbb", b"cc"])
    stubber.assert_no_pending_responses()


def test_transient_part_failure_is_retried_alone(aws_env: None) -> None:
    stubber, rec = multipart(aws_env)
    bucket_exists(stubber)
    stubber.add_response("create_multipart_upload", {"UploadId": "u1"})
    stubber.add_client_error("upload_part", "InternalError", "oops", 500)
    stubber.add_response(
        "upload_part", {"ETag": '"e1"'}, {**UPLOAD, "PartNumber": 1, "Body": b"aaaa"}
    )
    stubber.add_response(
        "upload_part", {"ETag": '"e2"'}, {**UPLOAD, "PartNumber": 2, "Body": b"bb"}
    )
    parts = {"Parts": [{"PartNumber": 1, "ETag": '"e1"'}, {"PartNumber": 2, "ETag": '"e2"'}]}
    stubber.add_response("complete_multipart_upload", {}, {**UPLOAD, "MultipartUpload": parts})
    with stubber:
        assert rec.store.put_stream("k", [b"aa", b"aa", b"bb"]) is True
    stubber.assert_no_pending_responses()
    assert rec.store.retries == 1


def test_conditional_complete_refused_aborts_and_returns_false(aws_env: None) -> None:
    stubber, rec = multipart(aws_env)
    bucket_exists(stubber)
    stubber.add_client_error("head_object", "404", "", 404)
    stubber.add_response("create_multipart_upload", {"UploadId": "u1"})
    stubber.add_response("upload_part", {"ETag": '"e1"'})
    stubber.add_client_error("complete_multipart_upload", "PreconditionFailed", "exists", 412)
    stubber.add_response("abort_multipart_upload", {}, UPLOAD)
    with stubber:
        assert rec.store.put_stream("k", [b"aaaa"], if_absent=True) is False
    stubber.assert_no_pending_responses()


@pytest.fixture
def closing_endpoint() -> Iterator[str]:
    """An HTTP endpoint that accepts each connection and closes it without answering."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            conn.recv(65536)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    server.close()


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An HTTP endpoint whose kernel accepts connections that nobody ever answers."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as server:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.parametrize("endpoint", ["refused", "closing", "silent"])
def test_network_failures_are_unreachable_and_retried(
    aws_env: None, request: pytest.FixtureRequest, endpoint: str
) -> None:
    url = {
        "refused": lambda: f"http://127.0.0.1:{free_port()}",
        "closing": lambda: request.getfixturevalue("closing_endpoint"),
        "silent": lambda: request.getfixturevalue("silent_endpoint"),
    }[endpoint]()
    client = make_s3_client(endpoint_url=url, max_attempts=1, connect_timeout=1, read_timeout=0.3)
    rec = Recorded(client, max_attempts=2)
    # The class survives the retries: the runner's circuit breaker counts StoreUnreachable.
    with pytest.raises(StoreUnreachable, match="gave up after 2 attempts") as info:
        rec.store.get_bytes("k")
    assert rec.store.retries == 1
    cause = info.value.__cause__
    assert isinstance(cause, StoreUnreachable)
    assert isinstance(
        cause.__cause__, EndpointConnectionError | ConnectionClosedError | ReadTimeoutError
    )
