"""The process exit codes of every command, the worker and the Job's podFailurePolicy.

One vocabulary: ``sweepctl`` subcommands, the local runner and the Kubernetes worker all exit
with these, and the Job builder matches ``PERMANENT`` in its podFailurePolicy so a bad spec fails
its index at once instead of being retried. Dependency-free on purpose: the pure Kubernetes object
builders import it without loading any client library.
"""

from __future__ import annotations

from enum import IntEnum

from sweep_controller.errors import (
    FlagError,
    SpecError,
    SweepError,
    TaskError,
    TransientStorageError,
)


class ExitCode(IntEnum):
    """Why a process ended; ``PERMANENT`` is the same code as ``USAGE`` (do not retry)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    PERMANENT = 2
    TRANSIENT = 75
    INTERRUPTED = 130
    TERMINATED = 143


def exit_code_for(exc: SweepError) -> ExitCode:
    """The exit code for one of our errors: permanent for bad input, transient if retryable."""
    if isinstance(exc, (SpecError, TaskError, FlagError)):
        return ExitCode.PERMANENT
    if isinstance(exc, TransientStorageError):
        return ExitCode.TRANSIENT
    return ExitCode.FAILURE


__all__ = ["ExitCode", "exit_code_for"]
