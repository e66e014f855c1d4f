"""``sweepctl``: the sweep command line (validate, expand, and the subcommands other modules add).

Subcommands live in ``sweep_controller.commands``, one module each, found at start-up. The CLI
catches only the project's own errors and prints them as ``sweepctl: error: MESSAGE``; the exit
code tells a bad input (2, permanent: do not retry) from a transient failure (75, EX_TEMPFAIL).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Callable, Sequence

from sweep_controller import commands
from sweep_controller.errors import (
    SpecError,
    SweepError,
    TaskError,
    TransientStorageError,
)

PROG = "sweepctl"
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_TRANSIENT = 75


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for integers in ``[low, high]`` (``high`` None: no upper bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            upper = "inf)" if high is None else f"{high}]"
            raise argparse.ArgumentTypeError(f"{value} is outside [{low}, {upper}")
        return value

    return parse


def exit_code(exc: SweepError) -> int:
    """The process exit code for one of our errors: 2 bad input, 75 retryable, 1 otherwise."""
    if isinstance(exc, (SpecError, TaskError)):
        return EXIT_USAGE
    if isinstance(exc, TransientStorageError):
        return EXIT_TRANSIENT
    return EXIT_FAILURE


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand module in ``sweep_controller.commands``."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Define, expand and run parameter sweeps of the simulator."
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sweepctl``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(handler(args))
    except SweepError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exit_code(exc)
    except BrokenPipeError:
        # The reader went away (``sweepctl expand ... | head``): not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
