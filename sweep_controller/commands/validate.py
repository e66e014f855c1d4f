"""``sweepctl validate SPEC``: check a sweep spec and print its size before anything runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sweep_controller.commands.arguments import add_set_flag, print_warnings
from sweep_controller.exit_codes import ExitCode
from sweep_controller.k8s.config import DEFAULT_RESOURCES
from sweep_controller.k8s.objects import SweepTooLarge, check_job_size
from sweep_controller.spec.location import absolute_output, spec_folder
from sweep_controller.spec.models import Design, Method, Sweep, spec_hash
from sweep_controller.spec.overrides import load_overridden
from sweep_controller.spec.parameters import ParameterSpec, Scale, fmt_value
from sweep_controller.spec.sizing import (
    TaskSize,
    estimate_task,
    format_bytes,
    format_seconds,
    memory_limit_bytes,
    sizing_warnings,
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``validate`` subcommand."""
    parser = subparsers.add_parser(
        "validate",
        help="check a sweep spec and print its size",
        description="Check a sweep spec and print points, replicates, runs and tasks.",
    )
    parser.add_argument("spec", metavar="SPEC", help="sweep YAML file")
    add_set_flag(parser)
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when there is a warning (task size, memory, too many tasks)",
    )
    parser.add_argument(
        "--memory-limit",
        metavar="QUANTITY",
        default=DEFAULT_RESOURCES["limits"]["memory"],
        help="worker memory limit to check tasks against (default: the chart's, %(default)s)",
    )
    parser.set_defaults(handler=run)


def describe_parameter(param: ParameterSpec, *, grid: bool) -> str:
    """One phrase describing how a parameter varies."""
    if param.values is not None:
        shown = ", ".join(v if isinstance(v, str) else fmt_value(v) for v in param.values)
        return f"{'values' if grid else 'choices'} {shown}"
    span = f"{fmt_value(param.min)} to {fmt_value(param.max)}"
    scale = "" if param.scale is Scale.LINEAR else ", log scale"
    if grid:
        return f"{param.steps} steps from {span}{scale}"
    return f"sampled from {span}{scale}"


def size_summary(sweep: Sweep, spec_path: str | Path | None = None) -> list[str]:
    """The lines ``validate`` prints for a valid sweep."""
    spec = sweep.spec
    grid = spec.method is Method.GRID
    lines = [f"sweep: {sweep.name}", f"method: {spec.method}"]
    if spec.parameters:
        lines.append("parameters:")
        lines += [
            f"  {name}: {describe_parameter(p, grid=grid)}" for name, p in spec.parameters.items()
        ]
    else:
        lines.append("parameters: none (replicates of one point)")
    lines += [f"zip: {' + '.join(group)}" for group in spec.zip]
    if spec.samples is not None:
        lines.append(f"samples: {spec.samples}")
    if spec.design is not Design.PLAIN:
        dims = len(spec.axes())
        lines.append(f"design: {spec.design} ({spec.samples} base samples x ({dims} + 2) points)")
    if spec.objective is not None:
        goal = spec.objective.direction or f"target {spec.objective.target:g}"
        lines.append(f"objective: mean {spec.objective.outcome} over replicates, {goal}")
        lines.append(
            f"rounds: {spec.rounds} of {spec.points_per_round} points, {spec.tasks_per_round} "
            "tasks each (one Job a round on Kubernetes)"
        )
    lines += [
        f"points: {spec.n_points}",
        f"replicates: {spec.replicates}",
        f"runs: {spec.n_runs}",
        f"tasks: {spec.n_tasks} ({spec.runs_per_task} runs per task)",
        f"order: {spec.order}",
        f"seed: {spec.seed}",
        f"output: {_output(spec.output.uri, spec_path)}",
        f"spec hash: {spec_hash(sweep)}",
    ]
    return lines


def _output(uri: str, spec_path: str | Path | None) -> str:
    """The output URI, and where local commands put it when that differs (a relative path)."""
    if spec_path is None:
        return uri
    local = absolute_output(uri, spec_folder(spec_path))
    return uri if local == uri else f"{uri} (local commands: {local})"


def size_estimate(size: TaskSize) -> list[str]:
    """The lines ``validate`` prints about the estimated work and memory of a task."""
    return [
        f"work per task: ~{format_seconds(size.task_seconds)} ({size.runs_per_task} runs of "
        f"~{format_seconds(size.mean_run_seconds)}; up to "
        f"~{format_seconds(size.longest_task_seconds)})",
        f"memory per task: ~{format_bytes(size.task_bytes)}",
    ]


def run(args: argparse.Namespace) -> int:
    """Validate the spec, print its summary and estimates, and warn about its task size."""
    sweep = load_overridden(args.spec, args.overrides)
    limit = memory_limit_bytes({"limits": {"memory": args.memory_limit}})
    if limit is None:
        print(
            f"sweepctl: error: --memory-limit: {args.memory_limit!r} is not a memory quantity "
            "(for example 2Gi, 512Mi, 4G)",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    size = estimate_task(sweep)
    print("\n".join(size_summary(sweep, args.spec) + size_estimate(size)))
    warnings = sizing_warnings(size, memory_limit_bytes=limit)
    try:
        check_job_size(sweep)
    except SweepTooLarge as exc:
        # Runs locally, but the controller refuses it: one Job takes a bounded number of indexes.
        warnings.append(f"too large for Kubernetes: {exc}")
    print_warnings(warnings)
    return ExitCode.FAILURE if warnings and args.strict else ExitCode.OK
