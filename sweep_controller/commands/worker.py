"""``sweepctl worker SPEC [--index I]``: run one task of a sweep, as one Kubernetes Job index does.

The index comes from ``--index`` or else ``JOB_COMPLETION_INDEX`` (set by an Indexed Job). With
``--round K`` (an adaptive sweep's round Job) the index counts within round K: the task is
``K * tasks_per_round + index``. With a Pushgateway, the task's metrics go out under a metric
slot of the sweep, claimed from ``index mod GOVSIM_PARALLELISM`` on (unset: 1), and carried on
within the Job ``GOVSIM_JOB_UID`` names (both set in a Job's pods; see docs/observability.md).
The exit code tells the Job's podFailurePolicy what to do: 0 done
or already done, 2 permanent (do not retry), 75 transient storage failure, 143 stopped by SIGTERM,
1 other failure.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping

from sweep_controller.commands.arguments import add_spec_and_output, int_in, local_sweep
from sweep_controller.env import INDEX_ENV, JOB_UID_ENV, NAMESPACE_ENV, PARALLELISM_ENV
from sweep_controller.errors import TaskError
from sweep_controller.execution.layout import sweep_uri
from sweep_controller.execution.worker import TaskContext, Termination, execute_task
from sweep_controller.extras import require
from sweep_controller.metrics.config import resolve_pushgateway_url
from sweep_controller.outcomes import TaskOutcome
from sweep_controller.spec.models import Method, Sweep


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``worker`` subcommand."""
    parser = subparsers.add_parser(
        "worker",
        help="run one task of a sweep (one Job index) and upload its results",
        description="Run one task of a sweep, validate its records and upload them atomically. "
        f"The index defaults to ${INDEX_ENV}.",
    )
    add_spec_and_output(parser)
    parser.add_argument("--index", metavar="I", help=f"task index (default: ${INDEX_ENV})")
    parser.add_argument(
        "--round",
        metavar="K",
        type=int_in(0),
        help="method optuna: the round this task belongs to; the index then counts within it "
        "(what the controller's round Jobs pass)",
    )
    parser.add_argument(
        "--pushgateway",
        metavar="URL",
        help="push task metrics to this Pushgateway (default: $PUSHGATEWAY_URL; unset: off), "
        f"labelled with the namespace in ${NAMESPACE_ENV} (unset: none), under a metric slot "
        f"claimed from index mod ${PARALLELISM_ENV} (unset: 1)",
    )
    parser.set_defaults(handler=run)


def resolve_index(flag: str | None, environ: Mapping[str, str]) -> int:
    """The task index from ``--index`` or ``JOB_COMPLETION_INDEX``; ``TaskError`` if neither."""
    if flag is not None:
        source, raw = "--index", flag
    elif environ.get(INDEX_ENV, "").strip():
        source, raw = INDEX_ENV, environ[INDEX_ENV].strip()
    else:
        raise TaskError(f"--index: not given and {INDEX_ENV} is not set")
    return _integer(source, raw, lowest=0)


def _integer(source: str, raw: str, *, lowest: int) -> int:
    """``raw`` as an integer of at least ``lowest``; ``TaskError`` naming ``source`` if not."""
    try:
        value = int(raw)
    except ValueError:
        raise TaskError(f"{source}: {raw!r} is not an integer") from None
    if value < lowest:
        raise TaskError(f"{source}: {value} is outside [{lowest}, inf)")
    return value


def in_round(sweep: Sweep, round_index: int | None, index: int) -> int:
    """The sweep's task index of task ``index`` of round ``round_index`` (None: ``index``)."""
    if round_index is None:
        return index
    spec = sweep.spec
    if spec.method is not Method.OPTUNA:
        raise TaskError(f"--round: only for sweeps of method optuna, not {spec.method}")
    rounds = spec.rounds or 0
    if round_index >= rounds:
        raise TaskError(f"--round: {round_index} is outside [0, {rounds - 1}]")
    if index >= spec.tasks_per_round:
        raise TaskError(
            f"index {index} is outside [0, {spec.tasks_per_round - 1}] (a round of sweep "
            f"{sweep.name} has {spec.tasks_per_round} tasks)"
        )
    return round_index * spec.tasks_per_round + index


def resolve_parallelism(environ: Mapping[str, str]) -> int:
    """The Job's parallelism from ``GOVSIM_PARALLELISM`` (1 when unset); ``TaskError`` if bad."""
    raw = environ.get(PARALLELISM_ENV, "").strip()
    if not raw:
        return 1
    return _integer(PARALLELISM_ENV, raw, lowest=1)


def run(args: argparse.Namespace) -> int:
    """Run the task and return its exit code."""
    index = resolve_index(args.index, os.environ)
    parallelism = resolve_parallelism(os.environ)
    sweep = local_sweep(args)
    index = in_round(sweep, args.round, index)
    logging.basicConfig(
        level=logging.INFO, format=f"sweepctl worker {index}: %(message)s", stream=sys.stderr
    )
    stop = Termination().install()
    ctx = TaskContext.open(sweep)
    n_runs = len(ctx.plan.task_positions(index))  # TaskError (exit 2) when out of range
    print(
        f"sweepctl worker {index}: sweep {sweep.name}: task {index} of {ctx.plan.n_tasks} "
        f"({n_runs} runs) -> {sweep_uri(ctx.store, sweep.name)}",
        file=sys.stderr,
        flush=True,
    )
    pushgateway_url = resolve_pushgateway_url(args.pushgateway, os.environ)
    if pushgateway_url is not None:
        require("--pushgateway (or $PUSHGATEWAY_URL)", "metrics")
    attempt = execute_task(
        ctx,
        index,
        pushgateway_url=pushgateway_url,
        namespace=os.environ.get(NAMESPACE_ENV, "").strip(),
        parallelism=parallelism,
        job_uid=os.environ.get(JOB_UID_ENV, "").strip(),
        should_stop=stop,
    )
    prefix = f"sweepctl worker {index}:"
    if attempt.outcome is TaskOutcome.SKIPPED:
        print(f"{prefix} already done ({attempt.records} runs); skipped", file=sys.stderr)
    elif attempt.outcome is TaskOutcome.SUCCEEDED:
        print(
            f"{prefix} wrote {attempt.records} runs ({attempt.bytes_written} bytes) "
            f"in {attempt.duration_seconds:.2f} s",
            file=sys.stderr,
        )
    elif attempt.outcome is TaskOutcome.INTERRUPTED:
        print(f"{prefix} stopped: {attempt.error}", file=sys.stderr)
    else:
        print(f"sweepctl: error: {attempt.error}", file=sys.stderr)
    return attempt.exit_code
