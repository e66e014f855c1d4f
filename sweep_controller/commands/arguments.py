"""Argument types and groups that several ``sweepctl`` subcommands share."""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from sweep_controller.errors import FlagError
from sweep_controller.extras import require
from sweep_controller.spec.location import load_local_sweep
from sweep_controller.spec.models import Sweep

if TYPE_CHECKING:
    from sweep_controller.k8s.cluster import Cluster


def print_warnings(lines: Iterable[str]) -> None:
    """Print each line as one ``sweepctl: warning: ...`` line on stderr."""
    for line in lines:
        print(f"sweepctl: warning: {line}", file=sys.stderr)


def add_spec_and_output(parser: argparse.ArgumentParser) -> None:
    """Add SPEC and ``--output URI`` (the sweep's results location, instead of the spec's)."""
    parser.add_argument("spec", metavar="SPEC", help="sweep YAML file")
    parser.add_argument(
        "--output",
        metavar="URI",
        help="where the sweep's results are, instead of the spec's output.uri: file://PATH, "
        "a PATH (relative to this folder) or s3://BUCKET[/PREFIX] (default: the spec's, a "
        "relative file:// read from the spec file's folder)",
    )


def local_sweep(args: argparse.Namespace) -> Sweep:
    """The spec of ``args.spec``, its output from ``--output`` or relative to the spec file.

    With ``--set`` (``add_set_flag``), the overrides are written into the spec first.
    """
    overrides = getattr(args, "overrides", None) or ()
    return load_local_sweep(args.spec, output=args.output, overrides=overrides)


def add_set_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--set KEY=VALUE`` (repeatable): a change to the spec, validated as the file is."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change the spec: KEY a dotted path (spec.replicates, or inside spec: replicates, "
        "simulator.agents, parameters.quorum; a simulator parameter alone: agents), VALUE YAML "
        "(50, [0, 0.5], sobol); repeatable, later ones win",
    )


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for integers in ``[low, high]`` (``high`` None: no upper bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            upper = "inf)" if high is None else f"{high}]"
            raise argparse.ArgumentTypeError(f"{value} is outside [{low}, {upper}")
        return value

    return parse


def _writable_ancestor(flag: str, path: Path) -> None:
    """The nearest existing ancestor of ``path`` must be a directory we may create entries in."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise FlagError(f"{flag}: {str(path)!r}: {str(parent)!r} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FlagError(f"{flag}: {str(path)!r}: cannot write in {str(parent)!r}")


def output_file(flag: str, text: str, suffixes: tuple[str, ...]) -> Path:
    """A file to write (replaced if it exists): not a directory, with a suffix in ``suffixes``."""
    path = Path(text)
    if not text.lower().endswith(suffixes):
        raise FlagError(f"{flag}: {text!r} must end in {' or '.join(suffixes)}")
    if path.is_dir():
        raise FlagError(f"{flag}: {text!r} is a directory; give a file ({' or '.join(suffixes)})")
    _writable_ancestor(flag, path)
    return path


def output_dir(flag: str, text: str) -> Path:
    """A directory to write into (created if missing; files of the same names are replaced)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise FlagError(f"{flag}: {text!r} is a file, not a directory")
    if not path.exists():
        _writable_ancestor(flag, path)
    elif not os.access(path, os.W_OK | os.X_OK):
        raise FlagError(f"{flag}: cannot write in {text!r}")
    return path


def cannot_write(flag: str, exc: OSError) -> FlagError:
    """An output that failed while being written, as one line naming the flag and the path."""
    where = exc.filename if exc.filename is not None else "the output"
    return FlagError(f"{flag}: cannot write {str(where)!r}: {exc.strerror or exc}")


def ip_address(text: str) -> str:
    """An argparse ``type`` for an IP address to listen on (``127.0.0.1``, ``0.0.0.0``, ``::1``)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IP address") from None


def add_metrics_address(parser: argparse.ArgumentParser) -> None:
    """Add ``--metrics-address`` (default loopback: only this machine can scrape)."""
    parser.add_argument(
        "--metrics-address",
        type=ip_address,
        default="127.0.0.1",
        metavar="ADDR",
        help="address /metrics listens on (default 127.0.0.1, this machine only; "
        "0.0.0.0 for every interface, as in a pod)",
    )


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def namespace_name(text: str) -> str:
    """An argparse ``type`` for a namespace: a DNS-1123 label of at most 63 characters."""
    if len(text) > 63 or _DNS_LABEL.fullmatch(text) is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a namespace name (lower-case letters, digits and '-', at most 63)"
        )
    return text


def add_cluster_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--kubeconfig``, ``--context`` and ``-n/--namespace``, read as ``kubectl`` does."""
    group = parser.add_argument_group("cluster (as kubectl)")
    group.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else in-cluster)",
    )
    group.add_argument(
        "--context", metavar="NAME", help="kubeconfig context (default: the current context)"
    )
    group.add_argument(
        "-n",
        "--namespace",
        type=namespace_name,
        metavar="NS",
        help="namespace (default: the context's namespace, else 'default')",
    )


def open_cluster(args: argparse.Namespace) -> tuple[Cluster, str]:
    """The cluster of ``--kubeconfig``/``--context`` and the namespace to work in.

    The namespace is ``--namespace``, else the context's (or the pod's, in-cluster), else
    ``default``. The client library loads on first use, so local commands never import it.
    """
    require("talking to a Kubernetes cluster", "k8s")
    from sweep_controller.k8s.cluster import Cluster, connect

    connection = connect(args.kubeconfig, args.context)
    return Cluster(connection), args.namespace or connection.namespace


def positive_seconds(text: str) -> float:
    """An argparse ``type`` for a duration in seconds: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of seconds above 0")
    return value
