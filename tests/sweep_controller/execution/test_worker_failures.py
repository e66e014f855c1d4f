"""How a worker's failure is classified: its exit code, and what the rendered Job does with it.

Each row puts a real ``sweepctl worker`` (a subprocess, as in a pod) in front of one real
failure: a SeaweedFS without the bucket, wrong credentials, a closed port, a server killed
mid-task, a full file system, a read-only one, a directory it may not write, a busy mount point.
Deterministic failures must exit with the code that the Job's podFailurePolicy answers with
``FailIndex`` (no retry); transient ones with a code it retries. Always one ``sweepctl: error:``
line and no traceback. The S3 rows need the ``weed`` binary, the file-system rows root (mounts,
dropping CAP_DAC_OVERRIDE): each is skipped with the reason, or fails when CI is set.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kit.cli import start_sweepctl
from kit.mounts import bind_mount, fill, tmpfs, without_dac_override
from kit.paths import REPO
from kit.runs import temp_files
from kit.servers import SeaweedFS, free_port
from kit.specs import grid_doc, write_spec

from sweep_controller.execution.layout import manifest_key
from sweep_controller.k8s.config import ControllerConfig
from sweep_controller.k8s.objects import build_job
from sweep_controller.spec.loading import parse_sweep

pytestmark = pytest.mark.slow  # subprocess workers: seconds each

FAIL_INDEX, RETRY = "FailIndex", "Count"
SIM = {"agents": 60, "cascade_rounds": 3, "rules": "v0.5"}


def job_reaction(exit_code: int) -> str:
    """What the rendered Job does when the worker container exits with ``exit_code``.

    The first ``podFailurePolicy`` rule whose ``onExitCodes`` matches decides; when none does,
    the failure counts against ``backoffLimitPerIndex`` and the index is retried ("Count").
    """
    sweep = parse_sweep(grid_doc("policy", "s3://bucket/prefix"))
    job = build_job(sweep, ControllerConfig(image="localhost/govsim:test"))
    for rule in job["spec"]["podFailurePolicy"]["rules"]:
        codes = rule.get("onExitCodes")
        if codes and (exit_code in codes["values"]) == (codes["operator"] == "In"):
            return str(rule["action"])
    return RETRY


@dataclass(frozen=True)
class Failure:
    """One failure the worker faces: how to set it up, and how it must end."""

    id: str
    setup: Callable[[pytest.FixtureRequest, Path], contextlib.AbstractContextManager[Any]]
    """Enters the failure; yields the spec path and an argv prefix for the worker."""
    code: int
    reaction: str
    error: str
    """Regex for the one ``sweepctl: error:`` line."""


def _spec(where: Path, output: str) -> Path:
    return write_spec(where / "s.yaml", grid_doc("wf", output, simulator=SIM))


@contextlib.contextmanager
def missing_bucket(request: pytest.FixtureRequest, tmp: Path) -> Iterator[tuple[Path, list]]:
    request.getfixturevalue("s3_env")
    yield _spec(tmp, f"s3://govsim-missing-{uuid.uuid4().hex[:12]}/sweeps"), []


def wrong_credentials(name: str, value: str) -> Callable[..., Any]:
    """The session server, with one credential variable replaced by ``value``."""

    @contextlib.contextmanager
    def setup(request: pytest.FixtureRequest, tmp: Path) -> Iterator[tuple[Path, list]]:
        request.getfixturevalue("s3_env")
        bucket = request.getfixturevalue("_s3_shared_bucket")
        monkeypatch = request.getfixturevalue("monkeypatch")
        monkeypatch.setenv(name, value)
        yield _spec(tmp, f"s3://{bucket}/t-{uuid.uuid4().hex[:12]}"), []

    return setup


@contextlib.contextmanager
def closed_port(request: pytest.FixtureRequest, tmp: Path) -> Iterator[tuple[Path, list]]:
    request.getfixturevalue("s3_env")
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    yield _spec(tmp, "s3://nobody-listens/sweeps"), []


@contextlib.contextmanager
def full_disk(request: pytest.FixtureRequest, tmp: Path) -> Iterator[tuple[Path, list]]:
    with tmpfs(tmp / "disk", size="256k") as disk:
        fill(disk)
        yield _spec(tmp, f"file://{disk}/out"), []
        assert temp_files(disk) == []


@contextlib.contextmanager
def read_only(request: pytest.FixtureRequest, tmp: Path) -> Iterator[tuple[Path, list]]:
    with tmpfs(tmp / "ro", size="256k", read_only=True) as disk:
        yield _spec(tmp, f"file://{disk}/out"), []


@contextlib.contextmanager
def permission_denied(request: pytest.FixtureRequest, tmp: Path) -> Iterator[tuple[Path, list]]:
    prefix = without_dac_override()  # root, but file modes apply: out/ is read-only to it
    (tmp / "out").mkdir(mode=0o555)
    try:
        yield _spec(tmp, f"file://{tmp}/out"), prefix
    finally:
        (tmp / "out").chmod(0o755)


@contextlib.contextmanager
def busy_key(request: pytest.FixtureRequest, tmp: Path) -> Iterator[tuple[Path, list]]:
    spec = _spec(tmp, f"file://{tmp}/out")
    target = tmp / "out" / manifest_key("wf", 0)  # the commit replaces it: EBUSY
    target.parent.mkdir(parents=True)
    target.touch()
    (source := tmp / "source").touch()
    with bind_mount(source, target):
        yield spec, []


S3_FAILURES = [
    Failure("s3-missing-bucket", missing_bucket, 2, FAIL_INDEX, r"NoSuchBucket \(HTTP 404\)"),
    Failure(
        "s3-unknown-access-key",
        wrong_credentials("AWS_ACCESS_KEY_ID", "nobody-we-know"),
        2,
        FAIL_INDEX,
        r"InvalidAccessKeyId \(HTTP 403\)",
    ),
    Failure(
        "s3-wrong-secret",
        wrong_credentials("AWS_SECRET_ACCESS_KEY", "not-the-secret"),
        2,
        FAIL_INDEX,
        r"SignatureDoesNotMatch \(HTTP 403\)",
    ),
    Failure(
        "s3-closed-port",
        closed_port,
        75,
        RETRY,
        r"EndpointConnectionError: .* \(gave up after 6 attempts\)$",
    ),
]
FILE_FAILURES = [
    Failure("full-disk", full_disk, 2, FAIL_INDEX, r"put failed: No space left on device$"),
    Failure("read-only", read_only, 2, FAIL_INDEX, r"put failed: Read-only file system$"),
    Failure(
        "permission-denied", permission_denied, 2, FAIL_INDEX, r"put failed: Permission denied$"
    ),
    Failure("busy-mount-point", busy_key, 75, RETRY, r"put failed: Device or resource busy$"),
]


def worker(spec: Path, prefix: list[str]) -> subprocess.CompletedProcess[str]:
    """``sweepctl worker SPEC --index 0`` as a pod runs it, behind ``prefix`` (e.g. setpriv)."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "sweep_controller", "worker", str(spec), "--index", "0"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ),
        timeout=300,
        check=False,
    )


def error_line(stderr: str) -> str:
    """The worker's one error line; there must be exactly one, and no traceback."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("sweepctl: error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


@pytest.mark.parametrize(
    "failure",
    [
        *(pytest.param(f, id=f.id, marks=pytest.mark.integration) for f in S3_FAILURES),
        *(pytest.param(f, id=f.id) for f in FILE_FAILURES),
    ],
)
def test_worker_exit_code_for_each_failure(
    request: pytest.FixtureRequest, tmp_path: Path, failure: Failure
) -> None:
    with failure.setup(request, tmp_path) as (spec, prefix):
        result = worker(spec, prefix)
    line = error_line(result.stderr)
    assert result.returncode == failure.code, result.stderr
    assert job_reaction(result.returncode) == failure.reaction
    assert re.search(failure.error, line), line


@pytest.mark.integration
def test_a_server_killed_mid_task_is_a_transient_failure(
    tmp_path: Path, fresh_seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in fresh_seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    bucket = fresh_seaweedfs.create_bucket()
    doc = grid_doc(
        "killed",
        f"s3://{bucket}/sweeps",
        simulator={"agents": 8000, "mean_degree": 10, "rules": "v0.5"},
        runsPerTask=12,
    )
    proc = start_sweepctl("worker", write_spec(tmp_path / "s.yaml", doc), "--index", "0")
    assert proc.stderr is not None
    for line in proc.stderr:  # (botocore logs where it found credentials first)
        if "task 0 of" in line:  # the task is about to start: kill the server
            break
    fresh_seaweedfs.stop()
    _, err = proc.communicate(timeout=300)
    line = error_line(err)
    assert proc.returncode == 75, err
    assert job_reaction(75) == RETRY and "gave up after 6 attempts" in line
