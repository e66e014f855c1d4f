"""``sweepctl collect SPEC --out FILE``: every run of a sweep as one row, in Parquet or CSV.

Tasks that are not done yet are left out with a warning (``--require-complete`` makes that an
error, exit 1); a task whose JSONL does not match its manifest is an error naming its key; no
task done is an error naming where the results were looked for (exit 1, nothing written). An
existing ``--out`` file is replaced (atomically); a directory, or a place that cannot be written,
is an error (exit 2) before anything is read.
"""

from __future__ import annotations

import argparse
import sys

from sweep_controller.analysis.results import collect, write_table
from sweep_controller.commands.arguments import (
    add_spec_and_output,
    cannot_write,
    local_sweep,
    output_file,
)
from sweep_controller.exit_codes import ExitCode


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``collect`` subcommand."""
    parser = subparsers.add_parser(
        "collect",
        help="one table of every run (parameters and outcomes), Parquet or CSV",
        description="Read and verify every finished task of a sweep and write one row per run: "
        "indexes, seed, the swept parameters and the outcomes.",
    )
    add_collect_arguments(parser, out_metavar="FILE", out_help="output .parquet or .csv")
    parser.set_defaults(handler=run)


def add_collect_arguments(
    parser: argparse.ArgumentParser, *, out_metavar: str, out_help: str
) -> None:
    """Add SPEC, ``--output``, ``--out`` and ``--require-complete`` (``collect``, ``report``)."""
    add_spec_and_output(parser)
    parser.add_argument("--out", required=True, metavar=out_metavar, help=out_help)
    parser.add_argument(
        "--require-complete",
        action="store_true",
        help="fail (exit 1) instead of warning when some tasks are not done",
    )


def _warn(message: str) -> None:
    print(f"sweepctl collect: warning: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Collect and write the table."""
    out = output_file("--out", args.out, (".parquet", ".csv"))
    sweep = local_sweep(args)
    collected = collect(sweep, require_complete=args.require_complete, warn=_warn)
    try:
        path = write_table(collected, out)
    except OSError as exc:
        raise cannot_write("--out", exc) from None
    print(
        f"sweepctl collect: {collected.n_rows} runs from {len(collected.tasks_read)} of "
        f"{sweep.spec.n_tasks} tasks -> {path}",
        file=sys.stderr,
    )
    return ExitCode.OK
