"""``sweepctl logs NAME [--index I]``: the logs of a Sweep's worker pods.

The pods are the Job's (label ``batch.kubernetes.io/job-name``, the Job has the Sweep's name);
a pod's task index is its ``batch.kubernetes.io/job-completion-index`` label or annotation. A
retried index has several pods (attempts); the latest is shown unless ``--all-attempts``.
Without ``--index`` every index's log is printed, each line prefixed by ``[INDEX]``. When an index
has no pod, one line says why: not started yet, or gone because the Job's TTL deleted the
finished Job and its pods.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from typing import Any

from sweep_controller.commands.arguments import add_cluster_flags, int_in, open_cluster
from sweep_controller.errors import ClusterError, FlagError
from sweep_controller.exit_codes import ExitCode
from sweep_controller.k8s.status import TERMINAL_PHASES, Phase, SweepStatus, parse_status


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``logs`` subcommand."""
    parser = subparsers.add_parser(
        "logs",
        help="the logs of a Sweep's worker pods on the cluster",
        description="Print the logs of a Sweep's worker pods, prefixed by task index.",
    )
    parser.add_argument("name", metavar="NAME", help="the Sweep's name")
    parser.add_argument("--index", type=int_in(0), metavar="I", help="only task index I")
    parser.add_argument(
        "--all-attempts", action="store_true", help="every attempt of a retried index"
    )
    parser.add_argument("--tail", type=int_in(0), metavar="N", help="the last N lines of each")
    parser.add_argument(
        "-f", "--follow", action="store_true", help="stream the log as it grows (needs --index)"
    )
    add_cluster_flags(parser)
    parser.set_defaults(handler=run)


def by_index(pods: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Pods grouped by task index, oldest attempt first; pods without an index are left out."""
    from sweep_controller.k8s.cluster import pod_index

    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for pod in pods:
        index = pod_index(pod)
        if index is not None:
            groups[index].append(pod)
    return dict(groups)


def why_no_pod(status: SweepStatus, what: str) -> str:
    """Why ``what`` (an index, or the sweep) has no pod, from the Sweep's phase."""
    if status.phase in TERMINAL_PHASES:
        return (
            f"{what} has no pod: the sweep {status.phase}; its Job and pods were deleted after "
            "it finished (worker.ttlSecondsAfterFinished)"
            + (f"; results: {status.results_uri}" if status.results_uri else "")
        )
    if status.phase is Phase.RUNNING:
        return f"{what} has no pod yet: it has not started (the Job runs a few at a time)"
    return f"{what} has no pod yet: the sweep has not started ({status.phase or 'no status'})"


def run(args: argparse.Namespace) -> int:
    """Print the logs."""
    if args.follow and args.index is None:
        raise FlagError("--follow: follows one pod; give --index I")
    if args.follow and args.all_attempts:
        raise FlagError("--follow: follows the latest attempt; drop --all-attempts")
    cluster, namespace = open_cluster(args)
    name = args.name
    status = parse_status(cluster.get_sweep(namespace, name).get("status"))
    total = status.tasks_total
    if args.index is not None and total is not None and args.index >= total:
        raise FlagError(f"--index: {args.index} is outside [0, {total - 1}] (Sweep {name})")
    groups = by_index(cluster.job_pods(namespace, name))
    if args.index is not None:
        attempts = groups.get(args.index, [])
        if not attempts:
            raise ClusterError(
                why_no_pod(status, f"index {args.index} of Sweep {namespace}/{name}")
            )
        chosen = attempts if args.all_attempts else attempts[-1:]
        if args.follow:
            pod = chosen[-1]["metadata"]["name"]
            for line in cluster.follow_pod_log(namespace, pod, tail=args.tail):
                print(line, flush=True)
            return ExitCode.OK
        for attempt, pod in enumerate(chosen, start=len(attempts) - len(chosen) + 1):
            pod_name = pod["metadata"]["name"]
            if len(chosen) > 1:
                print(f"==> index {args.index}, attempt {attempt}: pod {pod_name} <==")
            print(cluster.pod_log(namespace, pod_name, tail=args.tail), end="")
        return ExitCode.OK
    if not groups:
        raise ClusterError(why_no_pod(status, f"Sweep {namespace}/{name}"))
    failed = 0
    for index in sorted(groups):
        attempts = groups[index]
        for pod in attempts if args.all_attempts else attempts[-1:]:
            pod_name = pod["metadata"]["name"]
            prefix = f"[{index} {pod_name}]" if args.all_attempts else f"[{index}]"
            try:
                text = cluster.pod_log(namespace, pod_name, tail=args.tail)
            except ClusterError as exc:  # one pod not started yet must not hide the others
                print(f"{prefix} no log: {exc}", file=sys.stderr)
                failed += 1
                continue
            for line in text.splitlines():
                print(f"{prefix} {line}")
    return ExitCode.OK if failed == 0 else ExitCode.FAILURE
