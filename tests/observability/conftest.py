"""Real Prometheus and Pushgateway for the observability tests, started once per session.

Tests share the two servers, so each test pushes under its own sweep name (``unique_sweep``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from promstack import (
    PROMETHEUS,
    PUSHGATEWAY,
    Prometheus,
    PrometheusAPI,
    Pushgateway,
    require_prometheus_binaries,
)

FILE_SD_JOBS = ("govsim-controller", "govsim-runner")


@pytest.fixture(scope="session")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushgateway]:
    """A Pushgateway on a free loopback port."""
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
