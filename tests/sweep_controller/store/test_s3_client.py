"""The S3 client follows the AWS configuration chain: endpoint variables, addressing style."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweep_controller.errors import PermanentStorageError
from sweep_controller.store import make_s3_client


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No endpoint, profile or addressing from the machine; static test credentials."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "GOVSIM_S3_ADDRESSING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "absent"))


def style(client: object) -> str | None:
    s3 = client.meta.config.s3 or {}  # type: ignore[attr-defined]
    return s3.get("addressing_style")


@pytest.mark.parametrize(
    ("env", "endpoint", "addressing"),
    [
        ({}, "https://s3.eu-west-1.amazonaws.com", "auto"),
        ({"AWS_ENDPOINT_URL_S3": "http://seaweedfs:8333"}, "http://seaweedfs:8333", "path"),
        ({"AWS_ENDPOINT_URL": "http://minio:9000"}, "http://minio:9000", "path"),
        (
            {"AWS_ENDPOINT_URL": "http://general:1", "AWS_ENDPOINT_URL_S3": "http://s3only:2"},
            "http://s3only:2",
            "path",
        ),
        (
            {"AWS_ENDPOINT_URL_S3": "http://minio:9000", "GOVSIM_S3_ADDRESSING": "virtual"},
            "http://minio:9000",
            "virtual",
        ),
        ({"GOVSIM_S3_ADDRESSING": "path"}, "https://s3.eu-west-1.amazonaws.com", "path"),
        ({"GOVSIM_S3_ADDRESSING": " Path "}, "https://s3.eu-west-1.amazonaws.com", "path"),
    ],
)
def test_endpoint_and_addressing_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], endpoint: str, addressing: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = make_s3_client()
    assert client.meta.endpoint_url == endpoint
    assert style(client) == addressing
    assert client.meta.region_name == "eu-west-1"


def test_explicit_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://from-env:1")
    client = make_s3_client(endpoint_url="http://explicit:2", addressing="virtual")
    assert client.meta.endpoint_url == "http://explicit:2"
    assert style(client) == "virtual"


def test_botocore_config_keeps_its_own_retries_low_and_times_out() -> None:
    config = make_s3_client(max_attempts=2, connect_timeout=3, read_timeout=7).meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert (config.connect_timeout, config.read_timeout) == (3, 7)


def test_unknown_addressing_style_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVSIM_S3_ADDRESSING", "dns")
    with pytest.raises(PermanentStorageError, match=r"GOVSIM_S3_ADDRESSING: 'dns' is not one of"):
        make_s3_client()
