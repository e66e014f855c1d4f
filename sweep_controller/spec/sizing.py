"""How much work a task of a sweep is, and whether that is a sensible size for a pod.

A task is one pod on Kubernetes, and a pod costs seconds before it does any work (scheduling,
sandbox, image, interpreter and imports). A task of 10 default runs does about 0.01 s of work
against that, so 99% of the cluster's time goes to starting pods; a task of hours loses hours
when its spot node is reclaimed. The targets (docs/sweeps.md, "Task size"):

- at least ``MIN_TASK_SECONDS`` (2 min) of work: the pod overhead (``POD_OVERHEAD_SECONDS``) is
  then at most about 6% of a pod's life;
- at most ``MAX_TASK_SECONDS`` (30 min): an interrupted pod (spot reclaim, node drain) loses at
  most 30 min of one task, on average half that, and a sweep's last tasks do not trail long;
- the task's memory (interpreter and imports, the largest run, the record buffer) within the
  worker's memory limit.

The work of one run is a cost model of the engine fitted to measurements (``python -m
bench.sizing`` measures the worker's own per-run path: simulate, build the record, serialise and
validate it, and prints predicted against measured): a constant, a term per agent and per edge,
and a term per agent and per edge for each influence round. Rounds under v0.5 run until the
cascade ends, measured at about ``2.8 log10(N)`` for N agents (at most ``cascade_rounds``); v0.4
runs every round. The estimate is an order of magnitude, good to about a factor of 2: the targets
span a factor of 15, and the warnings only fire outside them.

Everything here is pure: the estimate is a function of the spec and the given memory limit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from simulator.memory import run_memory_bytes
from simulator.params import RuleSet, SimParams, Traces
from sweep_controller.spec.expand import SweepPlan
from sweep_controller.spec.models import Method, Sweep

__all__ = [
    "BASE_PROCESS_BYTES",
    "COEFFICIENTS",
    "MAX_TASK_SECONDS",
    "MIN_TASK_SECONDS",
    "POD_OVERHEAD_SECONDS",
    "RECORD_BUFFER_BYTES",
    "SAMPLE_POINTS",
    "Coefficients",
    "TaskSize",
    "estimate_task",
    "expected_rounds",
    "format_bytes",
    "format_seconds",
    "job_sizing_warnings",
    "memory_limit_bytes",
    "run_seconds",
    "sizing_warnings",
]

MIN_TASK_SECONDS = 120.0
"""Least work per task: the pod overhead is then at most about 6% of the pod's life."""
MAX_TASK_SECONDS = 1800.0
"""Most work per task: what an interrupted pod can lose."""
POD_OVERHEAD_SECONDS = 8.0
"""Seconds a pod costs before and after its work on a cluster with the image on the node.

Measured here: ``podman run`` of the worker image to exit, a one-run task, 0.93-1.21 s
(docs/kubernetes.md, "Cold start and size"). A cluster adds the Job controller's pod creation,
scheduling, the pod sandbox and network setup, and the kubelet's status round trips: a few
seconds. The first pod on a new node also pulls the 767 MB image (tens of seconds), shared by
every later pod of that node. 8 s is the planning figure.
"""
BASE_PROCESS_BYTES = 256 * 2**20
"""A worker's memory before its first run: interpreter, numpy, scipy, pydantic, boto3 (about
200 MB measured by ``bench.worker_memory``), rounded up."""
RECORD_BUFFER_BYTES = 32 * 2**20
"""The most a task's records hold in memory while it streams them to the store: the upload's
part (8 MiB) and its chunk, the spool's in-memory part and a validation batch, rounded up
(``sweep_controller.execution.spool``)."""
SAMPLE_POINTS = 256
"""Points whose runs are estimated: all of a small sweep, else this many evenly spaced."""


@dataclass(frozen=True)
class Coefficients:
    """The engine's cost model: seconds per run = ``base + per_agent N + per_edge E + rounds
    (round_agent N + round_edge E)`` (+ ``trace_agent N`` with traces)."""

    base: float
    per_agent: float
    per_edge: float
    round_agent: float
    round_edge: float
    trace_agent: float
    measured_on: str


COEFFICIENTS = Coefficients(
    base=1.2e-3,
    per_agent=4.27e-7,
    per_edge=2.46e-8,
    round_agent=0.0,
    round_edge=0.0,
    trace_agent=1.36e-7,
    measured_on="2026-12-07, the 2-core development VM (x86_64), one BLAS thread as in a worker "
    "pod, python -m bench.sizing",
)
"""Fitted by ``bench.sizing`` with one BLAS thread (as worker pods run): predicted/measured
0.79-1.19 from 50 to 10^6 agents under v0.5 and v0.4, 1.00 with traces."""


def expected_rounds(params: SimParams) -> float:
    """Influence rounds a run is expected to run: v0.4 runs all; v0.5 stops when settled."""
    if params.rules is RuleSet.V0_4:
        return float(params.cascade_rounds)
    return min(float(params.cascade_rounds), max(1.0, 2.8 * math.log10(max(params.agents, 2))))


def run_seconds(
    params: SimParams, *, traces: bool = False, coefficients: Coefficients = COEFFICIENTS
) -> float:
    """Estimated seconds of worker time for one run with these parameters."""
    c = coefficients
    n, edges = float(params.agents), params.expected_edges()
    rounds = expected_rounds(params)
    seconds = c.base + c.per_agent * n + c.per_edge * edges
    seconds += rounds * (c.round_agent * n + c.round_edge * edges)
    if traces:
        seconds += c.trace_agent * n
    return seconds


@dataclass(frozen=True)
class TaskSize:
    """The estimated work and memory of a sweep's tasks."""

    runs_per_task: int
    n_tasks: int
    n_runs: int
    mean_run_seconds: float
    """Mean over the sampled points."""
    max_run_seconds: float
    max_run_bytes: int
    """The largest sampled run's engine peak (``simulator.memory.run_memory_bytes``)."""

    @property
    def task_seconds(self) -> float:
        """Work of a typical task."""
        return self.runs_per_task * self.mean_run_seconds

    @property
    def longest_task_seconds(self) -> float:
        """Work of a task of the costliest runs (a sequential task holds one point's runs)."""
        return self.runs_per_task * self.max_run_seconds

    @property
    def task_bytes(self) -> int:
        """Peak memory of a task: the process, its largest run and the bounded record buffer."""
        return BASE_PROCESS_BYTES + self.max_run_bytes + RECORD_BUFFER_BYTES

    @property
    def overhead_share(self) -> float:
        """Share of a typical pod's life spent on pod overhead."""
        return POD_OVERHEAD_SECONDS / (POD_OVERHEAD_SECONDS + self.task_seconds)


def _sample(n_points: int) -> Iterator[int]:
    if n_points <= SAMPLE_POINTS:
        yield from range(n_points)
        return
    step = (n_points - 1) / (SAMPLE_POINTS - 1)
    seen = -1
    for k in range(SAMPLE_POINTS):
        p = round(k * step)
        if p != seen:
            seen = p
            yield p


def estimate_task(sweep: Sweep, *, coefficients: Coefficients = COEFFICIENTS) -> TaskSize:
    """Estimate the work and memory of the sweep's tasks from a sample of its points."""
    plan = SweepPlan(sweep)
    traces = sweep.spec.traces is Traces.PARQUET
    seconds: list[float] = []
    peak = 0
    # an adaptive sweep's later rounds depend on results: its first round stands for them all
    known = plan.points_per_round if sweep.spec.method is Method.OPTUNA else plan.n_points
    for p in _sample(known):
        params, _ = plan.point(p)
        seconds.append(run_seconds(params, traces=traces, coefficients=coefficients))
        peak = max(peak, run_memory_bytes(params))
    spec = sweep.spec
    return TaskSize(
        runs_per_task=spec.runs_per_task,
        # an adaptive sweep's tasks run round by round: a round is the most one task could hold
        n_tasks=spec.tasks_per_round,
        n_runs=spec.n_runs // (spec.rounds or 1),
        mean_run_seconds=sum(seconds) / len(seconds),
        max_run_seconds=max(seconds),
        max_run_bytes=peak,
    )


def format_seconds(seconds: float) -> str:
    """``3.3 ms``, ``0.17 s``, ``12 s``, ``4.5 min``, ``2.1 h``: two significant digits."""
    if seconds < 0.1:
        return f"{seconds * 1e3:.2g} ms"
    if seconds < 60:
        return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.2g} min"
    return f"{seconds / 3600:.2g} h"


def format_bytes(count: float) -> str:
    """``512 MiB``, ``3.4 GiB``."""
    if count < 2**30:
        return f"{count / 2**20:.0f} MiB"
    return f"{count / 2**30:.2g} GiB"


def _target() -> str:
    return f"target {MIN_TASK_SECONDS / 60:.0f}-{MAX_TASK_SECONDS / 60:.0f} min per task"


def sizing_warnings(size: TaskSize, *, memory_limit_bytes: int | None) -> list[str]:
    """One line per problem with the sweep's task size, naming the field to change.

    Too little work per task (only when the sweep has more than one task: a sweep smaller than
    one good task cannot do better), too much, or a task's memory over ``memory_limit_bytes``
    (None: no limit to compare with).
    """
    lines: list[str] = []
    per_run = size.mean_run_seconds
    k = size.runs_per_task
    if size.n_tasks > 1 and size.task_seconds < MIN_TASK_SECONDS:
        least = math.ceil(MIN_TASK_SECONDS / per_run)
        head = (
            f"spec.runsPerTask: {k} runs of ~{format_seconds(per_run)} each make a "
            f"{format_seconds(size.task_seconds)} task against ~{POD_OVERHEAD_SECONDS:.0f} s of "
            f"pod start ({size.overhead_share:.0%} overhead); "
        )
        if least < size.n_runs:
            lines.append(f"{head}raise runsPerTask to >= {least} ({_target()})")
        else:
            whole = format_seconds(size.n_runs * per_run)
            lines.append(
                f"{head}the whole sweep is ~{whole} of work: set runsPerTask to {size.n_runs} "
                "(one task), or run it locally with sweepctl run"
            )
    if size.longest_task_seconds > MAX_TASK_SECONDS:
        most = math.floor(MAX_TASK_SECONDS / size.max_run_seconds)
        if most >= 1:
            lines.append(
                f"spec.runsPerTask: {k} runs of up to ~{format_seconds(size.max_run_seconds)} "
                f"each make tasks of up to {format_seconds(size.longest_task_seconds)}, which an "
                f"interrupted pod loses whole; lower runsPerTask to <= {most} ({_target()})"
            )
        else:
            lines.append(
                f"spec.simulator/spec.parameters: one run takes up to "
                f"~{format_seconds(size.max_run_seconds)}, over the "
                f"{format_seconds(MAX_TASK_SECONDS)} a task should take; an interrupted pod "
                "loses it whole (fewer agents, a smaller mean_degree or fewer cascade_rounds)"
            )
    if memory_limit_bytes is not None and size.task_bytes > memory_limit_bytes:
        lines.append(
            f"spec.simulator/spec.parameters: a task needs ~{format_bytes(size.task_bytes)} "
            f"(its largest run ~{format_bytes(size.max_run_bytes)}) over the worker memory limit "
            f"{format_bytes(memory_limit_bytes)}; use fewer agents or a smaller mean_degree, or "
            "raise the worker memory limit (chart value worker.resources.limits.memory)"
        )
    return lines


_QUANTITY_SUFFIXES = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def job_sizing_warnings(sweep: Sweep, worker_resources: Mapping[str, Any]) -> list[str]:
    """``sizing_warnings`` of ``sweep`` run as a Job whose workers have ``worker_resources``."""
    return sizing_warnings(
        estimate_task(sweep), memory_limit_bytes=memory_limit_bytes(worker_resources)
    )


def memory_limit_bytes(resources: Mapping[str, Any]) -> int | None:
    """The memory limit of a container's ``resources`` in bytes (else its request; None if
    neither is set or the quantity is not a plain Kubernetes byte quantity such as ``2Gi``)."""
    for part in ("limits", "requests"):
        value = (resources.get(part) or {}).get("memory")
        if value is None:
            continue
        match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(Ki|Mi|Gi|Ti|k|M|G|T|)\s*", str(value))
        if match is None:
            return None
        return int(float(match.group(1)) * _QUANTITY_SUFFIXES[match.group(2)])
    return None
