"""The cost table of docs/aws.md ("Cost of a sweep"), computed from the project's measured figures.

Inputs, each stated in the docs beside the table:

- seconds per run: the sizing model's coefficients (``sweep_controller.spec.sizing``, fitted by
  ``python -m bench.sizing`` on the 2-core development machine with one BLAS thread, as worker
  pods run; a default run ~1.2 ms, a 10^6-agent run ~0.55 s), taken to hold per vCPU of the
  batch instances;
- pod overhead: ``POD_OVERHEAD_SECONDS`` per task (the sizing rule);
- JSONL bytes per run: 1.5 KB (``python -m bench.worker_memory``: 14 MiB for 10^4 default runs);
- the batch instance: c6i.2xlarge, 8 vCPU, 8 one-CPU workers per node (the chart's worker request
  is sized so that 8 fit beside the reservations and DaemonSets: docs/aws.md "Batch scaling"),
  $0.34 per hour on demand in us-east-1; spot at an assumed 65% discount;
- S3 (us-east-1, S3 Standard): $0.023 per GB-month, $0.005 per 1,000 PUT/LIST-class requests,
  $0.0004 per 1,000 GET-class requests; the worker's requests per task are counted below.

Run: ``python -m bench.cost``; it prints the Markdown table that docs/aws.md holds between its
``cost-table`` markers (a test checks that they agree).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.params import SimParams
from sweep_controller.execution.checkpoint import CHECKPOINT_SECONDS
from sweep_controller.execution.lease import RENEW_SECONDS
from sweep_controller.metrics.config import DEFAULT_PUSH_INTERVAL_SECONDS
from sweep_controller.spec.sizing import POD_OVERHEAD_SECONDS, format_seconds, run_seconds

INSTANCE = "c6i.2xlarge"
ON_DEMAND_PER_HOUR = 0.34
SPOT_DISCOUNT = 0.65
WORKERS_PER_NODE = 8  # tests/charts/test_karpenter.py holds it to the chart's fit
JSONL_BYTES_PER_RUN = 1500
S3_GB_MONTH = 0.023
S3_PUT_PER_1000 = 0.005
S3_GET_PER_1000 = 0.0004
PART_BYTES = 8 * 2**20  # S3Store's part_size
MULTIPART_ABOVE_BYTES = 16 * 2**20  # S3Store's multipart_threshold
# What one task's pod asks of S3, recorded against a real S3 server with the worker's metrics on
# (tests/infra/test_worker_s3_requests.py holds these to the recording). Fixed, per task: the
# bucket check and the look for the folder's seeding (LISTs), the task's lease (taken,
# released), the manifest, spec-copy and checkpoint reads, the look for earlier plans (a LIST),
# the JSONL (one PutObject; multipart above 16 MiB), the manifest, and the metric slot an earlier
# task released (claimed: a create that finds it taken, a LIST, a read and a create; written
# before the first and the last push; released), plus free deletes (the failure marker).
TASK_PUTS = 12
TASK_GETS = 10
# The metric slot's record (its lease generation with the slot's totals), in bytes: a task creates
# one, kept, and overwrites it at each push and at its release; the bucket is versioned, so each
# overwritten version is kept, billed, for NONCURRENT_DAYS (tests/infra/test_worker_s3_requests.py).
SLOT_RECORD_BYTES = 13_000
SLOT_OVERWRITES = 3  # the first push, the last push, the release
NONCURRENT_DAYS = 30  # Terraform's noncurrent_version_expiration_days default
# Periodic, per task: (what, every so many seconds, PUT-class, GET-class requests). A checkpoint
# uploads a part and rewrites the marker (both deleted, free, once the task commits); a metrics
# push and a lease renewal each read whether the lease was taken over, then rewrite it.
PERIODIC: tuple[tuple[str, float, int, int], ...] = (
    ("checkpoint", CHECKPOINT_SECONDS, 2, 0),
    ("metrics push", DEFAULT_PUSH_INTERVAL_SECONDS, 1, 1),
    ("lease renewal", RENEW_SECONDS, 1, 1),
)


@dataclass(frozen=True)
class Sweep:
    """One row of the table: a sweep and how its tasks are sized."""

    label: str
    runs: int
    params: SimParams
    runs_per_task: int


SWEEPS = (
    Sweep("10^7 default runs, sized (2-30 min per task)", 10**7, SimParams(), 200_000),
    Sweep("10^7 default runs at the 100k-task cap", 10**7, SimParams(), 100),
    Sweep("10^4 runs of 10^6 agents, sized", 10**4, SimParams(agents=10**6), 500),
    Sweep("10^8 default runs, sized", 10**8, SimParams(), 200_000),
)


@dataclass(frozen=True)
class Cost:
    """What a sweep costs on the batch nodes and in S3."""

    tasks: int
    task_minutes: float
    work_hours: float
    """vCPU-hours of simulation."""
    overhead_hours: float
    """vCPU-hours of pod start and stop."""
    on_demand: float
    spot: float
    s3_requests: float
    s3_gb: float
    s3_month: float


def cost(sweep: Sweep) -> Cost:
    """The cost of one sweep under the stated assumptions."""
    per_run = run_seconds(sweep.params)
    tasks = math.ceil(sweep.runs / sweep.runs_per_task)
    task_seconds = sweep.runs_per_task * per_run
    work = sweep.runs * per_run / 3600
    overhead = tasks * POD_OVERHEAD_SECONDS / 3600
    node_hours = (work + overhead) / WORKERS_PER_NODE
    task_bytes = sweep.runs_per_task * JSONL_BYTES_PER_RUN
    parts = 1 if task_bytes <= MULTIPART_ABOVE_BYTES else math.ceil(task_bytes / PART_BYTES)
    upload_puts = 0 if parts == 1 else parts + 1  # create + parts + complete, not one PutObject
    times = {what: math.floor(task_seconds / every) for what, every, _, _ in PERIODIC}
    puts = tasks * (TASK_PUTS + upload_puts + sum(times[w] * p for w, _, p, _ in PERIODIC))
    gets = tasks * (TASK_GETS + sum(times[w] * g for w, _, _, g in PERIODIC))
    slot_versions = 1 + (SLOT_OVERWRITES + times["metrics push"]) * NONCURRENT_DAYS / 30
    gb = (sweep.runs * JSONL_BYTES_PER_RUN + tasks * slot_versions * SLOT_RECORD_BYTES) / 1e9
    return Cost(
        tasks=tasks,
        task_minutes=task_seconds / 60,
        work_hours=work,
        overhead_hours=overhead,
        on_demand=node_hours * ON_DEMAND_PER_HOUR,
        spot=node_hours * ON_DEMAND_PER_HOUR * (1 - SPOT_DISCOUNT),
        s3_requests=puts / 1000 * S3_PUT_PER_1000 + gets / 1000 * S3_GET_PER_1000,
        s3_gb=gb,
        s3_month=gb * S3_GB_MONTH,
    )


def _figure(value: float) -> str:
    """Two significant figures below 10, whole numbers with thousands separators above."""
    return f"{value:.2g}" if value < 10 else f"{value:,.0f}"


def _money(value: float) -> str:
    return f"${value:,.2f}" if value < 100 else f"${value:,.0f}"


def table() -> str:
    """The Markdown table of docs/aws.md."""
    head = (
        "| Sweep | s/run | runs/task | tasks | work/task | vCPU-h work | vCPU-h pod overhead "
        "| on demand | spot | S3 requests | S3 GB (per month) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for sweep in SWEEPS:
        c = cost(sweep)
        rows.append(
            f"| {sweep.label} | {run_seconds(sweep.params):.2g} | {sweep.runs_per_task:,} "
            f"| {c.tasks:,} | {format_seconds(c.task_minutes * 60)} | {_figure(c.work_hours)} | "
            f"{_figure(c.overhead_hours)} | {_money(c.on_demand)} | {_money(c.spot)} | "
            f"{_money(c.s3_requests)} | {_figure(c.s3_gb)} ({_money(c.s3_month)}) |"
        )
    return head + "\n".join(rows) + "\n"


def main() -> int:
    """Print the table."""
    print(table(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
