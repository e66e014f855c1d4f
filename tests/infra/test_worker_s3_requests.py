"""The S3 requests the cost table of docs/aws.md bills per task are those a worker's pod makes.

A Job pod runs one task in a process of its own: it opens the sweep's store, runs the task and
pushes its metrics under a metric slot (``sweep_controller.execution.slot``), so each "pod" here
is a fresh ``S3Store`` and ``TaskContext`` running ``execute_task`` against a real S3 server
(SeaweedFS) and a real Pushgateway, with botocore's event hook recording every call it sends.
The calls are priced as S3 bills them: PUT, COPY, POST and LIST requests at the PUT rate, GET
and the rest at the GET rate, DELETE and the abort of a multipart upload free.

``bench/cost.py`` bills a task its fixed requests (``TASK_PUTS``, ``TASK_GETS``: a task of
ordinary length whose JSONL is one PutObject) plus its periodic ones (``PERIODIC``: a
checkpoint every ``CHECKPOINT_SECONDS``, a slot write before each metrics push, a lease renewal);
these tests hold both to what the pods did.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from kit.iam import PREFIX, S3Call, S3CallRecorder
from kit.promstack import Pushgateway
from kit.servers import SeaweedFS
from kit.specs import grid_doc

from bench import cost
from sweep_controller.execution.layout import PART_SUFFIX
from sweep_controller.execution.slot import SLOTS_DIR
from sweep_controller.execution.worker import TaskContext, execute_task
from sweep_controller.outcomes import TaskOutcome
from sweep_controller.spec.models import Sweep
from sweep_controller.store.s3 import S3Store

pytestmark = pytest.mark.integration

PUT_CLASS = frozenset(
    {
        "PutObject",
        "CopyObject",
        "ListObjectsV2",
        "ListObjects",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "ListMultipartUploads",
        "ListParts",
    }
)
FREE = frozenset({"DeleteObject", "AbortMultipartUpload"})
PARALLELISM = 2


def billed(calls: Sequence[S3Call]) -> tuple[int, int]:
    """(PUT-class, GET-class) requests among ``calls``."""
    puts = sum(1 for c in calls if c.operation in PUT_CLASS)
    gets = sum(1 for c in calls if c.operation not in PUT_CLASS | FREE)
    return puts, gets


def pod(
    bucket: str,
    sweep: Sweep,
    index: int,
    gateway: Pushgateway,
    *,
    checkpoint_seconds: float | None = None,
    **options: Any,
) -> list[S3Call]:
    """Run task ``index`` as a Job pod does; return every S3 call it made."""
    store = S3Store(bucket, PREFIX)
    recorder = S3CallRecorder()
    recorder.attach(store.client)
    ctx = TaskContext.open(sweep, store=store)
    if checkpoint_seconds is not None:
        ctx.checkpoint_seconds = checkpoint_seconds
    done = execute_task(ctx, index, pushgateway_url=gateway.url, parallelism=PARALLELISM, **options)
    assert done.outcome is TaskOutcome.SUCCEEDED, done.error
    return recorder.recorded()


def on(calls: Sequence[S3Call], operation: str, part: str) -> int:
    """How many of ``calls`` are ``operation`` on a key containing ``part``."""
    return sum(1 for c in calls if c.operation == operation and part in (c.key or ""))


@pytest.fixture(scope="module")
def pods(
    aws_to_seaweedfs: SeaweedFS, pushgateway: Pushgateway
) -> tuple[list[S3Call], list[S3Call], list[int]]:
    """A task of ordinary length, a slow one that checkpoints and pushes several times, and the
    sizes of the slot records the tasks left.

    Both take a metric slot an earlier task released, as nearly every task of a sweep does (a
    slot is used for the first time only by the first wave). The sweep's first tasks go first:
    task 0 also writes the sweep's spec copy, once per sweep.
    """
    bucket = aws_to_seaweedfs.create_bucket(f"govsim-cost-{uuid.uuid4().hex[:12]}")
    doc = grid_doc(f"cost-{uuid.uuid4().hex[:8]}", f"s3://{bucket}/{PREFIX}", runsPerTask=3)
    sweep = Sweep.model_validate(doc)
    for first_wave in range(PARALLELISM):
        pod(bucket, sweep, first_wave, pushgateway)
    ordinary = pod(bucket, sweep, PARALLELISM, pushgateway)
    slow = pod(
        bucket,
        sweep,
        PARALLELISM + 1,
        pushgateway,
        checkpoint_seconds=0.25,
        push_interval_seconds=0.25,
        on_run=lambda: time.sleep(0.5),
    )
    listed = aws_to_seaweedfs.client().list_objects_v2(
        Bucket=bucket, Prefix=f"{PREFIX}/{sweep.name}/{SLOTS_DIR}/"
    )
    return ordinary, slow, [item["Size"] for item in listed.get("Contents", [])]


def test_a_task_costs_the_fixed_requests_the_cost_table_bills(
    pods: tuple[list[S3Call], list[S3Call], list[int]],
) -> None:
    ordinary, _, _ = pods
    assert on(ordinary, "PutObject", ".jsonl") == 1  # the JSONL: one PutObject at this size
    # Its metrics went out under a slot an earlier task had held: a create that finds the
    # slot's first generation there, a listing of its generations, a read and a create.
    slot = f"/{SLOTS_DIR}/"
    assert [c.if_none_match for c in ordinary if c.operation == "PutObject" and slot in c.key][
        :2
    ] == ["*", "*"]
    assert billed(ordinary) == (cost.TASK_PUTS, cost.TASK_GETS), [
        (c.operation, c.key or c.prefix) for c in ordinary
    ]


def test_each_checkpoint_and_each_push_costs_what_the_cost_table_bills(
    pods: tuple[list[S3Call], list[S3Call], list[int]],
) -> None:
    ordinary, slow, _ = pods
    checkpoints = on(slow, "PutObject", ".checkpoint.json")
    assert on(slow, "PutObject", f".{PART_SUFFIX}") == checkpoints >= 2
    # A push writes the slot's totals first (its lease generation): the slot writes beyond
    # those of the ordinary task (claim, the first push, the last push, the release).
    slot = f"/{SLOTS_DIR}/"
    pushes = on(slow, "PutObject", slot) - on(ordinary, "PutObject", slot)
    assert pushes >= 2
    rates = {what: (puts, gets) for what, _, puts, gets in cost.PERIODIC}
    expected_puts = (
        cost.TASK_PUTS + checkpoints * rates["checkpoint"][0] + pushes * rates["metrics push"][0]
    )
    expected_gets = (
        cost.TASK_GETS + checkpoints * rates["checkpoint"][1] + pushes * rates["metrics push"][1]
    )
    assert billed(slow) == (expected_puts, expected_gets)
    # Once committed, the task's checkpoint is deleted (free requests): the marker and each part.
    assert on(slow, "DeleteObject", ".checkpoint.json") == 1
    assert on(slow, "DeleteObject", f".{PART_SUFFIX}") == checkpoints


def test_a_slot_record_is_the_size_the_cost_table_stores(
    pods: tuple[list[S3Call], list[S3Call], list[int]],
) -> None:
    *_, sizes = pods
    assert len(sizes) >= PARALLELISM + 2  # the first wave's generations, then one per later task
    assert 0.8 * cost.SLOT_RECORD_BYTES < max(sizes) < 1.25 * cost.SLOT_RECORD_BYTES, sizes
