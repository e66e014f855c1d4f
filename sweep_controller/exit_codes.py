"""The process exit codes of every command, the worker and the Job's podFailurePolicy.

One vocabulary: ``sweepctl`` subcommands, the local runner and the Kubernetes worker all exit
with these, and the Job builder matches ``PERMANENT`` in its podFailurePolicy so a deterministic
failure fails its index at once instead of being retried. :func:`exit_code_for` is the one place
that decides which failures are deterministic. Free of client libraries on purpose: the pure
Kubernetes object builders import it without loading boto3 or kubernetes.
"""

from __future__ import annotations

import errno
from enum import IntEnum

from simulator.errors import SimulatorError
from sweep_controller.errors import (
    AnalysisError,
    ClusterUnreachable,
    FlagError,
    MissingExtra,
    PermanentStorageError,
    SpecError,
    TaskError,
    TransientStorageError,
)


class ExitCode(IntEnum):
    """Why a process ended; ``PERMANENT`` is the same code as ``USAGE`` (do not retry)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    PERMANENT = 2
    SWEEP_FAILED = 3
    """``sweepctl watch``: the Sweep ended in phase Failed."""
    SWEEP_GONE = 4
    """``sweepctl watch``: the Sweep was deleted while being watched."""
    TRANSIENT = 75
    TIMED_OUT = 124
    """``sweepctl watch --timeout``, ``delete --wait``: time ran out first (as ``timeout(1)``)."""
    INTERRUPTED = 130
    TERMINATED = 143


PERMANENT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EFBIG}
)
"""OS errors that fail the same way on every attempt: full disk or quota, no permission, a
read-only file system, a file over the size limit."""


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code for a failure: permanent if retrying cannot help, transient if it may.

    Permanent: a bad spec or index, a feature whose optional extra is not installed, a design
    that cannot be analysed as asked, a simulation parameter or record error (runs are
    deterministic), a permanent storage error (missing bucket, access denied, bad credentials,
    full disk) and the OS errors in ``PERMANENT_ERRNOS``. Transient: a storage error worth
    retrying (timeouts, 5xx, throttling, refused connections). Anything else: ``FAILURE``,
    which a Job retries up to ``backoffLimitPerIndex``.
    """
    if isinstance(
        exc,
        SpecError
        | TaskError
        | FlagError
        | MissingExtra
        | PermanentStorageError
        | SimulatorError
        | AnalysisError,
    ):
        return ExitCode.PERMANENT
    if isinstance(exc, TransientStorageError | ClusterUnreachable):
        return ExitCode.TRANSIENT
    if isinstance(exc, OSError) and exc.errno in PERMANENT_ERRNOS:
        return ExitCode.PERMANENT
    return ExitCode.FAILURE


__all__ = ["PERMANENT_ERRNOS", "ExitCode", "exit_code_for"]
