"""``sweepctl run SPEC``: run a whole sweep locally in a process pool, resumably, with progress.

An adaptive sweep (``method: optuna``) runs round after round (``execution.adaptive``); each round
shows its own progress, and the end prints the best point (and the boundary, for a target).

Exit codes: 0 every task done (or failures within ``maxFailedIndexes``), 1 too many failed tasks,
2 bad spec, an output prefix that belongs to another sweep or a store that refuses us (missing
bucket, access denied), 75 the store is unreachable, 130/143 stopped by Ctrl-C/SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from sweep_controller.commands.arguments import (
    add_metrics_address,
    add_set_flag,
    add_spec_and_output,
    int_in,
    local_sweep,
)
from sweep_controller.execution.adaptive import SearchSummary, run_search
from sweep_controller.execution.pool import default_workers
from sweep_controller.execution.runner import RunSummary, run_sweep
from sweep_controller.exit_codes import ExitCode
from sweep_controller.extras import require
from sweep_controller.metrics.config import resolve_pushgateway_url
from sweep_controller.spec.models import Method, Sweep
from sweep_controller.spec.search import Answer, describe_point


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``run`` subcommand."""
    parser = subparsers.add_parser(
        "run",
        help="run every unfinished task of a sweep locally (resumable)",
        description="Run every task of a sweep that is not done yet in a local process pool. "
        "Finished tasks are kept, so running the same command again resumes the sweep.",
    )
    add_spec_and_output(parser)
    add_set_flag(parser)
    parser.add_argument(
        "--workers",
        type=int_in(1),
        metavar="N",
        help=f"processes (default: all cores, here {default_workers()}); 1 runs in-process",
    )
    parser.add_argument(
        "--pushgateway",
        metavar="URL",
        help="tasks push metrics here (default: $PUSHGATEWAY_URL; unset: off)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int_in(0, 65535),
        metavar="P",
        help="serve the runner's /metrics on this port (default: off)",
    )
    add_metrics_address(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def summary_lines(summary: RunSummary) -> list[str]:
    """What ``sweepctl run`` prints when it ends."""
    p = "sweepctl run:"
    done = summary.done_before + len(summary.completed)
    rate = summary.runs_simulated / summary.wall_seconds if summary.wall_seconds > 0 else 0.0
    lines = [
        f"{p} {summary.sweep}: {done}/{summary.n_tasks} tasks done: {len(summary.ran)} by this "
        f"run, {len(summary.done_by_others)} by others meanwhile, {summary.done_before} before "
        f"it; {summary.runs_done}/{summary.n_runs} runs; simulated {summary.runs_simulated} "
        f"runs in {summary.wall_seconds:.1f} s ({rate:.0f} runs/s)",
    ]
    if summary.runs_reused:
        lines.append(
            f"{p} {summary.runs_reused} runs reused from an earlier plan of this sweep "
            "(copied, not simulated)"
        )
    if summary.runs_resumed:
        lines.append(
            f"{p} {summary.runs_resumed} runs of unfinished tasks were kept by their "
            "checkpoints and not simulated again"
        )
    if summary.held_seen:
        lines.append(
            f"{p} {summary.held_seen} task(s) were held by other processes when this run got "
            "to them; it came back to each until its holder finished or let go"
        )
    if summary.failed:
        budget = (
            "unset: any failure fails the sweep"
            if summary.max_failed is None
            else f"{summary.max_failed} tolerated"
        )
        verdict = "exceeds" if summary.budget_exceeded else "within"
        lines.append(
            f"{p} {len(summary.failed)} task(s) failed, {verdict} maxFailedIndexes ({budget}):"
        )
        lines += [f"  task {a.index}: exit {a.exit_code}: {a.error}" for a in summary.failed]
    if summary.not_started:
        if summary.interrupted_by:
            why = f"stopped by {summary.interrupted_by}"
        elif summary.store_unreachable is not None:
            why = "the store is unreachable"
        else:
            why = "the failure budget was exceeded or a pool process died"
        lines.append(f"{p} {summary.not_started} task(s) not finished ({why})")
    if summary.failed or summary.not_started:
        lines.append(f"{p} run the same command again to resume; done tasks are kept")
    lines.append(f"{p} results: {summary.uri}")
    return lines


def answer_lines(sweep: Sweep, answer: Answer, *, prefix: str = "sweepctl run:") -> list[str]:
    """The best point of an adaptive sweep, and the boundary for a target."""
    spec = sweep.spec
    objective = spec.objective
    assert objective is not None
    ppr = spec.points_per_round or 1
    if answer.best is None or answer.best.value is None:
        return [f"{prefix} no point has a value of {objective.outcome} yet"]
    best = answer.best
    goal = (
        f"target {objective.target:g}" if objective.target is not None else str(objective.direction)
    )
    lines = [
        f"{prefix} best: {describe_point(best.params)} (point {best.point_index}, round "
        f"{best.point_index // ppr}): mean {objective.outcome} {best.value:.4g} over "
        f"{best.runs} runs ({goal}; {answer.evaluated} points evaluated)"
    ]
    if objective.target is not None:
        bound = answer.boundary
        if bound is None:
            lines.append(
                f"{prefix} boundary: none found: the fitted mean {objective.outcome} does not "
                f"cross {objective.target:g} over the evaluated points"
                if len(spec.parameters) == 1
                else f"{prefix} boundary: read along one swept parameter only (this sweep has "
                f"{len(spec.parameters)})"
            )
        else:
            lines.append(
                f"{prefix} boundary: mean {objective.outcome} crosses {objective.target:g} at "
                f"{bound.parameter} ~ {bound.estimate:.6g} (between evaluated values "
                f"{bound.low:.6g} and {bound.high:.6g}; monotone fit)"
            )
    return lines


def search_lines(sweep: Sweep, summary: SearchSummary) -> list[str]:
    """What ``sweepctl run`` prints when an adaptive sweep ends or stops."""
    p = "sweepctl run:"
    lines = []
    if summary.rounds and summary.exit_code != ExitCode.OK:
        lines += summary_lines(summary.rounds[-1])
    done = len(summary.rounds) if summary.exit_code == ExitCode.OK else len(summary.rounds) - 1
    simulated = sum(r.runs_simulated for r in summary.rounds)
    seconds = sum(r.wall_seconds for r in summary.rounds)
    lines.append(
        f"{p} {sweep.name}: {done}/{summary.n_rounds} rounds done; simulated {simulated} runs "
        f"in {seconds:.1f} s"
    )
    lines += answer_lines(sweep, summary.answer)
    if summary.finished:
        lines.append(f"{p} results: {summary.rounds[-1].uri}")
    return lines


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def run(args: argparse.Namespace) -> int:
    """Run the sweep and print a summary; returns the exit code."""
    sweep = local_sweep(args)
    logging.basicConfig(level=logging.WARNING, format="sweepctl run: %(message)s")
    # A storage retry is not worth a line on the terminal (one line per task at most; metrics
    # count retries): what the retries could not fix reaches the task's failure line.
    logging.getLogger("sweep_controller.store.retry").setLevel(logging.ERROR)
    metrics = None
    server = None
    pushgateway_url = resolve_pushgateway_url(args.pushgateway, os.environ)
    if pushgateway_url is not None:
        require("--pushgateway (or $PUSHGATEWAY_URL)", "metrics")
    if args.metrics_port is not None:
        require("--metrics-port", "metrics")
        from prometheus_client import CollectorRegistry

        from sweep_controller.metrics import RunnerMetrics, serve_metrics

        registry = CollectorRegistry()
        metrics = RunnerMetrics(registry)
        try:
            server = serve_metrics(registry, args.metrics_port, addr=args.metrics_address)
        except OSError as exc:
            print(
                f"sweepctl: error: --metrics-port: cannot listen on "
                f"{_host(args.metrics_address)}:{args.metrics_port}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return ExitCode.USAGE
        url = f"http://{_host(args.metrics_address)}:{server.port}/metrics"
        print(f"sweepctl run: metrics on {url}", file=sys.stderr)
    options: dict[str, Any] = {
        "workers": args.workers,
        "pushgateway_url": pushgateway_url,
        "metrics": metrics,
        "progress": not args.no_progress,
    }
    try:
        if sweep.spec.method is Method.OPTUNA:
            return _run_search(sweep, options)
        summary = run_sweep(sweep, **options)
    except KeyboardInterrupt:  # a second Ctrl-C: abort without waiting for the tasks
        print("\nsweepctl run: aborted; run the same command again to resume", file=sys.stderr)
        return ExitCode.INTERRUPTED
    finally:
        if server is not None:
            server.close()
    for line in summary_lines(summary):
        print(line, file=sys.stderr)
    return summary.exit_code


def _run_search(sweep: Sweep, options: dict[str, Any]) -> int:
    """Run an adaptive sweep round by round, with the best point so far after each round."""
    rounds = sweep.spec.rounds

    def after(k: int, answer: Answer) -> None:
        for line in answer_lines(sweep, answer, prefix=f"sweepctl run: round {k} (of {rounds}):"):
            print(line, file=sys.stderr, flush=True)

    summary = run_search(sweep, on_round=after, **options)
    for line in search_lines(sweep, summary):
        print(line, file=sys.stderr)
    return summary.exit_code
