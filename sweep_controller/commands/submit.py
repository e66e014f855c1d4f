"""``sweepctl submit SPEC``: check a sweep spec here, then create its Sweep on the cluster.

The spec goes through the same loader as ``sweepctl validate`` (one line naming the field or the
YAML line) and the controller's size limit before any request. The Sweep is created as written,
in ``--namespace``, else the spec's ``metadata.namespace``, else the context's namespace, else
``default`` (the two must agree when both are given, as with ``kubectl apply``). A Sweep's spec
is immutable: one that exists with the same spec is success (submitting twice is harmless), one
with another spec is refused with the way out.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sweep_controller.commands.arguments import add_cluster_flags, open_cluster, print_warnings
from sweep_controller.errors import ClusterError, FlagError, SpecError
from sweep_controller.exit_codes import ExitCode
from sweep_controller.k8s.config import DEFAULT_RESOURCES
from sweep_controller.k8s.objects import SweepTooLarge, check_job_size
from sweep_controller.spec.loading import load_sweep, parse_yaml, sweep_from_resource
from sweep_controller.spec.models import Sweep, full_form
from sweep_controller.spec.sizing import job_sizing_warnings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``submit`` subcommand."""
    parser = subparsers.add_parser(
        "submit",
        help="validate a sweep spec and create its Sweep on the cluster",
        description="Validate a sweep spec locally, then create the Sweep in the cluster.",
    )
    parser.add_argument("spec", metavar="SPEC", help="sweep YAML file")
    add_cluster_flags(parser)
    parser.set_defaults(handler=run)


def watch_hint(name: str, namespace: str) -> list[str]:
    """How to follow a submitted sweep."""
    return [
        f"watch it:  sweepctl watch {name} -n {namespace}",
        f"           kubectl get sweeps -n {namespace}",
    ]


def target_namespace(sweep: Sweep, flag: str | None, context_namespace: str, spec: str) -> str:
    """``--namespace``, else the spec's ``metadata.namespace``, else the context's."""
    written = sweep.metadata.namespace
    if flag and written and flag != written:
        raise FlagError(
            f"--namespace: {flag!r} differs from metadata.namespace {written!r} in {spec}; "
            "drop one of them"
        )
    return flag or written or context_namespace


def same_spec(existing: dict[str, Any], sweep: Sweep) -> bool:
    """Whether a Sweep read from the cluster has the spec of ``sweep`` (defaults included)."""
    try:
        theirs = sweep_from_resource(existing)
    except SpecError:
        return False
    return theirs.spec.model_dump(mode="json") == sweep.spec.model_dump(mode="json")


def run(args: argparse.Namespace) -> int:
    """Validate, then create the Sweep; exit 0 if it exists with the same spec."""
    sweep = load_sweep(args.spec)
    try:
        check_job_size(sweep)
    except SweepTooLarge as exc:
        raise SpecError(f"{args.spec}: too large for Kubernetes: {exc}") from None
    document = parse_yaml(Path(args.spec).read_text(encoding="utf-8"), args.spec)
    cluster, context_namespace = open_cluster(args)
    namespace = target_namespace(sweep, args.namespace, context_namespace, args.spec)
    name = sweep.name
    document = full_form(document, sweep)  # the CRD takes no shorthand
    body = {**document, "metadata": {**document["metadata"], "namespace": namespace}}
    from sweep_controller.k8s.cluster import SweepExists

    try:
        cluster.create_sweep(namespace, body)
    except SweepExists:
        existing = cluster.get_sweep(namespace, name)
        if (existing.get("metadata") or {}).get("deletionTimestamp"):
            raise ClusterError(
                f"Sweep {name!r} in namespace {namespace} is being deleted; submit again once "
                f"it is gone (sweepctl delete {name} -n {namespace} --wait)"
            ) from None
        if not same_spec(existing, sweep):
            raise ClusterError(
                f"Sweep {name!r} exists in namespace {namespace} with a different spec; the "
                f"spec is immutable: delete it first (sweepctl delete {name} -n {namespace})"
            ) from None
        print(f"sweep {namespace}/{name} exists with the same spec: nothing to do")
    else:
        spec = sweep.spec
        print(
            f"sweep {namespace}/{name} created: {spec.n_tasks} tasks, {spec.n_runs} runs "
            f"(context {cluster.connection.context})"
        )
        # The controller emits these as TaskSize Events as well; here they come before any wait.
        print_warnings(job_sizing_warnings(sweep, DEFAULT_RESOURCES))
    print("\n".join(watch_hint(name, namespace)))
    return ExitCode.OK
