"""``sweepctl``: the sweep command line (validate, expand, and the subcommands other modules add).

Subcommands live in ``sweep_controller.commands``, one module each, found at start-up. The CLI
catches the project's own errors, and OS errors of the local files it reads and writes (a full
disk), and prints them as ``sweepctl: error: MESSAGE``; the exit code tells a bad input or another
deterministic failure (2, permanent: do not retry) from a transient failure (75, EX_TEMPFAIL);
Ctrl-C is ``sweepctl: interrupted`` and 130.
A deprecated spec key is one line, ``sweepctl: warning: FILE: spec.KEY is deprecated; ...``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn, TextIO

import simulator
from simulator.messages import flag_hint
from sweep_controller import commands
from sweep_controller.errors import SpecDeprecationWarning, SweepError
from sweep_controller.exit_codes import ExitCode, exit_code_for

PROG = "sweepctl"
INTERNAL_COMMANDS = ("controller", "worker")
"""Subcommands the cluster's pods run (the controller Deployment, the Job's worker pods); the
help lists them apart from the commands a user types."""


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad flag reported on one line (``PROG: error: ...``) without the usage."""

    def error(self, message: str) -> NoReturn:
        hint = flag_hint(self, message)
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message}{hint} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand module in ``sweep_controller.commands``."""
    parser = _Parser(
        prog=PROG, description="Define, expand and run parameter sweeps of the simulator."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {simulator.__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(subparsers)
    _list_apart(parser, subparsers)
    return parser


def _list_apart(
    parser: argparse.ArgumentParser, subparsers: argparse._SubParsersAction[Any]
) -> None:
    """Show ``INTERNAL_COMMANDS`` under their own heading in ``--help`` (they work as before)."""
    internal = parser.add_argument_group(
        "internal commands",
        "the cluster's pods run these (the controller Deployment, the Job's workers)",
    )
    for line in list(subparsers._choices_actions):
        if line.dest in INTERNAL_COMMANDS:
            subparsers._choices_actions.remove(line)
            internal._group_actions.append(line)


@contextmanager
def spec_warnings_as_lines() -> Iterator[None]:
    """Within the block, show each distinct ``SpecDeprecationWarning`` once, as one stderr line."""
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> Any:
            if issubclass(category, SpecDeprecationWarning):
                print(f"{PROG}: warning: {message}", file=sys.stderr)
                return None
            return shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        warnings.simplefilter("default", SpecDeprecationWarning)
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sweepctl``; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad flag (one line already printed)
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    try:
        with spec_warnings_as_lines():
            return int(handler(args))
    except SweepError as exc:  # one line per problem (a spec reports all of its errors at once)
        for line in str(exc).splitlines() or [""]:
            print(f"{PROG}: error: {line}", file=sys.stderr)
        return exit_code_for(exc)
    except BrokenPipeError:
        # The reader went away (``sweepctl expand ... | head``): not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.OK
    except OSError as exc:  # a local file we write or read (--out, a report): full disk, ...
        where = f"{exc.filename}: " if exc.filename is not None else ""
        print(f"{PROG}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return exit_code_for(exc)
    except KeyboardInterrupt:  # Ctrl-C in any command that does not handle it itself
        print(f"{PROG}: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
