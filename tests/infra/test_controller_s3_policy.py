"""The controller's IAM policy follows from what the controller does on S3, call by call.

Adaptive sweeps (``method: optuna``) make the controller a client of the sweep's store: between
rounds it reads the finished round's results and stores the next round's points before it creates
the next round's Job. Here the controller itself (``Controller.reconcile_named``, what its kopf
handlers call) runs a 3-round sweep on the fake Kubernetes API (kmock), opening the store as in
production (``store_opener`` with the cluster's S3 endpoint, region and addressing) on a real S3
server (SeaweedFS). The test plays the Job controller: each round's tasks run through the real
worker (with a store of its own, not recorded) and the round's Job is then marked finished. On the
way: a reconcile while a round runs, a task that fails within ``maxFailedIndexes`` (its manifest is
missing when the controller reads the round), another planner that stores round 2's identical
points first (the controller's create-if-absent is refused and it reads the stored file), and
reconciles of the finished sweep and of a grid sweep.

A botocore hook on each store's client records every S3 call, and ``kit.iam`` (shared with
tests/infra/test_worker_s3_policy.py) checks them against the controller's policy *as Terraform
renders it*: every call is allowed, every grant is used, and the policy refuses what only workers
do (write task results, leases and failure markers, delete, abort uploads).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grimp
import kmock
import pytest
from kit.iam import (
    PREFIX,
    REGION,
    Request,
    S3Call,
    S3CallRecorder,
    allowing,
    data_key_arn,
    granted,
    listed,
    policy_of,
    refused,
    requests_for,
    used_grants,
)
from kit.kube import NAMESPACE, api_for, call, condition, declare, resource
from kit.servers import SeaweedFS
from kubernetes import client as k8s

from sweep_controller.commands.worker import in_round
from sweep_controller.execution.layout import (
    data_key,
    failure_key,
    lease_key,
    manifest_key,
    round_key,
    trace_key,
)
from sweep_controller.execution.worker import TaskContext, execute_task
from sweep_controller.k8s.api import KubeApi
from sweep_controller.k8s.config import ControllerConfig
from sweep_controller.k8s.controller import Controller, StoreOpener, store_opener
from sweep_controller.outcomes import TaskOutcome
from sweep_controller.spec.loading import sweep_from_resource
from sweep_controller.store import S3Store, Store

CONTROLLER_POLICY = 'aws_iam_policy.irsa["controller"]'
NOW = datetime(2025, 1, 1, 2, 0, 0, tzinfo=UTC)
NAME = "quorum-boundary"
GRID = "whale-vs-conformity"
SPEC = {"rounds": 3, "pointsPerRound": 4, "replicates": 5, "runsPerTask": 10, "maxFailedIndexes": 1}
"""3 rounds of 4 points, 5 replicates: 2 tasks a round; one failed task a round is tolerated."""
FAILING_TASK = (1, 1)
"""(round, Job index) of the task that fails: task 3 of the sweep."""
RACED_ROUND = 2
"""The round whose points another planner stores first."""
# Grants the recorded rounds do not use but the controller needs: none.
DELIBERATE_EXTRAS: frozenset[tuple[str, str]] = frozenset()


@dataclass
class Rounds:
    """What the controller did on S3 while the sweep ran, and what the sweep ended as."""

    bucket: str
    calls: list[S3Call]
    opened: list[str]
    status: dict[str, Any]
    round_files: dict[int, bool]
    raced: bool
    calls_when_finished: list[S3Call]
    """Calls made by a reconcile of the finished sweep and of a grid sweep."""
    opened_when_finished: list[str]


def _recording(opener: StoreOpener, recorder: S3CallRecorder, opened: list[str],
               race: Callable[..., None]) -> StoreOpener:  # fmt: skip
    """The controller's own opener, with the recorder (and the racing planner) on each client."""

    def open_for(uri: str) -> Store:
        store = opener(uri)
        assert isinstance(store, S3Store), store
        recorder.attach(store.client)
        store.client.meta.events.register("provide-client-params.s3.PutObject", race)
        opened.append(uri)
        return store

    return open_for


def _fail(*_: Any) -> None:
    raise RuntimeError("the node was lost")


async def _run_round(api: KubeApi, k: int, workers: Store) -> None:
    """The Job controller's part: run round ``k``'s tasks through the real worker (``sweepctl
    worker --round k``), then mark the round's Job Complete, or Failed with its failed indexes."""
    job = await call(api.read_job, NAMESPACE, f"{NAME}-r{k}")
    assert job is not None, f"round {k}'s Job was not created"
    sweep = sweep_from_resource(await call(api.read_sweep, NAMESPACE, NAME))
    context = TaskContext.open(sweep, store=workers)
    done, failed = [], []
    for index in range(job["spec"]["completions"]):
        on_run = _fail if (k, index) == FAILING_TASK else None
        attempt = await call(execute_task, context, in_round(sweep, k, index), on_run=on_run)
        (done if attempt.outcome is TaskOutcome.SUCCEEDED else failed).append(index)
    status: dict[str, Any] = {
        "startTime": "2025-01-01T00:10:00Z",
        "completedIndexes": ",".join(map(str, done)),
        "succeeded": len(done),
        "failed": len(failed),
        "conditions": [condition("Failed", "FailedIndexes") if failed else condition("Complete")],
    }
    if failed:
        status["failedIndexes"] = ",".join(map(str, failed))
    batch = k8s.BatchV1Api(api.batch.api_client)
    await call(batch.patch_namespaced_job_status, f"{NAME}-r{k}", NAMESPACE, {"status": status})


async def _drive(server: SeaweedFS, bucket: str) -> Rounds:
    plain = server.client()  # the test's own client: its calls are not recorded
    recorder, opened = S3CallRecorder(), []
    raced: list[str] = []
    raced_key = f"{PREFIX}/{round_key(NAME, RACED_ROUND)}"

    def race(params: dict[str, Any], **_: Any) -> None:
        """Another planner (``sweepctl run`` on the same prefix) stores the same points first."""
        if params.get("Key") == raced_key and not raced:
            plain.put_object(Bucket=params["Bucket"], Key=params["Key"], Body=params["Body"])
            raced.append(params["Key"])

    def stored(key: str) -> bool:
        return "Contents" in plain.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/{key}")

    config = ControllerConfig(
        s3_bucket=bucket,
        s3_prefix=PREFIX,
        s3_endpoint=server.endpoint_url,
        s3_region=REGION,
        s3_addressing="path",
    )
    stores = _recording(store_opener(config), recorder, opened, race)
    workers = S3Store(bucket, PREFIX)  # the workers' store: their calls are not the controller's

    async with kmock.KubernetesEmulator() as fake, kmock.Server(fake):
        declare(fake)
        api = api_for(fake)
        controller = Controller(api, config, clock=lambda: NOW, stores=stores)
        fake.objects["govsim.io/v1alpha1/sweeps", NAMESPACE, NAME] = resource(NAME, spec=SPEC)
        for k in range(3):
            # The first reconcile plans round k (from the results of the rounds before it) and
            # creates its Job; the second finds the round running.
            await call(controller.reconcile_named, NAMESPACE, NAME)
            await call(controller.reconcile_named, NAMESPACE, NAME)
            await _run_round(api, k, workers)
        await call(controller.reconcile_named, NAMESPACE, NAME)  # the last round: the answer
        final = (await call(api.read_sweep, NAMESPACE, NAME))["status"]

        calls, opened_before = recorder.recorded(), list(opened)
        await call(controller.reconcile_named, NAMESPACE, NAME)  # finished: left alone
        fake.objects["govsim.io/v1alpha1/sweeps", NAMESPACE, GRID] = resource(GRID)
        await call(controller.reconcile_named, NAMESPACE, GRID)
        assert await call(api.read_job, NAMESPACE, GRID) is not None, "no Job for the grid sweep"

    return Rounds(
        bucket=bucket,
        calls=calls,
        opened=opened_before,
        status=final,
        round_files={k: stored(round_key(NAME, k)) for k in range(4)},
        raced=bool(raced),
        calls_when_finished=recorder.recorded()[len(calls) :],
        opened_when_finished=opened[len(opened_before) :],
    )


@pytest.fixture(scope="module")
def rounds(aws_to_seaweedfs: SeaweedFS, iam_bucket: str) -> Rounds:
    """Run the recorded sweep once for the module."""
    return asyncio.run(_drive(aws_to_seaweedfs, iam_bucket))


@pytest.fixture(scope="module")
def policy(rendered: dict[str, Any]) -> dict[str, Any]:
    """The controller's policy as Terraform renders it."""
    return policy_of(rendered, CONTROLLER_POLICY)


# --- what the controller did ---------------------------------------------------------------------


def test_the_sweep_went_as_planned(rounds: Rounds) -> None:
    """Three rounds stored and run, the failed task tolerated and counted, the race lost."""
    status = rounds.status
    assert status["phase"] == "Succeeded", status.get("message")
    assert (status["tasksDone"], status["tasksFailed"], status["tasksTotal"]) == (5, 1, 6)
    assert status["failedIndexes"] == "3"
    assert status["search"]["round"] == 2 and "bestPoint" in status["search"]
    assert rounds.round_files == {0: True, 1: True, 2: True, 3: False}
    assert rounds.raced
    assert set(rounds.opened) == {f"s3://{rounds.bucket}/{PREFIX}"}


def test_the_recording_covers_every_path(rounds: Rounds) -> None:
    """Listings, reads of round files, manifests and records, a read of a missing manifest, the
    round writes and the read-back of the round another planner stored first."""
    assert {c.operation for c in rounds.calls} == {"ListObjectsV2", "GetObject", "PutObject"}
    gets = [c.key or "" for c in rounds.calls if c.operation == "GetObject"]
    assert f"{PREFIX}/{manifest_key(NAME, 3)}" in gets  # the failed task: never committed
    assert any(re.fullmatch(rf"{PREFIX}/{NAME}/tasks/.*\.jsonl(\.gz)?", k) for k in gets), gets
    raced = f"{PREFIX}/{round_key(NAME, RACED_ROUND)}"
    put_at = next(
        i for i, c in enumerate(rounds.calls) if c.key == raced and c.operation == "PutObject"
    )
    # refused (the key exists), the controller reads the stored file right away
    assert rounds.calls[put_at + 1] == S3Call("GetObject", rounds.bucket, raced)
    assert {c.bucket for c in rounds.calls} == {rounds.bucket}


def test_the_controller_writes_only_round_files_and_only_if_absent(rounds: Rounds) -> None:
    """Each write creates a round file (If-None-Match: *); no delete, no multipart upload."""
    puts = [c for c in rounds.calls if c.operation == "PutObject"]
    assert sorted({c.key or "" for c in puts}) == [
        f"{PREFIX}/{round_key(NAME, k)}" for k in range(3)
    ]
    assert {c.if_none_match for c in puts} == {"*"}


def test_a_finished_sweep_and_a_grid_sweep_leave_the_store_alone(rounds: Rounds) -> None:
    """Only an unfinished adaptive sweep opens its store."""
    assert rounds.opened_when_finished == []
    assert rounds.calls_when_finished == []


def test_the_controller_code_reaches_the_store_but_not_task_execution() -> None:
    """The controller imports the store and the round files, never the code that runs tasks."""
    graph = grimp.build_graph("sweep_controller", include_external_packages=True)
    reached = set()
    for root in ("sweep_controller.k8s", "sweep_controller.commands.controller"):
        reached |= graph.find_upstream_modules(root, as_package=root == "sweep_controller.k8s")
    assert {"boto3", "sweep_controller.store.s3", "sweep_controller.execution.rounds"} <= reached
    task_execution = {
        f"sweep_controller.execution.{m}"
        for m in ("worker", "commit", "lease", "spool", "pool", "runner", "cleanup", "adaptive")
    }
    assert not reached & task_execution, sorted(reached & task_execution)


# --- the policy as Terraform renders it ----------------------------------------------------------


def test_every_recorded_call_is_allowed(
    rounds: Rounds, policy: dict[str, Any], rendered: dict[str, Any]
) -> None:
    """Each call's IAM actions are allowed on its key or prefix."""
    missing = refused(policy, rounds.calls, data_key_arn(rendered), REGION)
    assert not missing, "the controller policy refuses calls it makes:\n" + "\n".join(missing)


def test_the_policy_grants_nothing_the_controller_never_does(
    rounds: Rounds, policy: dict[str, Any], rendered: dict[str, Any]
) -> None:
    """Every (statement, action) the policy grants is used by a recorded call."""
    used = used_grants(policy, rounds.calls, data_key_arn(rendered), REGION)
    unused = granted(policy) - used - DELIBERATE_EXTRAS
    assert not unused, f"granted but never used by the controller: {sorted(unused)}"


def test_the_grants_name_the_prefix_and_its_round_files(
    policy: dict[str, Any], rendered: dict[str, Any], iam_bucket: str
) -> None:
    """List and read under the prefix, write only round files, the data key only through S3."""
    by_action = {
        a: sorted(listed(s["Resource"])) for s in policy["Statement"] for a in listed(s["Action"])
    }
    bucket = f"arn:aws:s3:::{iam_bucket}"
    assert by_action == {
        "s3:ListBucket": [bucket],
        "s3:GetObject": [f"{bucket}/{PREFIX}/*"],
        "s3:PutObject": [f"{bucket}/{PREFIX}/*/rounds/*"],
        "kms:Decrypt": [data_key_arn(rendered)],
        "kms:GenerateDataKey": [data_key_arn(rendered)],
    }


def _object(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{PREFIX}/{key}"


def test_the_policy_refuses_what_only_workers_do(
    policy: dict[str, Any], rendered: dict[str, Any], iam_bucket: str
) -> None:
    """No write of a task's results, lease or failure marker (also of a sweep named "rounds"), no
    delete, no upload abort; nothing outside the prefix; the data key not directly."""
    run = uuid.UUID(int=1)
    worker_keys = [
        key
        for name in (NAME, "rounds")
        for key in (
            manifest_key(name, 0),
            data_key(name, 0, "c0ffee", "jsonl"),
            trace_key(name, 0, run),
            failure_key(name, 0),
            lease_key(name, 0, 1),
        )
    ]
    requests = [
        Request(action, _object(iam_bucket, key))
        for key in worker_keys
        for action in ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
    ]
    requests += [
        Request("s3:DeleteObject", _object(iam_bucket, round_key(NAME, 0))),
        Request("s3:GetObject", f"arn:aws:s3:::{iam_bucket}/other/{round_key(NAME, 0)}"),
        Request("s3:PutObject", f"arn:aws:s3:::{iam_bucket}/other/{round_key(NAME, 0)}"),
        Request("s3:ListBucket", f"arn:aws:s3:::{iam_bucket}", (("s3:prefix", ""),)),
        Request("s3:ListBucket", f"arn:aws:s3:::{iam_bucket}", (("s3:prefix", "other/"),)),
        Request("s3:ListBucketMultipartUploads", f"arn:aws:s3:::{iam_bucket}"),
        Request("kms:Decrypt", data_key_arn(rendered)),  # not through S3
    ]
    allowed = [str(r) for r in requests if allowing(policy, r)]
    assert not allowed, "the controller policy allows:\n" + "\n".join(allowed)


def test_the_round_write_grant_covers_the_round_files_of_any_sweep(
    policy: dict[str, Any], rendered: dict[str, Any], iam_bucket: str
) -> None:
    """Round files of other sweeps under the prefix may be created too (one policy, any sweep)."""
    for name in ("a", "boundary-search-2"):
        put = S3Call("PutObject", iam_bucket, f"{PREFIX}/{round_key(name, 12)}", None, "*")
        for request in requests_for(put, data_key_arn(rendered), REGION):
            assert allowing(policy, request), request
