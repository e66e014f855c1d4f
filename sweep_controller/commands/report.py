"""``sweepctl report SPEC --out DIR``: PNG plots and index pages (HTML and Markdown) of a sweep.

Reads the finished tasks from the store exactly as ``collect`` does (missing tasks are warned
about and left out; ``--require-complete`` makes that an error), then writes the figures,
``index.html`` and ``index.md`` into DIR. DIR is created if missing; in an existing one, files of
the same names are replaced. A DIR that is a file, or cannot be written, is an error (exit 2)
before anything is read.
"""

from __future__ import annotations

import argparse
import sys

from sweep_controller.analysis.report import write_report
from sweep_controller.analysis.results import collect
from sweep_controller.commands.arguments import cannot_write, local_sweep, output_dir
from sweep_controller.commands.collect import add_collect_arguments
from sweep_controller.exit_codes import ExitCode


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``report`` subcommand."""
    parser = subparsers.add_parser(
        "report",
        help="plots and an index page of a sweep's results",
        description="Plot every outcome against every swept parameter (95% intervals across "
        "replicates), heatmaps for grids, a sensitivity ranking, and index pages.",
    )
    add_collect_arguments(parser, out_metavar="DIR", out_help="directory for the report")
    parser.set_defaults(handler=run)


def _say(message: str) -> None:
    print(f"sweepctl report: {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Collect, plot, and print where the report is."""
    out = output_dir("--out", args.out)
    sweep = local_sweep(args)
    collected = collect(
        sweep, require_complete=args.require_complete, warn=lambda m: _say(f"warning: {m}")
    )
    _say(f"{collected.n_rows} runs from {len(collected.tasks_read)} of {sweep.spec.n_tasks} tasks")
    try:
        files = write_report(collected, out, log=_say)
    except OSError as exc:
        raise cannot_write("--out", exc) from None
    _say(f"wrote {len(files.images)} plots, index.html and index.md to {files.out_dir}")
    print(files.index_html)
    return ExitCode.OK
