"""``sweepctl delete NAME``: delete a Sweep from the cluster; its results stay in the store.

The delete is ``propagationPolicy: Background``: the Sweep goes at once, and the garbage collector
removes its Job, pods and spec ConfigMap (they carry owner references to it). Objects in S3 are
not Kubernetes objects and stay. ``--wait`` returns once the Sweep is gone from the API (a
finalizer left by a controller that is no longer running would hold it: the timeout says so).
"""

from __future__ import annotations

import argparse
import sys
import time

from sweep_controller.commands.arguments import add_cluster_flags, open_cluster, positive_seconds
from sweep_controller.exit_codes import ExitCode
from sweep_controller.k8s.status import parse_status

POLL_SECONDS = 1.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``delete`` subcommand."""
    parser = subparsers.add_parser(
        "delete",
        help="delete a Sweep from the cluster (its Job and pods go with it; results stay)",
        description="Delete a Sweep; its Job, pods and ConfigMap follow, its S3 results stay.",
    )
    parser.add_argument("name", metavar="NAME", help="the Sweep's name")
    parser.add_argument("--wait", action="store_true", help="return once the Sweep is gone")
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=120.0,
        metavar="SECONDS",
        help="with --wait: give up after this long (default 120; exit 124)",
    )
    add_cluster_flags(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Delete the Sweep; with ``--wait``, until it is gone."""
    cluster, namespace = open_cluster(args)
    name = args.name
    sweep = cluster.get_sweep(namespace, name)
    results = parse_status(sweep.get("status")).results_uri
    cluster.delete_sweep(namespace, name)
    print(f"sweep {namespace}/{name} deleted; its Job, pods and spec ConfigMap are deleted with it")
    where = results or "the sweep's output URI"
    print(f"results stay in {where}: delete them with your S3 tools if you no longer need them")
    if not args.wait:
        return ExitCode.OK
    deadline = time.monotonic() + args.timeout
    while (left := cluster.find_sweep(namespace, name)) is not None:
        if time.monotonic() >= deadline:
            finalizers = (left.get("metadata") or {}).get("finalizers") or []
            held = f" (held by finalizers {', '.join(finalizers)})" if finalizers else ""
            print(
                f"sweepctl: Sweep {namespace}/{name} still exists after {args.timeout:g} s{held}",
                file=sys.stderr,
            )
            return ExitCode.TIMED_OUT
        time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
    print(f"sweep {namespace}/{name} is gone")
    return ExitCode.OK
