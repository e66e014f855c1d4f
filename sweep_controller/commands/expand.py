"""``sweepctl expand SPEC``: list a sweep's runs (task, run, point, replicate, seed, values).

An adaptive sweep (``method: optuna``) lists round 0, the one round whose points depend on the spec
alone; the later rounds are planned from results (``--task`` of a later round is an error).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator

from sweep_controller.commands.arguments import int_in
from sweep_controller.spec.expand import RunSpec, SweepPlan, SweptValue
from sweep_controller.spec.loading import load_sweep
from sweep_controller.spec.models import Method
from sweep_controller.spec.parameters import PARAM_KINDS, ParamKind


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``expand`` subcommand."""
    parser = subparsers.add_parser(
        "expand",
        help="list the runs of a sweep in task order",
        description="List the runs of a sweep (or of one task) in the order tasks perform them.",
    )
    parser.add_argument("spec", metavar="SPEC", help="sweep YAML file")
    parser.add_argument("--format", choices=("table", "jsonl"), default="table")
    parser.add_argument("--limit", type=int_in(0), metavar="N", help="print at most N runs")
    parser.add_argument("--task", type=int_in(0), metavar="I", help="only the runs of task I")
    parser.set_defaults(handler=run)


def _cell(value: SweptValue) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def table_lines(plan: SweepPlan, rows: Iterator[tuple[int, RunSpec]]) -> Iterator[str]:
    """Fixed-width table lines (header first) for (position, run) pairs, streamed."""
    widths = {
        "task": len(str(plan.n_tasks - 1)),
        "run": len(str(plan.n_runs - 1)),
        "point": len(str(plan.n_points - 1)),
        "replicate": len(str(plan.replicates - 1)),
        "seed": 19,
    }
    for name in plan.swept_names:
        wide = 24 if PARAM_KINDS[name] is ParamKind.CHOICE else 12
        widths[name] = wide
    widths = {key: max(width, len(key)) for key, width in widths.items()}
    yield "  ".join(key.rjust(width) for key, width in widths.items()).rstrip()
    for position, spec in rows:
        cells = [
            str(plan.task_of_position(position)),
            str(spec.run_index),
            str(spec.point_index),
            str(spec.replicate),
            str(spec.seed),
            *(_cell(spec.swept[name]) for name in plan.swept_names),
        ]
        yield "  ".join(
            cell.rjust(width) for cell, width in zip(cells, widths.values(), strict=True)
        ).rstrip()


def jsonl_lines(plan: SweepPlan, rows: Iterator[tuple[int, RunSpec]]) -> Iterator[str]:
    """One JSON object per run: task, position, indexes, seed, swept values and full params."""
    for position, spec in rows:
        yield json.dumps(
            {
                "task": plan.task_of_position(position),
                "position": position,
                "run_index": spec.run_index,
                "point_index": spec.point_index,
                "replicate": spec.replicate,
                "seed": spec.seed,
                "swept": spec.swept,
                "params": spec.params.model_dump(mode="json"),
            },
            separators=(",", ":"),
        )


def run(args: argparse.Namespace) -> int:
    """Print the runs, lazily, so huge sweeps stream."""
    sweep = load_sweep(args.spec)
    plan = SweepPlan(sweep)
    if args.task is not None:
        positions = plan.task_positions(args.task)
        start, stop = positions.start, positions.stop
    elif sweep.spec.method is Method.OPTUNA:
        start, stop = 0, plan.points_per_round * plan.replicates
        print(
            f"sweepctl expand: {sweep.name} is adaptive (method optuna): round 0 of "
            f"{plan.n_rounds}; the later rounds are planned from its results",
            file=sys.stderr,
        )
    else:
        start, stop = 0, plan.n_runs
    if args.limit is not None:
        stop = min(stop, start + args.limit)
    if start < stop:
        plan.run(plan.run_indexes(start, start + 1)[0])  # an unknown point fails before any output
    rows = enumerate(plan.iter_runs(start, stop), start)
    lines = table_lines(plan, rows) if args.format == "table" else jsonl_lines(plan, rows)
    for line in lines:
        print(line)
    return 0
