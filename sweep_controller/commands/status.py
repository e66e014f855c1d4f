"""``sweepctl status SPEC``: how many tasks of a sweep are done, failed or pending, from the store.

The store is the truth, whoever ran the tasks (``sweepctl run``, ``sweepctl worker`` or Job pods):
done means a verified manifest, failed means a failure marker and no commit, pending is the rest;
``invalid`` (a manifest that does not verify: rerun) and ``foreign`` (another sweep's results under
this prefix) are shown when present, their indexes as intervals (``3-5,9``), and make the exit
code 1 (one stderr line names them), so a script can tell results it cannot use. ``--no-verify``
trusts manifests without reading the JSONL.

An adaptive sweep (``method: optuna``) also shows its rounds planned and the answer from the runs
done so far (the best point, and the boundary for a target), which reads the done tasks' records.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from sweep_controller.commands.arguments import add_spec_and_output, local_sweep
from sweep_controller.commands.run import answer_lines
from sweep_controller.execution.layout import TaskScan, TaskState, scan_store, sweep_uri
from sweep_controller.execution.plans import identify
from sweep_controller.execution.rounds import read_search
from sweep_controller.exit_codes import ExitCode
from sweep_controller.intervals import format_intervals
from sweep_controller.spec.models import Method, Sweep
from sweep_controller.spec.search import answer
from sweep_controller.store import Store, open_store

MAX_INTERVALS = 20


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``status`` subcommand."""
    parser = subparsers.add_parser(
        "status",
        help="tasks done, failed and pending, read from the store",
        description="Show how many tasks of a sweep are done, failed and pending in its store.",
    )
    add_spec_and_output(parser)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="trust manifests without reading each task's JSONL (faster on large sweeps)",
    )
    parser.set_defaults(handler=run)


def status_document(
    name: str, uri: str, n_tasks: int, n_runs: int, scan: TaskScan
) -> dict[str, object]:
    """The status as plain data (what ``--format json`` prints).

    Built from the tasks the store holds objects of (``TaskScan``): pending is the rest, so the
    cost does not grow with the number of tasks.
    """
    listed = {
        state: scan.with_state(state) for state in TaskState if state is not TaskState.PENDING
    }
    done = listed[TaskState.DONE]
    return {
        "sweep": name,
        "uri": uri,
        "tasks": n_tasks,
        "runs": n_runs,
        "runs_done": sum(c.manifest.count for c in done if c.manifest),
        **{state.value: scan.count(state) for state in TaskState},
        "complete": len(done) == n_tasks,
        "failed_indexes": [c.index for c in listed[TaskState.FAILED]],
        "invalid_indexes": [c.index for c in listed[TaskState.INVALID]],
        "foreign_indexes": [c.index for c in listed[TaskState.FOREIGN]],
        "errors": {
            str(c.index): c.reason
            for state in (TaskState.FAILED, TaskState.INVALID, TaskState.FOREIGN)
            for c in listed[state]
        },
    }


def status_table(doc: dict[str, object]) -> list[str]:
    """The status as a small table."""
    tasks = int(doc["tasks"])  # type: ignore[call-overload]
    lines = [
        f"sweep: {doc['sweep']}",
        f"results: {doc['uri']}",
        f"runs done: {doc['runs_done']} of {doc['runs']}",
        f"{'state':<8} {'tasks':>7} {'share':>7}",
    ]
    errors = doc["errors"]
    assert isinstance(errors, dict)
    for state in TaskState:
        count = int(doc[state.value])  # type: ignore[call-overload]
        if count == 0 and state in (TaskState.INVALID, TaskState.FOREIGN):
            continue
        lines.append(f"{state.value:<8} {count:>7} {count / tasks:>7.1%}")
    for state in (TaskState.FAILED, TaskState.INVALID, TaskState.FOREIGN):
        indexes = doc[f"{state.value}_indexes"]
        assert isinstance(indexes, list)
        if indexes:
            shown = format_intervals(indexes, max_intervals=MAX_INTERVALS)
            lines.append(f"{state.value} tasks: {shown}")
            lines += [f"  task {i}: {errors[str(i)]}" for i in indexes[:5]]
    if doc[TaskState.FOREIGN.value]:
        lines.append("note: foreign tasks were written by a sweep with another spec hash")
    return lines


def search_status_lines(sweep: Sweep, store: Store) -> tuple[dict[str, object], list[str]]:
    """An adaptive sweep's rounds and answer so far: as plain data, and as table lines."""
    state = read_search(store, sweep)
    found = answer(sweep.spec, state.evaluated)
    doc: dict[str, object] = {
        "rounds": sweep.spec.rounds,
        "rounds_planned": len(state.rounds),
        "points_evaluated": found.evaluated,
        "best": dataclasses.asdict(found.best) if found.best else None,
        "boundary": dataclasses.asdict(found.boundary) if found.boundary else None,
    }
    lines = [f"rounds planned: {len(state.rounds)} of {sweep.spec.rounds}"]
    return doc, lines + answer_lines(sweep, found, prefix="search:")


def run(args: argparse.Namespace) -> int:
    """Print the sweep's status; exit 1 when some tasks are invalid or foreign, else 0."""
    sweep = local_sweep(args)
    store = open_store(sweep.spec.output.uri)
    spec = sweep.spec
    identity = identify(store, sweep)
    scan = scan_store(store, sweep.name, spec.n_tasks, identity.spec_hash,
                      verify=not args.no_verify, runs_hash=identity.runs_hash)  # fmt: skip
    doc = status_document(sweep.name, sweep_uri(store, sweep.name), spec.n_tasks, spec.n_runs, scan)
    extra: list[str] = []
    if spec.method is Method.OPTUNA:
        doc["search"], extra = search_status_lines(sweep, store)
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        print("\n".join(status_table(doc) + extra))
    problem = unusable_tasks(doc)
    if problem:
        print(f"sweepctl: error: {problem}", file=sys.stderr)
        return ExitCode.FAILURE
    return ExitCode.OK


def unusable_tasks(doc: dict[str, object]) -> str:
    """One line naming the invalid and foreign tasks of a status document ("" when none)."""
    parts = []
    for state, what in (
        (TaskState.INVALID, "invalid (their files do not match their manifests; `sweepctl run` "
                            "rewrites them)"),
        (TaskState.FOREIGN, "foreign (written by a sweep with another spec hash)"),
    ):  # fmt: skip
        indexes = doc[f"{state.value}_indexes"]
        assert isinstance(indexes, list)
        if indexes:
            shown = format_intervals(indexes, max_intervals=MAX_INTERVALS)
            parts.append(f"{len(indexes)} task(s) {what}: {shown}")
    return "; ".join(parts)
