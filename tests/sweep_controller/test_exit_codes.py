"""Which failures are deterministic: ``exit_code_for`` over our errors and the OS's."""

from __future__ import annotations

import errno
import os

import pytest

from simulator.errors import MigrationError, ParameterError, RecordError
from sweep_controller.errors import (
    KeyNotFound,
    MissingExtra,
    OutputConflict,
    PermanentStorageError,
    ResultsError,
    SpecError,
    StoreUnreachable,
    TaskError,
    TaskInterrupted,
    TransientStorageError,
)
from sweep_controller.exit_codes import ExitCode, exit_code_for


def os_error(code: int) -> OSError:
    """The OSError the kernel's ``code`` becomes in Python (a subclass where there is one)."""
    return OSError(code, os.strerror(code), "/data/results")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        # ours: bad input and anything a retry would repeat
        (SpecError("spec.replicates: 0 is outside [1, inf)"), ExitCode.PERMANENT),
        (TaskError("--index: 9 is outside [0, 4]"), ExitCode.PERMANENT),
        (OutputConflict("the output prefix belongs to another sweep"), ExitCode.PERMANENT),
        (PermanentStorageError("NoSuchBucket (HTTP 404)"), ExitCode.PERMANENT),
        (KeyNotFound("s3://b/k: no such object"), ExitCode.PERMANENT),
        (MissingExtra("--pushgateway needs the metrics extra"), ExitCode.PERMANENT),
        # the simulator's: a run is a pure function of its parameters and seed
        (ParameterError("agents: 0 is outside [1, inf)"), ExitCode.PERMANENT),
        (RecordError("votes.final: does not add up"), ExitCode.PERMANENT),
        (MigrationError("empty line"), ExitCode.PERMANENT),
        # worth retrying
        (TransientStorageError("SlowDown (HTTP 503)"), ExitCode.TRANSIENT),
        (StoreUnreachable("EndpointConnectionError"), ExitCode.TRANSIENT),
        # the OS: full disk, quota, permission, read-only, size limit fail the same way again
        (os_error(errno.ENOSPC), ExitCode.PERMANENT),
        (os_error(errno.EDQUOT), ExitCode.PERMANENT),
        (os_error(errno.EACCES), ExitCode.PERMANENT),
        (os_error(errno.EPERM), ExitCode.PERMANENT),
        (os_error(errno.EROFS), ExitCode.PERMANENT),
        (os_error(errno.EFBIG), ExitCode.PERMANENT),
        # anything else: retried up to backoffLimitPerIndex
        (os_error(errno.EIO), ExitCode.FAILURE),
        (os_error(errno.EMFILE), ExitCode.FAILURE),
        (ResultsError("task 3: record 2 is not a valid run record"), ExitCode.FAILURE),
        (TaskInterrupted("stop requested"), ExitCode.FAILURE),
        (MemoryError(), ExitCode.FAILURE),
        (RuntimeError("a bug"), ExitCode.FAILURE),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_exit_code_for(error: BaseException, expected: ExitCode) -> None:
    assert exit_code_for(error) is expected


def test_permanent_is_the_usage_code_and_differs_from_the_retried_ones() -> None:
    assert ExitCode.PERMANENT == ExitCode.USAGE == 2
    assert len({ExitCode.PERMANENT, ExitCode.TRANSIENT, ExitCode.FAILURE}) == 3
