"""Several runners and workers on one sweep at once, then every task checked.

A trial starts every racer (``sweepctl run`` or ``sweepctl worker`` as real subprocesses, each
in its own session) at the same moment on one sweep, waits for them all, then checks the store
with the product's own readers: ``scan_tasks`` (manifest against data, sha256 and size) and
``collect`` (each committed task holds exactly its runs). A trial passes when

- every racer exits 0;
- every task is done (all runners exit 0 only when the sweep is complete) and valid: none is
  left with a manifest that does not match its data, none is failed;
- what the racers say they wrote adds up: the tasks the runners say they ran plus the workers
  that say they wrote their task equal the tasks in the store (the store starts empty), so no
  racer claims work it did not do, and no task was committed twice;
- no run was simulated twice: the runs the racers say they simulated add up to the sweep's runs
  (a racer skips a task another one holds instead of simulating it too).

``python -m bench.races`` runs many trials on a file or S3 store.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kit.paths import REPO
from kit.specs import grid_doc
from sweep_controller.errors import ResultsError
from sweep_controller.execution.layout import TaskState, scan_tasks
from sweep_controller.spec.loading import load_sweep
from sweep_controller.spec.models import spec_hash
from sweep_controller.store import open_store

__all__ = ["RACE_RULES", "Racer", "TrialReport", "race_doc", "race_trial", "standard_racers"]

RACE_RULES = "v0.5"
"""The rule set of the race sweeps, given explicitly so the default can change under them."""

_RAN = re.compile(r"tasks done: (\d+) by this run, (\d+) by others")
_SIMULATED = re.compile(r"simulated (\d+) runs")
_WROTE = re.compile(r"sweepctl worker \d+: wrote (\d+) runs")
_FOUND = re.compile(r"sweepctl worker \d+: already done")


@dataclass(frozen=True)
class Racer:
    """One racing process: ``sweepctl ARGS`` (``run SPEC ...`` or ``worker SPEC --index I``)."""

    label: str
    args: tuple[str, ...]

    @property
    def is_runner(self) -> bool:
        """A ``sweepctl run`` (else a ``sweepctl worker``)."""
        return self.args[0] == "run"


@dataclass
class TrialReport:
    """What one trial found: per-racer exits and claims, and the store's tasks."""

    n_tasks: int
    exits: dict[str, int] = field(default_factory=dict)
    claimed: dict[str, int] = field(default_factory=dict)
    """Tasks each racer says it wrote itself."""
    simulated: dict[str, int] = field(default_factory=dict)
    """Runs each racer says it simulated."""
    done: int = 0
    invalid: list[str] = field(default_factory=list)
    """``index: reason`` of every task that is neither done nor absent."""
    problems: list[str] = field(default_factory=list)
    stderr: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Nothing wrong."""
        return not self.problems


def race_doc(name: str, output: str, *, tasks: int = 60) -> dict[str, object]:
    """A sweep of ``tasks`` one-run tasks of 300 agents (6 grid points x tasks/6 replicates)."""
    if tasks % 6:
        raise ValueError(f"tasks: {tasks} is not a multiple of 6")
    return grid_doc(
        name,
        output,
        simulator={"agents": 300, "cascade_rounds": 3, "rules": RACE_RULES},
        replicates=tasks // 6,
        runsPerTask=1,
    )


def standard_racers(spec: Path, n_tasks: int) -> list[Racer]:
    """Three runners (pools of 2, 1 and 2) and two workers on tasks in the middle and the end."""
    return [
        Racer("run-a", ("run", str(spec), "--workers", "2", "--no-progress")),
        Racer("run-b", ("run", str(spec), "--workers", "1", "--no-progress")),
        Racer("run-c", ("run", str(spec), "--workers", "2", "--no-progress")),
        Racer("worker-mid", ("worker", str(spec), "--index", str(n_tasks // 2))),
        Racer("worker-last", ("worker", str(spec), "--index", str(n_tasks - 1))),
    ]


def _claims(racer: Racer, err: str) -> tuple[int, int] | None:
    """Tasks a racer says it wrote itself and runs it simulated; None if it does not say."""
    if racer.is_runner:
        ran, simulated = _RAN.search(err), _SIMULATED.search(err)
        if ran is None or simulated is None:
            return None
        return int(ran.group(1)), int(simulated.group(1))
    if wrote := _WROTE.search(err):
        return 1, int(wrote.group(1))
    return (0, 0) if _FOUND.search(err) else None


def race_trial(
    spec: Path,
    racers: Sequence[Racer],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> TrialReport:
    """Start every racer at once on ``spec``'s (empty) output, wait, check the store."""
    sweep = load_sweep(spec)
    n_tasks = sweep.spec.n_tasks
    report = TrialReport(n_tasks)
    started = time.perf_counter()
    procs = {
        racer: subprocess.Popen(
            [sys.executable, "-m", "sweep_controller", *racer.args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=dict(os.environ if env is None else env),
            start_new_session=True,
        )
        for racer in racers
    }
    for racer, proc in procs.items():
        _, err = proc.communicate(timeout=timeout)
        report.exits[racer.label], report.stderr[racer.label] = proc.returncode, err
        if proc.returncode != 0:
            report.problems.append(f"{racer.label} exited {proc.returncode}: {err[-400:]}")
        claims = _claims(racer, err)
        if claims is None:
            report.problems.append(f"{racer.label} does not say what it wrote: {err[-400:]}")
        else:
            report.claimed[racer.label], report.simulated[racer.label] = claims
    report.seconds = time.perf_counter() - started
    store = open_store(sweep.spec.output.uri)
    for check in scan_tasks(store, sweep.name, n_tasks, spec_hash(sweep)):
        if check.state is TaskState.DONE:
            report.done += 1
        elif check.state is not TaskState.PENDING:
            report.invalid.append(f"{check.index}: {check.state.value}: {check.reason}")
    if report.invalid:
        report.problems.append(f"{len(report.invalid)} task(s) neither done nor absent")
    if report.done != n_tasks:
        report.problems.append(f"{report.done}/{n_tasks} tasks done after every racer ended")
    if not report.invalid:
        from sweep_controller.analysis.results import collect

        try:
            collect(sweep, store=store)
        except ResultsError as exc:
            report.problems.append(f"collect: {exc}")
    if len(report.claimed) == len(racers):
        total = sum(report.claimed.values())
        if total != report.done:
            report.problems.append(
                f"the racers say they wrote {total} task(s) ({report.claimed}); "
                f"the store holds {report.done}"
            )
        runs = sum(report.simulated.values())
        if runs != sweep.spec.n_runs:
            report.problems.append(
                f"the racers simulated {runs} runs ({report.simulated}); "
                f"the sweep has {sweep.spec.n_runs}"
            )
    return report
