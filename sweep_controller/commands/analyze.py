"""``sweepctl analyze SPEC``: Sobol indices of every outcome of a sampled sweep, with intervals.

Checks that the sweep's design allows the analysis (a sampled method, enough samples) before it
reads anything, then reads the finished tasks as ``collect`` does, estimates first-order and
total indices of every outcome (``sweep_controller.analysis.sensitivity``), writes them as
``sobol-indices.csv`` and ``sobol-indices.parquet`` into ``--out`` (atomically; by default the
``sensitivity`` folder beside a local sweep's results) and prints them as a table.
docs/analysis.md says which estimator each design gets.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from sweep_controller.analysis.results import collect
from sweep_controller.analysis.sensitivity import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    SobolIndices,
    check_analysable,
    sobol_indices,
    write_indices,
)
from sweep_controller.commands.arguments import (
    add_spec_and_output,
    cannot_write,
    int_in,
    local_sweep,
    output_dir,
)
from sweep_controller.errors import AnalysisError
from sweep_controller.exit_codes import ExitCode
from sweep_controller.spec.models import Sweep

ESTIMATOR_TEXT = {
    "saltelli": "SALib's Sobol estimator on the Saltelli design",
    "rbd_fast+nearest_neighbour": "RBD-FAST (S1) and nearest neighbours (ST) on the given points",
    "rbd_fast": "RBD-FAST on the given points (S1 only)",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``analyze`` subcommand."""
    parser = subparsers.add_parser(
        "analyze",
        help="Sobol indices (first-order and total) of every outcome, with bootstrap intervals",
        description="Estimate first-order and total Sobol indices of every outcome of a sobol, "
        "latin_hypercube or random sweep, with bootstrap confidence intervals; write them as "
        "CSV and Parquet and print them.",
    )
    add_spec_and_output(parser)
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="directory for sobol-indices.csv and .parquet (default: the folder 'sensitivity' "
        "beside a file:// sweep's results; for s3://, results/NAME/sensitivity here)",
    )
    parser.add_argument(
        "--resamples",
        type=int_in(2, 100_000),
        default=DEFAULT_RESAMPLES,
        metavar="N",
        help=f"bootstrap resamples (default {DEFAULT_RESAMPLES})",
    )
    parser.add_argument(
        "--confidence",
        type=_confidence,
        default=DEFAULT_CONFIDENCE,
        metavar="C",
        help=f"confidence level of the intervals, in (0, 1) (default {DEFAULT_CONFIDENCE})",
    )
    parser.add_argument(
        "--require-complete",
        action="store_true",
        help="fail (exit 1) instead of warning when some tasks are not done",
    )
    parser.set_defaults(handler=run)


def _confidence(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is outside (0, 1)")
    return value


def _say(message: str) -> None:
    print(f"sweepctl analyze: {message}", file=sys.stderr, flush=True)


def default_out(sweep: Sweep) -> Path:
    """Where the indices go without ``--out``: beside the results on files, else here."""
    scheme, _, path = sweep.spec.output.uri.partition("://")
    if scheme == "file":  # absolute: local_sweep resolved it
        return Path(path) / sweep.name / "sensitivity"
    return Path("results") / sweep.name / "sensitivity"


def run(args: argparse.Namespace) -> int:
    """Check the design, collect, estimate, write and print."""
    sweep = local_sweep(args)
    try:
        check_analysable(sweep)
    except AnalysisError as exc:
        raise AnalysisError(f"{args.spec}: {exc}") from None
    out = output_dir("--out", args.out or str(default_out(sweep)))
    collected = collect(
        sweep, require_complete=args.require_complete, warn=lambda m: _say(f"warning: {m}")
    )
    _say(f"{collected.n_rows} runs from {len(collected.tasks_read)} of {sweep.spec.n_tasks} tasks")
    indices = sobol_indices(collected, resamples=args.resamples, confidence=args.confidence)
    try:
        csv_path, parquet_path = write_indices(indices, out)
    except OSError as exc:
        raise cannot_write("--out", exc) from None
    print(format_indices(indices))
    _say(f"wrote {csv_path} and {parquet_path}")
    return ExitCode.OK


def _pm(value: float, conf: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:6.3f} ± {conf:.3f}" if not math.isnan(conf) else f"{value:6.3f}"


def format_indices(indices: SobolIndices) -> str:
    """The indices as a plain-text table: a block of rows per outcome, one row per parameter."""
    first = indices.outcomes[0] if indices.outcomes else None
    level = f"{indices.confidence:.0%}"
    lines = [
        f"Sobol indices of {indices.sweep}: {ESTIMATOR_TEXT[indices.estimator.value]}; "
        f"{first.points if first else 0} points; {level} intervals from {indices.resamples} "
        "bootstrap resamples (estimate ± half-width)",
    ]
    width = max([len("outcome"), *(len(o.outcome) for o in indices.outcomes)])
    pwidth = max([len("parameter"), *(len(p) for p in indices.parameters)])
    head = f"{'outcome':<{width}}  {'parameter':<{pwidth}}  {'S1':<15}  {'ST':<15}  noise"
    lines += [head, "-" * len(head)]
    for entry in indices.outcomes:
        noise = "" if math.isnan(entry.noise_share) else f"{entry.noise_share:.2f}"
        if entry.indices is None:
            lines.append(f"{entry.outcome:<{width}}  n/a: {entry.note}")
            continue
        for j, parameter in enumerate(indices.parameters):
            found = entry.indices
            label = entry.outcome if j == 0 else ""
            s1, st = _pm(found.s1[j], found.s1_conf[j]), _pm(found.st[j], found.st_conf[j])
            lines.append(
                f"{label:<{width}}  {parameter:<{pwidth}}  {s1:<15}  {st:<15}  "
                f"{noise if j == 0 else ''}".rstrip()
            )
    notes = sorted({o.note for o in indices.outcomes if o.indices is not None and o.note})
    lines += [f"note: {note}" for note in notes]
    lines.append(
        "noise: share of the variance of the point means that is replicate noise (seeds); it "
        "lowers every S1 and raises every ST"
    )
    return "\n".join(lines)
