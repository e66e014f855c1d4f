"""``sweepctl render SPEC``: the ConfigMap and Indexed Job of a sweep, for ``kubectl apply -f -``.

For clusters without the controller: the objects come from the same builders the controller uses
(``sweep_controller.k8s.objects``), without ownerReferences (nothing owns them; delete the Job and
the ConfigMap yourself). Cluster settings come from the controller's ``GOVSIM_*`` variables
(``ControllerConfig.ENV``) and the flags below; no status is reported without the controller.

An adaptive sweep (``method: optuna``) renders the Indexed Job of round 0 (``<sweep>-r0``), under a
comment saying that the controller creates the later rounds' Jobs, each once the round before it
has finished and its points are planned from the stored results.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import yaml

from sweep_controller.commands.arguments import add_set_flag, print_warnings
from sweep_controller.errors import SpecError
from sweep_controller.exit_codes import ExitCode
from sweep_controller.k8s.config import ControllerConfig
from sweep_controller.k8s.objects import build_configmap, build_job, with_namespace
from sweep_controller.spec.loading import parse_sweep
from sweep_controller.spec.models import Method, Sweep
from sweep_controller.spec.overrides import load_overridden
from sweep_controller.spec.sizing import job_sizing_warnings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``render`` subcommand."""
    parser = subparsers.add_parser(
        "render",
        help="print the ConfigMap and Job YAML of a sweep (no controller needed)",
        description="Print the ConfigMap and Indexed Job that run SPEC on Kubernetes, as "
        "multi-document YAML for `kubectl apply -f -`. GOVSIM_* variables (see docs/kubernetes.md) "
        "set the cluster defaults; the flags override them.",
    )
    parser.add_argument("spec", metavar="SPEC", help="sweep YAML file")
    add_set_flag(parser)
    parser.add_argument("--image", help="worker image (default: $GOVSIM_WORKER_IMAGE)")
    parser.add_argument("--namespace", help="namespace of the objects (default: the spec's)")
    parser.add_argument(
        "--output-uri",
        metavar="URI",
        help="s3://BUCKET/PREFIX replacing the spec's output (required for file:// specs "
        "unless $GOVSIM_S3_BUCKET is set)",
    )
    parser.set_defaults(handler=run)


def with_output(sweep: Sweep, uri: str | None) -> Sweep:
    """The sweep writing to ``uri`` instead (unchanged when None); the URI is validated."""
    if uri is None:
        return sweep
    data = sweep.model_dump(mode="json", by_alias=True, exclude_unset=True)
    data["spec"]["output"] = {"uri": uri}
    return parse_sweep(data, "--output-uri")


class _BlockDumper(yaml.SafeDumper):
    """YAML dumper that writes multi-line strings (the embedded sweep.yaml) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def rounds_note(sweep: Sweep) -> str:
    """What a rendered adaptive sweep leaves out (empty for other sweeps)."""
    spec = sweep.spec
    if spec.method is not Method.OPTUNA:
        return ""
    later = f"{sweep.name}-r1 .. {sweep.name}-r{(spec.rounds or 1) - 1}"
    if spec.rounds == 1:
        return f"sweep {sweep.name} is adaptive (method optuna) with one round: Job {sweep.name}-r0"
    return (
        f"sweep {sweep.name} is adaptive (method optuna): this is round 0 of {spec.rounds} "
        f"(Job {sweep.name}-r0, {spec.tasks_per_round} tasks); the controller creates the Jobs of "
        f"the later rounds ({later}), each once the round before it has finished and its points "
        "are planned from the results in the store"
    )


def render(sweep: Sweep, config: ControllerConfig) -> str:
    """The multi-document YAML: ConfigMap, then Job (round 0's, for an adaptive sweep)."""
    documents: list[dict[str, Any]] = [build_configmap(sweep, config), build_job(sweep, config)]
    text = yaml.dump_all(documents, Dumper=_BlockDumper, sort_keys=False, explicit_start=True)
    note = rounds_note(sweep)
    return f"# {note}\n{text}" if note else text


def run(args: argparse.Namespace) -> int:
    """Render the sweep's objects to stdout."""
    config = ControllerConfig.from_env(os.environ, image=args.image)
    sweep = load_overridden(args.spec, args.overrides)
    sweep = with_output(with_namespace(sweep, args.namespace), args.output_uri)
    try:
        text = render(sweep, config)
    except SpecError as exc:
        hint = "; or pass --output-uri s3://BUCKET/PREFIX" if "spec.output.uri" in str(exc) else ""
        raise SpecError(f"{args.spec}: {exc}{hint}") from None
    sys.stdout.write(text)
    print_warnings(job_sizing_warnings(sweep, config.worker_resources))
    if note := rounds_note(sweep):
        print(f"sweepctl render: {note}", file=sys.stderr)
    return ExitCode.OK
