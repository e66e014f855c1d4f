"""The worker's IAM policy follows from what the worker does on S3, call by call.

Workers run task attempts (``execute_task``, what ``sweepctl worker`` runs in a Job pod) against
a real S3 server (SeaweedFS): a success, a task already done, a failure that leaves its failure
marker and a retry that succeeds and deletes it, a lease held by another attempt then released,
and a large task whose multipart upload is interrupted (and aborted) and then completed. A
botocore hook on the store's own client records every S3 call: operation, bucket, key or list
prefix. Each call is mapped to the IAM actions it needs (with the KMS actions S3 performs for
the bucket's SSE-KMS key) and checked against the worker policy *as Terraform renders it*: the
state of ``infra/terraform/tests/rendered_policies.tftest.hcl``, applied with the mocked provider
for the same bucket and prefix. Then the other way round: every action the policy grants must be
used by some recorded call (least privilege).

The policy refuses nothing the worker does: the store's check that the bucket exists is a
ListObjectsV2 of at most one key under its own prefix (``S3Store._require_bucket``), which the
prefix-conditioned s3:ListBucket grant covers; a HeadBucket would need s3:ListBucket on the whole
bucket.

The controller makes no AWS call at all (it talks to the Kubernetes API only); the last test holds
its code to that and its role to no policy.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grimp
import pytest
from kit.infra import Terraform
from kit.servers import SeaweedFS, aws_env_for
from kit.specs import grid_doc

from sweep_controller.execution.layout import failure_key, manifest_key
from sweep_controller.execution.lease import Holder, TaskLease
from sweep_controller.execution.worker import TaskContext, execute_task
from sweep_controller.outcomes import TaskOutcome
from sweep_controller.spec.models import Sweep
from sweep_controller.store.s3 import S3Store

REGION = "us-east-1"
PREFIX = "sweeps"
KiB = 1024
WORKER_POLICY = 'aws_iam_policy.irsa["worker"]'

# S3 operation -> IAM actions it needs and whether they apply to the object or the bucket.
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations.html (each page's "Permissions").
OBJECT_ACTIONS: Mapping[str, tuple[str, ...]] = {
    "GetObject": ("s3:GetObject",),
    "HeadObject": ("s3:GetObject",),
    "PutObject": ("s3:PutObject",),  # If-None-Match (create-if-absent) needs nothing more
    "CopyObject": ("s3:PutObject",),  # (and s3:GetObject on the source, not used here)
    "DeleteObject": ("s3:DeleteObject",),
    "CreateMultipartUpload": ("s3:PutObject",),
    "UploadPart": ("s3:PutObject",),
    "CompleteMultipartUpload": ("s3:PutObject",),
    "AbortMultipartUpload": ("s3:AbortMultipartUpload",),
    "ListParts": ("s3:ListMultipartUploadParts",),
}
BUCKET_ACTIONS: Mapping[str, str] = {
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
}
# What S3 asks KMS for on the caller's behalf when the bucket uses an SSE-KMS key: a data key to
# write, a decrypt to read; a multipart upload needs both (S3 reads the parts to complete it).
KMS_ACTIONS: Mapping[str, tuple[str, ...]] = {
    "PutObject": ("kms:GenerateDataKey",),
    "CreateMultipartUpload": ("kms:GenerateDataKey", "kms:Decrypt"),
    "GetObject": ("kms:Decrypt",),
}
# Grants the recorded cycle does not use but the worker needs: none.
DELIBERATE_EXTRAS: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class S3Call:
    """One S3 API call as the worker's client sent it."""

    operation: str
    bucket: str
    key: str | None = None
    prefix: str | None = None


@dataclass
class S3CallRecorder:
    """A botocore hook that records every call a client makes (before it is sent)."""

    calls: list[S3Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, client: Any) -> None:
        """Record every S3 operation ``client`` makes from now on."""
        client.meta.events.register("provide-client-params.s3.*", self._record)

    def _record(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        call = S3Call(model.name, params["Bucket"], params.get("Key"), params.get("Prefix"))
        with self._lock:
            self.calls.append(call)

    def saw(self, operation: str, key_part: str) -> bool:
        """Whether a call of ``operation`` on a key containing ``key_part`` was made."""
        with self._lock:
            return any(c.operation == operation and key_part in (c.key or "") for c in self.calls)


@dataclass(frozen=True)
class Request:
    """One IAM authorization a call needs: action, resource ARN and the request's context keys."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()


def requests_for(call: S3Call, kms_key_arn: str) -> list[Request]:
    """The IAM authorizations ``call`` needs (S3, then KMS through S3)."""
    if call.operation in OBJECT_ACTIONS:
        assert call.key is not None, call
        arn = f"arn:aws:s3:::{call.bucket}/{call.key}"
        found = [Request(a, arn) for a in OBJECT_ACTIONS[call.operation]]
    elif call.operation in BUCKET_ACTIONS:
        context = () if call.prefix is None else (("s3:prefix", call.prefix),)
        found = [Request(BUCKET_ACTIONS[call.operation], f"arn:aws:s3:::{call.bucket}", context)]
    else:
        raise AssertionError(
            f"{call.operation}: no IAM mapping; add it to OBJECT_ACTIONS or BUCKET_ACTIONS"
        )
    via = (("kms:ViaService", f"s3.{REGION}.amazonaws.com"),)
    found += [Request(a, kms_key_arn, via) for a in KMS_ACTIONS.get(call.operation, ())]
    return found


def _glob(pattern: str) -> re.Pattern[str]:
    """An IAM wildcard pattern (* and ?) as a regex."""
    return re.compile(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."))


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _condition_holds(
    condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]
) -> bool:
    for operator, block in condition.items():
        for key, wanted in block.items():
            value = context.get(key)
            if value is None:  # a missing key fails every String* operator without IfExists
                return False
            if operator == "StringEquals":
                ok = value in _listed(wanted)
            elif operator == "StringLike":
                ok = any(_glob(w).fullmatch(value) for w in _listed(wanted))
            else:
                raise AssertionError(f"condition operator {operator}: not evaluated by this test")
            if not ok:
                return False
    return True


def allowing(policy: Mapping[str, Any], request: Request) -> list[tuple[str, str]]:
    """The (statement Sid, action pattern) pairs of ``policy`` that allow ``request``."""
    found = []
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow", f"Deny statements are not evaluated: {statement}"
        if not any(_glob(r).fullmatch(request.resource) for r in _listed(statement["Resource"])):
            continue
        if not _condition_holds(statement.get("Condition", {}), dict(request.context)):
            continue
        found += [
            (statement["Sid"], a)
            for a in _listed(statement["Action"])
            if _glob(a.lower()).fullmatch(request.action.lower())
        ]
    return found


def granted(policy: Mapping[str, Any]) -> set[tuple[str, str]]:
    """Every (statement Sid, action pattern) the policy grants."""
    return {(s["Sid"], a) for s in policy["Statement"] for a in _listed(s["Action"])}


# --- Terraform: the policy as rendered ---------------------------------------------------------


def rendered_state(terraform: Terraform, bucket: str) -> dict[str, dict[str, Any]]:
    """Resource address -> values, from the mocked apply of tests/rendered_policies.tftest.hcl."""
    done = terraform.run(
        "test",
        "-no-color",
        "-verbose",
        "-json",
        "-filter=tests/rendered_policies.tftest.hcl",
        f"-var=results_bucket_name={bucket}",
        f"-var=results_prefix={PREFIX}",
        f"-var=region={REGION}",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for line in done.stdout.splitlines():
        message = json.loads(line)
        if message.get("type") == "test_state":
            resources = message["test_state"]["root_module"]["resources"]
            return {r["address"]: r["values"] for r in resources}
    raise AssertionError("terraform test -verbose -json printed no state")


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


def _run_cycle(server: SeaweedFS, bucket: str) -> Cycle:
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
        done = execute_task(task, index, **options)
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
def cycle(seaweedfs: SeaweedFS, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cycle]:
    """Run the recorded task attempts once for the module."""
    if not seaweedfs.running:
        seaweedfs.start()
    bucket = seaweedfs.create_bucket(f"govsim-iam-{uuid.uuid4().hex[:12]}")
    home = tmp_path_factory.mktemp("aws-home")
    with pytest.MonkeyPatch.context() as env:
        for name in (
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
            "AWS_SESSION_TOKEN",
            "GOVSIM_S3_ADDRESSING",
        ):
            env.delenv(name, raising=False)
        for name, value in aws_env_for(seaweedfs, Path(home)).items():
            env.setenv(name, value)
        yield _run_cycle(seaweedfs, bucket)


@pytest.fixture(scope="module")
def rendered(terraform: Terraform, cycle: Cycle) -> dict[str, dict[str, Any]]:
    """The Terraform state rendered for the cycle's bucket and prefix."""
    return rendered_state(terraform, cycle.bucket)


def _data_key_arn(state: Mapping[str, Mapping[str, Any]]) -> str:
    """The KMS key the results bucket encrypts with, as the state names it."""
    sse = state["aws_s3_bucket_server_side_encryption_configuration.results"]
    key = sse["rule"][0]["apply_server_side_encryption_by_default"][0]["kms_master_key_id"]
    return str(key)


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


def test_every_recorded_call_is_allowed(cycle: Cycle, rendered: dict[str, Any]) -> None:
    """Each call's IAM actions are allowed on its key or prefix."""
    policy = json.loads(rendered[WORKER_POLICY]["policy"])
    kms_key = _data_key_arn(rendered)
    refused = sorted(
        {
            f"{call.operation} {request.action} {request.resource} {dict(request.context)}"
            for call in cycle.calls
            for request in requests_for(call, kms_key)
            if not allowing(policy, request)
        }
    )
    assert not refused, "the worker policy refuses calls the worker makes:\n" + "\n".join(refused)


def test_the_policy_grants_nothing_the_worker_never_does(
    cycle: Cycle, rendered: dict[str, Any]
) -> None:
    """Every (statement, action) the policy grants is used by a recorded call."""
    policy = json.loads(rendered[WORKER_POLICY]["policy"])
    kms_key = _data_key_arn(rendered)
    used = {
        grant
        for call in cycle.calls
        for request in requests_for(call, kms_key)
        for grant in allowing(policy, request)
    }
    unused = granted(policy) - used - DELIBERATE_EXTRAS
    assert not unused, f"granted but never used by the worker: {sorted(unused)}"


def test_the_object_grants_stop_at_the_results_prefix(
    rendered: dict[str, Any], cycle: Cycle
) -> None:
    """No statement names more than the bucket, the prefix's objects and the data key."""
    policy = json.loads(rendered[WORKER_POLICY]["policy"])
    resources = {r for s in policy["Statement"] for r in _listed(s["Resource"])}
    assert resources == {
        f"arn:aws:s3:::{cycle.bucket}",
        f"arn:aws:s3:::{cycle.bucket}/{PREFIX}/*",
        _data_key_arn(rendered),
    }


def test_the_controller_makes_no_aws_call(rendered: dict[str, Any]) -> None:
    """No module the controller runs reaches boto3 or the store, and its role has no policy."""
    graph = grimp.build_graph("sweep_controller", include_external_packages=True)
    reached = set()
    for root in ("sweep_controller.k8s", "sweep_controller.commands.controller"):
        reached |= graph.find_upstream_modules(root, as_package=root == "sweep_controller.k8s")
    s3_code = (
        "boto3",
        "botocore",
        "s3transfer",
        "sweep_controller.store",
        "sweep_controller.execution",
    )
    s3 = sorted(m for m in reached if m == s3_code[0] or m.startswith(s3_code))
    assert not s3, f"the controller now reaches S3 code: {s3}; give its role a policy"
    assert 'aws_iam_policy.irsa["controller"]' not in rendered
    assert 'aws_iam_role.irsa["controller"]' in rendered
