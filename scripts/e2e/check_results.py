"""Check finished sweeps in their store: every task done once, every record a valid run record.

    python check_results.py [--require-scheme s3] SPEC_OR_DIR [SPEC_OR_DIR ...]

The kind end-to-end test (scripts/e2e-kind.sh) runs this inside the cluster with the govsim image,
on a directory holding the resolved specs the controller wrote to the ConfigMaps ``<sweep>-spec``
(``<sweep>.yaml``); the test suite runs it against a local S3 server. A directory stands for every
``*.yaml`` in it. A file ``<sweep>.failed-indexes`` beside a spec (``0`` or ``1,3-5``) names the
tasks that must have failed: they must not be done, and every other task must be.

For each spec it runs ``sweepctl status SPEC`` (must exit 0, or 1 for invalid or foreign tasks,
which the task checks judge against the expected failures), then reads every task's manifest and
JSONL through the project's store and layout (the JSONL's sha256 and size must match its manifest,
which must name this spec's hash), checks that each task holds as many lines as its manifest
counts and exactly its slice of the run order, that no run id appears twice, and that the tasks
together hold every run of the sweep but those of the expected failed tasks, and validates every
line with ``simulator.records.validate``. Prints one line per problem and a summary per sweep;
exits 0 when everything holds, 1 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from simulator.records.validate import check_json
from sweep_controller.errors import SweepError
from sweep_controller.execution.layout import TaskState, check_task, manifest_key, records_key
from sweep_controller.intervals import parse_intervals
from sweep_controller.spec.expand import SweepPlan
from sweep_controller.spec.loading import load_sweep
from sweep_controller.spec.models import Sweep, spec_hash
from sweep_controller.store import open_store


def sweepctl() -> str:
    """The sweepctl beside this interpreter (a venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "sweepctl"
    return str(beside) if beside.is_file() else (shutil.which("sweepctl") or "sweepctl")


def expected_failures(path: Path) -> set[int]:
    """The task indexes ``<sweep>.failed-indexes`` beside the spec names (none without it)."""
    marker = path.with_suffix(".failed-indexes")
    if not marker.is_file():
        return set()
    return {i for part in parse_intervals(marker.read_text().strip()) for i in part}


def spec_paths(arguments: Sequence[str]) -> list[Path]:
    """The spec files named, a directory standing for every ``*.yaml`` in it (sorted)."""
    paths: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        paths += sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    return paths


def check_sweep(path: str, sweep: Sweep, failed: set[int] | None = None) -> list[str]:
    """Problems of one sweep's results (empty when every task but ``failed`` is done, once)."""
    failed = failed or set()
    problems: list[str] = []
    status = subprocess.run([sweepctl(), "status", path], capture_output=True, text=True)
    print(status.stdout.rstrip())
    # exit 1 with one line naming invalid or foreign tasks: judged task by task below
    named = status.returncode == 1 and re.search(r"task\(s\) (invalid|foreign)", status.stderr)
    if status.returncode != 0 and not named:
        problems.append(f"sweepctl status {path} exited {status.returncode}: {status.stderr}")
    store = open_store(sweep.spec.output.uri)
    digest = spec_hash(sweep)
    plan = SweepPlan(sweep)
    runs = 0
    expected_runs = 0
    run_ids: set[str] = set()
    for index in range(sweep.spec.n_tasks):
        task = check_task(store, sweep.name, index, digest, verify=True, keep_data=True)
        where = store.uri_for(
            records_key(sweep.name, task.manifest)
            if task.manifest is not None
            else manifest_key(sweep.name, index)
        )
        if index in failed:
            if task.state is TaskState.DONE:
                problems.append(f"{where}: task {index} is done, it was expected to fail")
            else:
                print(f"{sweep.name}: task {index} is {task.state} as expected: {task.reason}")
            continue
        positions = plan.task_positions(index)
        expected_runs += len(positions)
        if task.state is not TaskState.DONE or task.data is None or task.manifest is None:
            problems.append(f"{where}: task {index} is {task.state}: {task.reason}")
            continue
        covered = range(task.manifest.position_start, task.manifest.position_stop)
        if covered != positions:
            problems.append(
                f"{where}: holds positions {covered.start}-{covered.stop - 1}, task {index} "
                f"is positions {positions.start}-{positions.stop - 1}"
            )
        lines = task.data.decode().splitlines()
        if len(lines) != task.manifest.count:
            problems.append(f"{where}: {len(lines)} lines, manifest counts {task.manifest.count}")
        runs += len(lines)
        for number, line in enumerate(lines, start=1):
            reasons = check_json(line)
            problems += [f"{where}:{number}: {reason}" for reason in reasons]
            if reasons:
                continue
            run_id = str(json.loads(line)["run_id"])
            if run_id in run_ids:
                problems.append(f"{where}:{number}: run_id {run_id} appears twice in the sweep")
            run_ids.add(run_id)
    if runs != expected_runs:
        but = f" (without failed tasks {sorted(failed)})" if failed else ""
        problems.append(
            f"{sweep.name}: {runs} run records, the sweep has {expected_runs} runs{but}"
        )
    print(
        f"{sweep.name}: {sweep.spec.n_tasks} tasks ({len(failed)} expected to fail), {runs} "
        f"records at {sweep.spec.output.uri}/{sweep.name}/: {len(problems)} problems"
    )
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Check every named sweep; 0 when all hold, 1 when some problem was found."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "specs", nargs="+", metavar="SPEC", help="resolved sweep YAML, or a directory of them"
    )
    parser.add_argument(
        "--require-scheme", default="", help="fail unless each sweep's output uri has this scheme"
    )
    args = parser.parse_args(argv)
    problems: list[str] = []
    paths = spec_paths(args.specs)
    if not paths:
        print(f"check_results: error: no sweep specs in {' '.join(args.specs)}", file=sys.stderr)
        return 2
    for path in paths:
        try:
            sweep = load_sweep(path)
            failed = expected_failures(path)
        except (SweepError, ValueError) as exc:
            print(f"check_results: error: {exc}", file=sys.stderr)
            return 2
        uri = sweep.spec.output.uri
        if args.require_scheme and not uri.startswith(f"{args.require_scheme}://"):
            problems.append(f"{path}: spec.output.uri is {uri}, not {args.require_scheme}://")
            continue
        problems += check_sweep(str(path), sweep, failed)
    for problem in problems:
        print(f"PROBLEM {problem}")
    print(f"{len(paths)} sweeps checked: {'ok' if not problems else 'FAILED'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
