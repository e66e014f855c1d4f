"""Workers push while a task runs, and a Pushgateway that is down never fails a task.

A long task must not look stalled: between its first and its last push, the worker's periodic
pusher sends the counts so far. The test holds the task after each run until the real
Pushgateway shows that run; only a periodic push can carry it, since the task's final push comes
after its last run. Then `sweepctl run` runs whole sweeps against a Pushgateway that is not
there (a closed port), through the flag and through PUSHGATEWAY_URL, with a process pool and
in-process: every push fails with a warning, and every task is still written and committed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from kit.cli import sweepctl as run_sweepctl
from kit.live_sweeps import gateway_value, sweep_doc
from kit.promstack import Pushgateway
from kit.runs import read_output
from kit.servers import free_port
from kit.specs import write_spec
from kit.waiting import wait_until

from sweep_controller.execution.worker import TaskContext, execute_task
from sweep_controller.outcomes import TaskOutcome
from sweep_controller.spec.loading import load_sweep

pytestmark = pytest.mark.integration

WAIT_SECONDS = 30.0


def test_a_long_task_pushes_its_progress_while_it_runs(
    pushgateway: Pushgateway, unique_sweep: str, tmp_path: Path
) -> None:
    runs = 4
    doc = sweep_doc(unique_sweep, f"file://{tmp_path}/results", agents=(80,), replicates=runs)
    ctx = TaskContext.open(load_sweep(write_spec(tmp_path / "sweep.yaml", doc)))
    group = {"sweep": unique_sweep, "slot": "0", "job": "govsim-worker"}
    seen: list[tuple[float | None, float | None]] = []

    def after_each_run() -> None:
        done = len(seen) + 1
        wait_until(
            lambda: (
                gateway_value(pushgateway, "govsim_runs_total", {**group, "outcome": "ok"}) == done
            ),
            timeout=WAIT_SECONDS,
            what=f"a push carrying run {done} of the task in progress",
        )
        succeeded = {**group, "status": "succeeded"}
        seen.append(
            (
                gateway_value(pushgateway, "govsim_runs_total", {**group, "outcome": "ok"}),
                gateway_value(pushgateway, "govsim_tasks_total", succeeded),
            )
        )

    outcome = execute_task(
        ctx, 0, pushgateway_url=pushgateway.url, on_run=after_each_run, push_interval_seconds=0.05
    )
    assert outcome.outcome is TaskOutcome.SUCCEEDED, outcome.error
    # Each run showed up while the task still ran (not yet counted as succeeded) ...
    assert seen == [(float(n), 0.0) for n in range(1, runs + 1)]
    # ... and the final push marks it done.
    assert gateway_value(pushgateway, "govsim_tasks_total", {**group, "status": "succeeded"}) == 1


@pytest.mark.parametrize(
    ("how", "workers"),
    [("flag", 2), ("env", 1)],
    ids=["flag-pool", "env-inline"],
)
def test_sweepctl_run_writes_every_task_when_the_pushgateway_is_down(
    how: str, workers: int, unique_sweep: str, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    doc = sweep_doc(
        unique_sweep, f"file://{tmp_path}/results", agents=(60, 70, 80, 90), replicates=3
    )
    spec = write_spec(tmp_path / "sweep.yaml", doc)
    args: list[str | Path] = ["run", spec, "--workers", str(workers), "--no-progress"]
    env = {k: v for k, v in os.environ.items() if k != "PUSHGATEWAY_URL"}
    if how == "flag":
        args += ["--pushgateway", dead]
    else:
        env["PUSHGATEWAY_URL"] = dead
    done = run_sweepctl(*args, env=env)
    assert done.returncode == 0, done.stderr
    assert "4/4 tasks done" in done.stderr and "12/12 runs" in done.stderr
    output = read_output(spec)
    assert output.tasks_done == 4 and len(output.records) == 12
    # Every task tried to push (at its start and at its end, under one of the pool's slots)
    # and said that it could not.
    failed = re.findall(rf"push of sweep {unique_sweep} slot (\d+) failed", done.stderr)
    assert set(failed) <= {str(slot) for slot in range(workers)}, done.stderr
    assert len(failed) >= 8, done.stderr
    assert "Traceback" not in done.stderr
