"""The worker's IAM policy follows from what the worker does on S3, call by call.

Workers run task attempts (``execute_task``, what ``sweepctl worker`` runs in a Job pod) against
a real S3 server (SeaweedFS): a success, a task already done, a failure that leaves its failure
marker and a retry that succeeds and deletes it, a lease held by another attempt then released,
and a large task whose multipart upload is interrupted (and aborted) and then completed, each
pushing its metrics to a real Pushgateway under a metric slot it claims in the store. A
botocore hook on the store's own client records every S3 call: operation, bucket, key or list
prefix. Each call is mapped to the IAM actions it needs (with the KMS actions S3 performs for
the bucket's SSE-KMS key) and checked against the worker policy *as Terraform renders it*: the
state of ``infra/terraform/tests/rendered_policies.tftest.hcl``, applied with the mocked provider
for the same bucket and prefix. Then the other way round: every action the policy grants must be
used by some recorded call (least privilege).

The policy refuses nothing the worker does: the store's check that the bucket exists is a
ListObjectsV2 of at most one key under its own prefix (``S3Store._require_bucket``), which the
prefix-conditioned s3:ListBucket grant covers. Every read (GetObject) also needs s3:ListBucket on
the bucket with no s3:prefix, since S3 answers a read of a missing key with 404 only to a caller
that may list the bucket (``kit.iam``); the lease's next generation and a task's manifest are
often missing.

The evaluation (call -> IAM requests -> policy) lives in ``kit.iam``, shared with
tests/infra/test_controller_s3_policy.py, which derives the controller's policy the same way.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from kit.iam import (
    PREFIX,
    REGION,
    S3Call,
    S3CallRecorder,
    data_key_arn,
    granted,
    listed,
    policy_of,
    refused,
    used_grants,
)
from kit.promstack import Pushgateway
from kit.servers import SeaweedFS
from kit.specs import grid_doc

from sweep_controller.execution.layout import failure_key, manifest_key
from sweep_controller.execution.lease import Holder, TaskLease
from sweep_controller.execution.slot import SLOTS_DIR
from sweep_controller.execution.worker import TaskContext, execute_task
from sweep_controller.outcomes import TaskOutcome
from sweep_controller.spec.models import Sweep
from sweep_controller.store.s3 import S3Store

WORKER_POLICY = 'aws_iam_policy.irsa["worker"]'
KiB = 1024
# Grants the recorded cycle does not use but the worker needs: none.
DELIBERATE_EXTRAS: frozenset[tuple[str, str]] = frozenset()


# --- the recorded task cycle -------------------------------------------------------------------


@dataclass
class Cycle:
    """What the recorded attempts did, and what the store held in between."""

    bucket: str
    calls: list[S3Call]
    outcomes: dict[str, TaskOutcome]
    errors: dict[str, str]
    marker_after_failure: bool
    marker_after_retry: bool
    uploads_after_interruption: int
    committed: dict[tuple[str, int], bool]


def _run_cycle(server: SeaweedFS, bucket: str, pushgateway_url: str) -> Cycle:
    plain = server.client()  # the test's own client: its checks are not recorded
    recorder = S3CallRecorder()
    # A low multipart threshold sends the large task through the multipart path with a small
    # sweep; the small tasks stay below it (one PutObject each), as in production. Parts keep
    # the store's size (S3 refuses parts under 5 MiB but the last), so the upload has one part.
    store = S3Store(bucket, PREFIX, multipart_threshold=256 * KiB)
    recorder.attach(store.client)
    output = f"s3://{bucket}/{PREFIX}"
    small = Sweep.model_validate(grid_doc(f"iam-{uuid.uuid4().hex[:8]}", output, traces="parquet"))
    # About 1.2 MB of records in one task: two upload chunks, so a stop can land mid-upload.
    large = Sweep.model_validate(
        grid_doc(f"iam-big-{uuid.uuid4().hex[:8]}", output, replicates=134, runsPerTask=804)
    )
    ctx, big = TaskContext.open(small, store=store), TaskContext.open(large, store=store)

    def exists(key: str) -> bool:
        found = plain.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/{key}")
        return bool(found.get("Contents"))

    outcomes: dict[str, TaskOutcome] = {}
    errors: dict[str, str] = {}

    def attempt(label: str, task: TaskContext, index: int, **options: Any) -> None:
        done = execute_task(task, index, pushgateway_url=pushgateway_url, parallelism=2, **options)
        outcomes[label] = done.outcome
        if done.error:
            errors[label] = done.error

    attempt("success", ctx, 0)
    attempt("already done", ctx, 0)

    def node_lost() -> None:
        raise RuntimeError("the node was lost")

    attempt("failure", ctx, 1, on_run=node_lost)
    marker_after_failure = exists(failure_key(small.name, 1))
    attempt("retry", ctx, 1)
    marker_after_retry = exists(failure_key(small.name, 1))

    other = TaskLease(store, small.name, 2, Holder.here(uuid.uuid4().hex))
    assert other.acquire() is None
    attempt("held", ctx, 2, wait_for_lease=False)
    assert other.renew() is None
    other.release()
    attempt("after release", ctx, 2)

    def mid_upload() -> bool:
        return recorder.saw("CreateMultipartUpload", large.name)

    attempt("interrupted upload", big, 0, should_stop=mid_upload)
    uploads = plain.list_multipart_uploads(Bucket=bucket, Prefix=f"{PREFIX}/{large.name}/")
    attempt("large retry", big, 0)
    committed = {
        (name, i): exists(manifest_key(name, i))
        for name, i in ((small.name, 0), (small.name, 1), (small.name, 2), (large.name, 0))
    }
    return Cycle(
        bucket=bucket,
        calls=list(recorder.calls),
        outcomes=outcomes,
        errors=errors,
        marker_after_failure=marker_after_failure,
        marker_after_retry=marker_after_retry,
        uploads_after_interruption=len(uploads.get("Uploads", [])),
        committed=committed,
    )


@pytest.fixture(scope="module")
def cycle(aws_to_seaweedfs: SeaweedFS, iam_bucket: str, pushgateway: Pushgateway) -> Cycle:
    """Run the recorded task attempts once for the module, metrics on (as in a Job's pods)."""
    return _run_cycle(aws_to_seaweedfs, iam_bucket, pushgateway.url)


@pytest.fixture(scope="module")
def policy(rendered: dict[str, Any]) -> dict[str, Any]:
    """The worker's policy as Terraform renders it."""
    return policy_of(rendered, WORKER_POLICY)


def test_the_cycle_went_as_planned(cycle: Cycle) -> None:
    """Each attempt ended as intended, the marker came and went, the interrupted upload vanished."""
    assert cycle.outcomes == {
        "success": TaskOutcome.SUCCEEDED,
        "already done": TaskOutcome.SKIPPED,
        "failure": TaskOutcome.FAILED,
        "retry": TaskOutcome.SUCCEEDED,
        "held": TaskOutcome.HELD,
        "after release": TaskOutcome.SUCCEEDED,
        "interrupted upload": TaskOutcome.INTERRUPTED,
        "large retry": TaskOutcome.SUCCEEDED,
    }, cycle.errors
    assert cycle.marker_after_failure and not cycle.marker_after_retry
    assert cycle.uploads_after_interruption == 0
    assert all(cycle.committed.values()), cycle.committed


def test_the_recording_covers_every_path(cycle: Cycle) -> None:
    """Reads, lists, conditional and plain puts, deletes and all multipart calls were recorded."""
    operations = {c.operation for c in cycle.calls}
    assert {
        "GetObject",
        "ListObjectsV2",
        "PutObject",
        "DeleteObject",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
    } <= operations, operations
    assert {c.bucket for c in cycle.calls} == {cycle.bucket}
    # The metric slots: claimed (a create if absent), listed, written before pushes.
    slots = [c for c in cycle.calls if f"/{SLOTS_DIR}/" in (c.key or c.prefix or "")]
    assert {(c.operation, c.if_none_match) for c in slots} >= {
        ("PutObject", "*"),
        ("PutObject", None),
        ("GetObject", None),
        ("ListObjectsV2", None),
    }


def test_every_recorded_call_is_allowed(
    cycle: Cycle, policy: dict[str, Any], rendered: dict[str, Any]
) -> None:
    """Each call's IAM actions are allowed on its key or prefix."""
    missing = refused(policy, cycle.calls, data_key_arn(rendered), REGION)
    assert not missing, "the worker policy refuses calls the worker makes:\n" + "\n".join(missing)


def test_the_policy_grants_nothing_the_worker_never_does(
    cycle: Cycle, policy: dict[str, Any], rendered: dict[str, Any]
) -> None:
    """Every (statement, action) the policy grants is used by a recorded call."""
    used = used_grants(policy, cycle.calls, data_key_arn(rendered), REGION)
    unused = granted(policy) - used - DELIBERATE_EXTRAS
    assert not unused, f"granted but never used by the worker: {sorted(unused)}"


def test_the_object_grants_stop_at_the_results_prefix(
    policy: dict[str, Any], rendered: dict[str, Any], iam_bucket: str
) -> None:
    """No statement names more than the bucket, the prefix's objects and the data key."""
    resources = {r for s in policy["Statement"] for r in listed(s["Resource"])}
    assert resources == {
        f"arn:aws:s3:::{iam_bucket}",
        f"arn:aws:s3:::{iam_bucket}/{PREFIX}/*",
        data_key_arn(rendered),
    }
