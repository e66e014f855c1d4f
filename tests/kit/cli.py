"""Our command-line programs as subprocesses, run the way a user runs them.

`sweepctl` and `govsim` are run as `python -m PACKAGE` with this interpreter (the venv's), from
the repository root unless told otherwise; output is captured as text and the finished process
returned, whatever its exit code, so the test asserts on it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from kit.paths import REPO

__all__ = ["govsim", "python_module", "start_sweepctl", "sweepctl", "sweepctl_process"]


def _argv(module: str, args: tuple[str | Path, ...]) -> list[str]:
    return [sys.executable, "-m", module, *map(str, args)]


def python_module(
    module: str,
    *args: str | Path,
    cwd: Path | None = REPO,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m MODULE ARGS`` to the end; capture its output (never raises on exit code)."""
    return subprocess.run(
        _argv(module, args),
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(os.environ if env is None else env),
        timeout=timeout,
        check=False,
    )


def sweepctl(
    *args: str | Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
    cwd: Path = REPO,
) -> subprocess.CompletedProcess[str]:
    """Run ``sweepctl ARGS`` as a user would (a subprocess); capture its output."""
    return python_module("sweep_controller", *args, cwd=cwd, env=env, timeout=timeout)


def govsim(
    *args: str | Path, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``govsim ARGS`` (one simulation) as a user would; capture its output."""
    return python_module("simulator", *args, cwd=cwd, timeout=timeout)


def start_sweepctl(
    *args: str | Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start ``sweepctl ARGS`` in its own session (so a test can signal its process group)."""
    return subprocess.Popen(
        _argv("sweep_controller", args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=dict(os.environ if env is None else env),
        start_new_session=True,
    )


@contextlib.contextmanager
def sweepctl_process(*args: str | Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``sweepctl ARGS`` running in the background (output to ``log``); killed if still alive."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            _argv("sweep_controller", args),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,  # its pool processes share its group: one kill stops all
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
