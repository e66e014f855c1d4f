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
from collections.abc import Sequence

from sweep_controller import commands
from sweep_controller.errors import SweepError
from sweep_controller.exit_codes import ExitCode, exit_code_for

PROG = "sweepctl"


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
        return ExitCode.USAGE
    try:
        return int(handler(args))
    except SweepError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exit_code_for(exc)
    except BrokenPipeError:
        # The reader went away (``sweepctl expand ... | head``): not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
