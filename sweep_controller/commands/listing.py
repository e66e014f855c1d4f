"""``sweepctl list``: the Sweeps of a namespace (or all) with phase and progress.

The columns are the CRD's ``additionalPrinterColumns`` (``sweep_controller.k8s.crd``), so the
table matches ``kubectl get sweeps``; ``-o json`` and ``-o yaml`` print the objects as the API
returns them, in a ``List`` as ``kubectl get -o json`` does.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import yaml

from sweep_controller.commands.arguments import add_cluster_flags, open_cluster
from sweep_controller.exit_codes import ExitCode
from sweep_controller.k8s.crd import printer_columns


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``list`` subcommand."""
    parser = subparsers.add_parser(
        "list",
        help="the Sweeps on the cluster, with phase and progress",
        description="List the Sweeps of a namespace (or all) like kubectl get sweeps.",
    )
    parser.add_argument(
        "-A", "--all-namespaces", action="store_true", help="Sweeps of every namespace"
    )
    parser.add_argument(
        "-o", "--output", choices=("table", "json", "yaml"), default="table", help="format"
    )
    add_cluster_flags(parser)
    parser.set_defaults(handler=run)


def age(created: str | None, now: datetime) -> str:
    """How long ago ``created`` was, as ``kubectl`` shows it (``45s``, ``3m12s``, ``9d``)."""
    if not created:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    seconds = max(0, int((now - then).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"


def _at(obj: Mapping[str, Any], json_path: str) -> Any:
    """The value at a simple ``.a.b`` JSONPath, or None."""
    value: Any = obj
    for key in json_path.lstrip(".").split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def table(items: Sequence[Mapping[str, Any]], now: datetime, *, namespaces: bool) -> list[str]:
    """The rows of ``sweepctl list``: NAME and the CRD's printer columns (NAMESPACE with -A)."""
    columns = printer_columns()
    header = (["NAMESPACE"] if namespaces else []) + ["NAME"]
    header += [str(c["name"]).upper() for c in columns]
    rows = [header]
    ordered = sorted(
        items, key=lambda s: (s["metadata"].get("namespace", ""), s["metadata"]["name"])
    )
    for sweep in ordered:
        meta = sweep["metadata"]
        row = ([meta.get("namespace", "")] if namespaces else []) + [meta["name"]]
        for column in columns:
            value = _at(sweep, column["jsonPath"])
            if column["type"] == "date":
                row.append(age(value, now))
            else:
                row.append("" if value is None else str(value))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return ["   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def run(args: argparse.Namespace) -> int:
    """Print the Sweeps; no Sweeps is not an error."""
    cluster, namespace = open_cluster(args)
    items = cluster.list_sweeps(None if args.all_namespaces else namespace)
    if args.output != "table":
        document = {"apiVersion": "v1", "kind": "List", "items": items}
        if args.output == "json":
            print(json.dumps(document, indent=2))
        else:
            print(yaml.safe_dump(document, sort_keys=False), end="")
        return ExitCode.OK
    if not items:
        where = "any namespace" if args.all_namespaces else f"namespace {namespace}"
        print(f"No Sweeps found in {where}.", file=sys.stderr)
        return ExitCode.OK
    now = datetime.now(UTC)
    print("\n".join(table(items, now, namespaces=args.all_namespaces)))
    return ExitCode.OK
