"""``sweepctl watch NAME``: a progress bar from a Sweep's status until it finishes.

The Sweep's status (``tasksDone`` of ``tasksTotal``, ``tasksFailed``) drives a tqdm bar on stderr,
like the local runner's. Changes arrive by the watch API with a field selector on the Sweep's
name; if the watch breaks (a proxy that cuts streams, RBAC without ``watch``), the command polls
with ``get`` instead. It ends when the phase is final and prints the message and the results URI.
The exit code is the phase: 0 Succeeded, 3 Failed; 4 if the Sweep is deleted meanwhile; 124 when
``--timeout`` runs out first.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from sweep_controller.commands.arguments import add_cluster_flags, open_cluster, positive_seconds
from sweep_controller.errors import ClusterError
from sweep_controller.exit_codes import ExitCode
from sweep_controller.k8s.status import TERMINAL_PHASES, Phase, SweepStatus, parse_status

WATCH_SECONDS = 300
"""Longest single watch request; the command watches again after it ends."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``watch`` subcommand."""
    parser = subparsers.add_parser(
        "watch",
        help="a progress bar of a Sweep on the cluster until it finishes",
        description="Follow a Sweep's progress until it finishes; the exit code tells the phase "
        "(0 Succeeded, 3 Failed, 4 deleted, 124 timed out).",
    )
    parser.add_argument("name", metavar="NAME", help="the Sweep's name")
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        metavar="SECONDS",
        help="give up after this long (exit 124)",
    )
    parser.add_argument(
        "--interval",
        type=positive_seconds,
        default=5.0,
        metavar="SECONDS",
        help="how often to poll when the watch API is unavailable (default 5)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_cluster_flags(parser)
    parser.set_defaults(handler=run)


class Progress:
    """The bar: tasks done of total, with the phase and failures beside it."""

    def __init__(self, name: str, *, enabled: bool) -> None:
        out = sys.stderr
        self.shown: tuple[object, ...] = ()
        self.bar: tqdm[Any] = tqdm(
            total=None,
            unit="task",
            desc=name,
            file=out,
            disable=not enabled,
            mininterval=0.2 if out.isatty() else 2.0,
            dynamic_ncols=True,
        )

    def show(self, status: SweepStatus) -> None:
        """Move the bar to the status (nothing to draw if it has not changed)."""
        state = (status.phase, status.tasks_total, status.tasks_done, status.tasks_failed)
        if state == self.shown:
            return
        self.shown = state
        if status.tasks_total is not None and self.bar.total != status.tasks_total:
            self.bar.total = status.tasks_total
        self.bar.n = status.tasks_done or 0
        self.bar.set_postfix_str(
            f"{status.phase or 'no status yet'}, {status.tasks_failed or 0} failed", refresh=False
        )
        self.bar.refresh()

    def close(self) -> None:
        """Leave the bar as it is."""
        self.bar.close()


def summary(namespace: str, name: str, status: SweepStatus) -> list[str]:
    """The lines printed when the sweep has finished."""
    lines = [
        f"sweep {namespace}/{name}: {status.phase}: {status.tasks_done or 0}/"
        f"{status.tasks_total or 0} tasks done, {status.tasks_failed or 0} failed"
    ]
    if status.failed_indexes:
        lines.append(f"failed indexes: {status.failed_indexes}")
    if status.message:
        lines.append(f"message: {status.message}")
    if status.results_uri:
        lines.append(f"results: {status.results_uri}")
    return lines


def follow(
    get: Callable[[], dict[str, Any] | None],
    watch: Callable[[str | None, int], Any],
    show: Callable[[SweepStatus], None],
    *,
    timeout: float | None,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, dict[str, Any] | None]:
    """Follow a Sweep until its phase is final: ``("done" | "gone" | "timeout", last object)``.

    ``watch(resource_version, seconds)`` yields ``(type, object)``; when it raises a
    ``ClusterError`` the rest is followed by calling ``get`` every ``interval`` seconds.
    """
    deadline = None if timeout is None else clock() + timeout
    sweep = get()
    watching = True
    while True:
        if sweep is None:
            return "gone", None
        status = parse_status(sweep.get("status"))
        show(status)
        if status.phase in TERMINAL_PHASES:
            return "done", sweep
        left = math.inf if deadline is None else deadline - clock()
        if left <= 0:
            return "timeout", sweep
        if watching:
            version = (sweep.get("metadata") or {}).get("resourceVersion")
            seconds = WATCH_SECONDS if left > WATCH_SECONDS else max(1, math.ceil(left))
            started = clock()
            try:
                for kind, obj in watch(version, seconds):
                    if kind == "DELETED":
                        return "gone", None
                    sweep = obj
                    status = parse_status(sweep.get("status"))
                    show(status)
                    if status.phase in TERMINAL_PHASES:
                        return "done", sweep
                if clock() - started >= seconds - 1:
                    continue  # the watch ended on time: check the deadline, then watch again
                tqdm.write(
                    "sweepctl: note: the watch ended early; polling instead", file=sys.stderr
                )
                watching = False
            except ClusterError as exc:
                tqdm.write(
                    f"sweepctl: note: the watch broke ({exc}); polling instead", file=sys.stderr
                )
                watching = False
        if deadline is not None and deadline - clock() <= 0:
            return "timeout", sweep
        sleep(interval if deadline is None else max(0.0, min(interval, deadline - clock())))
        sweep = get()


def run(args: argparse.Namespace) -> int:
    """Follow the Sweep; the exit code is its final phase."""
    cluster, namespace = open_cluster(args)
    name = args.name
    cluster.get_sweep(namespace, name)  # one line if it does not exist (or there is no CRD)
    progress = Progress(name, enabled=not args.no_progress)
    try:
        outcome, sweep = follow(
            lambda: cluster.find_sweep(namespace, name),
            lambda version, seconds: cluster.watch_sweep(
                namespace, name, resource_version=version, seconds=seconds
            ),
            progress.show,
            timeout=args.timeout,
            interval=args.interval,
        )
    finally:
        progress.close()
    if outcome == "gone":
        print(f"sweepctl: Sweep {namespace}/{name} was deleted while watching", file=sys.stderr)
        return ExitCode.SWEEP_GONE
    assert sweep is not None
    status = parse_status(sweep.get("status"))
    if outcome == "timeout":
        print(
            f"sweepctl: Sweep {namespace}/{name} is still {status.phase or 'without status'} "
            f"after {args.timeout:g} s ({status.tasks_done or 0}/{status.tasks_total or '?'} "
            "tasks done)",
            file=sys.stderr,
        )
        return ExitCode.TIMED_OUT
    print("\n".join(summary(namespace, name, status)))
    return ExitCode.OK if status.phase is Phase.SUCCEEDED else ExitCode.SWEEP_FAILED
