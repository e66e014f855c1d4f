"""Check finished sweeps in their store: every task done, every record a valid v0.4 run record.

    python check_results.py [--require-scheme s3] SPEC [SPEC ...]

The kind end-to-end test (scripts/e2e-kind.sh) runs this inside the cluster with the govsim image,
on the resolved specs the controller wrote to the ConfigMaps ``<sweep>-spec``; the test suite runs
it against a local S3 server. For each spec it runs ``sweepctl status SPEC`` (must exit 0), then
reads every task's manifest and JSONL through the project's store and layout (the JSONL's sha256
and size must match its manifest, which must name this spec's hash), checks that each task holds
as many lines as its manifest counts and that the tasks together hold every run of the sweep, and
validates every line with ``simulator.records.validate``. Prints one line per problem and a summary per
sweep; exits 0 when everything holds, 1 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from simulator.records.validate import check_json
from sweep_controller.errors import SweepError
from sweep_controller.execution.layout import TaskState, check_task, manifest_key, records_key
from sweep_controller.spec.loading import load_sweep
from sweep_controller.spec.models import Sweep, spec_hash
from sweep_controller.store import open_store


def sweepctl() -> str:
    """The sweepctl beside this interpreter (a venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "sweepctl"
    return str(beside) if beside.is_file() else (shutil.which("sweepctl") or "sweepctl")


def check_sweep(path: str, sweep: Sweep) -> list[str]:
    """Problems of one sweep's results (empty when every task is done and valid)."""
    problems: list[str] = []
    status = subprocess.run([sweepctl(), "status", path], capture_output=True, text=True)
    print(status.stdout.rstrip())
    if status.returncode != 0:
        problems.append(f"sweepctl status {path} exited {status.returncode}: {status.stderr}")
    store = open_store(sweep.spec.output.uri)
    digest = spec_hash(sweep)
    runs = 0
    for index in range(sweep.spec.n_tasks):
        task = check_task(store, sweep.name, index, digest, verify=True, keep_data=True)
        where = store.uri_for(
            records_key(sweep.name, task.manifest)
            if task.manifest is not None
            else manifest_key(sweep.name, index)
        )
        if task.state is not TaskState.DONE or task.data is None or task.manifest is None:
            problems.append(f"{where}: task {index} is {task.state}: {task.reason}")
            continue
        lines = task.data.decode().splitlines()
        if len(lines) != task.manifest.count:
            problems.append(f"{where}: {len(lines)} lines, manifest counts {task.manifest.count}")
        runs += len(lines)
        for number, line in enumerate(lines, start=1):
            problems += [f"{where}:{number}: {reason}" for reason in check_json(line)]
    if runs != sweep.spec.n_runs:
        problems.append(f"{sweep.name}: {runs} run records, the sweep has {sweep.spec.n_runs} runs")
    print(
        f"{sweep.name}: {sweep.spec.n_tasks} tasks, {runs} records at "
        f"{sweep.spec.output.uri}/{sweep.name}/: {len(problems)} problems"
    )
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Check every named sweep; 0 when all hold, 1 when some problem was found."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="+", metavar="SPEC", help="resolved sweep YAML")
    parser.add_argument(
        "--require-scheme", default="", help="fail unless each sweep's output uri has this scheme"
    )
    args = parser.parse_args(argv)
    problems: list[str] = []
    for path in args.specs:
        try:
            sweep = load_sweep(path)
        except SweepError as exc:
            print(f"check_results: error: {exc}", file=sys.stderr)
            return 2
        uri = sweep.spec.output.uri
        if args.require_scheme and not uri.startswith(f"{args.require_scheme}://"):
            problems.append(f"{path}: spec.output.uri is {uri}, not {args.require_scheme}://")
            continue
        problems += check_sweep(path, sweep)
    for problem in problems:
        print(f"PROBLEM {problem}")
    print(f"{len(args.specs)} sweeps checked: {'ok' if not problems else 'FAILED'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
