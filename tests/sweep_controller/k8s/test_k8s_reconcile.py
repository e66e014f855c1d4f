"""Table-driven tests of the pure reconcile: plain dicts in, actions out, no API and no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from kit.kube import NAMESPACE, UID, condition, merge_patch, resource, with_job_status

from sweep_controller.errors import SpecDeprecationWarning
from sweep_controller.k8s.config import ControllerConfig
from sweep_controller.k8s.objects import (
    Owner,
    build_configmap,
    build_job,
)
from sweep_controller.k8s.reconcile import (
    Action,
    CreateConfigMap,
    CreateError,
    CreateJob,
    DeletePushgatewayGroups,
    EmitEvent,
    EventType,
    FailedCreate,
    Observed,
    UpdateStatus,
    count_indexes,
    reconcile,
    settled,
)
from sweep_controller.spec.loading import sweep_from_resource

NOW = datetime(2025, 1, 1, 2, 0, 0, 123456, tzinfo=UTC)
CONFIG = ControllerConfig(
    s3_bucket="govsim-results",
    s3_prefix="sweeps",
    pushgateway_url="http://pushgateway:9091",
    pushgateway_cleanup_grace_seconds=600,
)
NO_PUSHGATEWAY = CONFIG.model_copy(update={"pushgateway_url": None})
RESULTS = "s3://govsim-results/sweeps/whale-vs-conformity/"
TOTAL = 8  # 80 runs, 10 per task


def children(res: dict[str, Any], config: ControllerConfig = CONFIG) -> tuple[dict, dict]:
    """The ConfigMap and Job the controller would create for ``res``."""
    sweep = sweep_from_resource(res)
    owner = Owner(res["metadata"]["name"], res["metadata"]["uid"])
    return build_configmap(sweep, config, owner), build_job(sweep, config, owner)


def kinds(actions: list[Action]) -> list[str]:
    return [type(a).__name__ for a in actions]


def status_of(actions: list[Action]) -> dict[str, Any]:
    patches = [a.patch for a in actions if isinstance(a, UpdateStatus)]
    assert len(patches) == 1, kinds(actions)
    return dict(patches[0])


def events(actions: list[Action]) -> list[EmitEvent]:
    return [a for a in actions if isinstance(a, EmitEvent)]


def apply(res: dict[str, Any], actions: list[Action]) -> dict[str, Any]:
    """The resource after the API applied the status patches among ``actions``."""
    out = dict(res)
    for action in actions:
        if isinstance(action, UpdateStatus):
            out["status"] = merge_patch(out.get("status") or {}, action.patch)
    return out


def settle(res: dict[str, Any], observed: Observed, now: datetime = NOW) -> dict[str, Any]:
    """Reconcile once and apply the status patch: the resource as the next reconcile sees it."""
    return apply(res, reconcile(res, observed, now, config=CONFIG))


# --- new sweep ----------------------------------------------------------------------------------


def test_new_sweep_creates_configmap_then_job_and_reports_pending() -> None:
    res = resource()
    actions = reconcile(res, Observed(), NOW, config=CONFIG)
    # The example's tasks are tiny: one TaskSize warning follows the Job's create.
    assert kinds(actions) == [
        "CreateConfigMap", "CreateJob", "EmitEvent", "UpdateStatus", "EmitEvent"
    ]  # fmt: skip
    assert [e.reason for e in events(actions)] == ["TaskSize", "Created"]
    configmap, job = children(res)
    assert actions[0] == CreateConfigMap(configmap)
    assert actions[1] == CreateJob(job)
    status = status_of(actions)
    assert status["phase"] == "Pending"
    assert status["tasksTotal"] == TOTAL
    assert status["resultsUri"] == RESULTS
    assert status["observedGeneration"] == 1
    assert "startTime" not in status
    by_type = {c["type"]: c for c in status["conditions"]}
    assert by_type["Started"]["status"] == "False"
    assert by_type["Complete"]["status"] == "False"
    assert by_type["Failed"]["status"] == "False"
    assert by_type["Started"]["lastTransitionTime"] == "2025-01-01T02:00:00Z"  # no microseconds
    size, event = events(actions)
    assert (size.type, size.reason) == (EventType.WARNING, "TaskSize")
    assert (event.type, event.reason) == (EventType.NORMAL, "Created")


def test_new_sweep_children_are_owned_by_the_sweep_and_resolve_the_output() -> None:
    res = resource()
    configmap, job = children(res)
    for obj in (configmap, job):
        (ref,) = obj["metadata"]["ownerReferences"]
        assert ref["uid"] == UID and ref["controller"] and ref["blockOwnerDeletion"]
        assert obj["metadata"]["namespace"] == NAMESPACE
    assert "uri: s3://govsim-results/sweeps\n" in configmap["data"]["sweep.yaml"]
    assert job["spec"]["completions"] == TOTAL


# --- progress, success, failure -----------------------------------------------------------------

PENDING = settle(resource(), Observed())


@pytest.mark.parametrize(
    ("job_status", "phase", "done", "failed", "failed_indexes", "reason"),
    [
        ({}, "Pending", 0, 0, None, None),
        ({"startTime": "2025-01-01T00:10:00Z", "active": 4}, "Running", 0, 0, None, "Started"),
        (
            {"startTime": "2025-01-01T00:10:00Z", "active": 4, "completedIndexes": "0-2,5"},
            "Running",
            4,
            0,
            None,
            "Started",
        ),
        (
            {
                "startTime": "2025-01-01T00:10:00Z",
                "active": 3,
                "completedIndexes": "0-3",
                "failedIndexes": "4",
            },
            "Running",
            4,
            1,
            "4",
            "Started",
        ),
        (
            {
                "startTime": "2025-01-01T00:10:00Z",
                "completionTime": "2025-01-01T01:00:00Z",
                "completedIndexes": "0-7",
                "succeeded": 8,
                "conditions": [condition("SuccessCriteriaMet"), condition("Complete")],
            },
            "Succeeded",
            8,
            0,
            None,
            "Succeeded",
        ),
        (
            {
                "startTime": "2025-01-01T00:10:00Z",
                "completedIndexes": "0,2",
                "failedIndexes": "1,3-4",
                "conditions": [
                    condition("FailureTarget", "MaxFailedIndexesExceeded"),
                    condition(
                        "Failed", "MaxFailedIndexesExceeded", "Job has exceeded maxFailedIndexes"
                    ),
                ],
            },
            "Failed",
            2,
            3,
            "1,3-4",
            "MaxFailedIndexesExceeded",
        ),
    ],
    ids=["created", "started", "progressing", "one-failed", "succeeded", "past-max-failed"],
)
def test_phase_and_counts_follow_the_job(
    job_status: dict[str, Any],
    phase: str,
    done: int,
    failed: int,
    failed_indexes: str | None,
    reason: str | None,
) -> None:
    configmap, job = children(PENDING)
    observed = Observed(configmap=configmap, job=with_job_status(job, **job_status))
    actions = reconcile(PENDING, observed, NOW, config=CONFIG)
    assert not [a for a in actions if isinstance(a, (CreateConfigMap, CreateJob))]
    after = apply(PENDING, actions)["status"]
    assert after["phase"] == phase
    assert after["tasksTotal"] == TOTAL
    assert after.get("tasksDone", 0) == done
    assert after.get("tasksFailed", 0) == failed
    assert after.get("failedIndexes") == failed_indexes
    if reason is None:
        assert events(actions) == []
    else:
        (event,) = events(actions)
        assert event.reason == reason
        assert event.type == (EventType.WARNING if phase == "Failed" else EventType.NORMAL)
    conditions = {c["type"]: c["status"] for c in after["conditions"]}
    assert conditions["Complete"] == ("True" if phase == "Succeeded" else "False")
    assert conditions["Failed"] == ("True" if phase == "Failed" else "False")
    assert conditions["Started"] == ("False" if phase == "Pending" else "True")


def test_succeeded_reports_times_and_results() -> None:
    configmap, job = children(PENDING)
    done = with_job_status(
        job,
        startTime="2025-01-01T00:10:00Z",
        completionTime="2025-01-01T01:00:00Z",
        completedIndexes="0-7",
        conditions=[condition("Complete", at="2025-01-01T01:00:05Z")],
    )
    status = settle(PENDING, Observed(configmap, done))["status"]
    assert status["startTime"] == "2025-01-01T00:10:00Z"
    assert status["completionTime"] == "2025-01-01T01:00:00Z"
    assert RESULTS in status["message"]


def test_failed_past_max_failed_indexes_says_which_and_why() -> None:
    configmap, job = children(PENDING)
    failed = with_job_status(
        job,
        startTime="2025-01-01T00:10:00Z",
        failedIndexes="1,3-4",
        conditions=[condition("Failed", "MaxFailedIndexesExceeded", "Job has exceeded it")],
    )
    status = settle(PENDING, Observed(configmap, failed))["status"]
    assert status["completionTime"] == "2025-01-01T01:00:00Z"  # the condition's time, not now
    assert "MaxFailedIndexesExceeded" in status["message"]
    assert "1,3-4" in status["message"]


def test_unchanged_job_gives_no_actions() -> None:
    configmap, job = children(PENDING)
    running = with_job_status(job, startTime="2025-01-01T00:10:00Z", completedIndexes="0-1")
    observed = Observed(configmap, running)
    once = settle(PENDING, observed)
    assert reconcile(once, observed, NOW + timedelta(minutes=5), config=CONFIG) == []


def test_condition_transition_time_moves_only_when_the_condition_changes() -> None:
    configmap, job = children(PENDING)
    t1 = with_job_status(job, startTime="2025-01-01T00:10:00Z", completedIndexes="0")
    t2 = with_job_status(job, startTime="2025-01-01T00:10:00Z", completedIndexes="0-3")
    first = settle(PENDING, Observed(configmap, t1), NOW)
    later = NOW + timedelta(minutes=7)
    second = settle(first, Observed(configmap, t2), later)
    times = {c["type"]: c["lastTransitionTime"] for c in second["status"]["conditions"]}
    assert times["Started"] == "2025-01-01T02:00:00Z"  # set at the first reconcile
    assert times["Complete"] == PENDING["status"]["conditions"][1]["lastTransitionTime"]
    assert second["status"]["tasksDone"] == 4


# --- restarts and lost children -----------------------------------------------------------------


def test_controller_restarted_after_the_configmap_creates_only_the_job() -> None:
    configmap, job = children(PENDING)
    actions = reconcile(PENDING, Observed(configmap=configmap), NOW, config=CONFIG)
    assert actions == [CreateJob(job)]


def test_controller_restarted_after_both_children_only_updates_status() -> None:
    configmap, job = children(PENDING)
    created = with_job_status(job)
    assert reconcile(PENDING, Observed(configmap, created), NOW, config=CONFIG) == []
    started = with_job_status(job, startTime="2025-01-01T00:10:00Z")
    actions = reconcile(PENDING, Observed(configmap, started), NOW, config=CONFIG)
    assert kinds(actions) == ["UpdateStatus", "EmitEvent"]


def test_restart_with_no_status_written_yet_creates_nothing_twice() -> None:
    res = resource()  # the controller died after creating both, before patching the status
    configmap, job = children(res)
    actions = reconcile(res, Observed(configmap, with_job_status(job)), NOW, config=CONFIG)
    assert kinds(actions) == ["UpdateStatus", "EmitEvent"]
    assert status_of(actions)["phase"] == "Pending"


def test_configmap_deleted_while_running_is_recreated_alone() -> None:
    configmap, job = children(PENDING)
    running = with_job_status(job, startTime="2025-01-01T00:10:00Z")
    actions = reconcile(PENDING, Observed(None, running), NOW, config=CONFIG)
    assert actions[0] == CreateConfigMap(configmap)
    assert "CreateJob" not in kinds(actions)


def test_job_deleted_by_hand_before_the_end_is_recreated() -> None:
    configmap, job = children(PENDING)
    running_job = with_job_status(job, startTime="2025-01-01T00:10:00Z", completedIndexes="0-2")
    running = settle(PENDING, Observed(configmap, running_job))
    assert running["status"]["phase"] == "Running"
    actions = reconcile(running, Observed(configmap=configmap), NOW, config=CONFIG)
    assert kinds(actions) == ["CreateJob", "UpdateStatus", "EmitEvent"]
    assert actions[0] == CreateJob(job)
    status = status_of(actions)
    assert status["phase"] == "Pending"
    assert "skipped" in status["message"]
    assert events(actions)[0].reason == "JobRecreated"
    after = apply(running, actions)["status"]
    assert after["startTime"] == "2025-01-01T00:10:00Z"  # the sweep's start, kept
    assert after["tasksDone"] == 3


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_job_gone_after_the_end_is_not_recreated(phase: str) -> None:
    configmap, job = children(PENDING)
    final = [condition("Complete")] if phase == "Succeeded" else [condition("Failed", "X")]
    ended = with_job_status(job, startTime="2025-01-01T00:10:00Z", conditions=final)
    finished = settle(PENDING, Observed(configmap, ended))
    assert finished["status"]["phase"] == phase
    # ttlSecondsAfterFinished removed the Job (and the ConfigMap is gone too); nothing is created.
    assert reconcile(finished, Observed(), NOW, config=NO_PUSHGATEWAY) == []
    assert kinds(reconcile(finished, Observed(), NOW, config=CONFIG)) == ["DeletePushgatewayGroups"]


def test_foreign_job_of_the_same_name_is_not_adopted() -> None:
    res = resource()
    _, job = children(resource(uid="uid-of-an-older-sweep"))
    actions = reconcile(res, Observed(None, with_job_status(job)), NOW, config=CONFIG)
    assert kinds(actions) == ["UpdateStatus", "EmitEvent"]
    status = status_of(actions)
    assert status["phase"] == "Pending"
    assert "not owned by this Sweep" in status["message"]
    assert events(actions)[0].reason == "Blocked"


# --- deletion -----------------------------------------------------------------------------------


def test_deleted_sweep_creates_nothing_and_is_quiet_without_metrics() -> None:
    assert reconcile(resource(deleting=True), Observed(), NOW, config=CONFIG) == []
    assert reconcile(PENDING, Observed(deleted=True), NOW, config=CONFIG) == []


def test_deleted_sweep_that_ran_has_its_pushgateway_groups_deleted_at_once() -> None:
    configmap, job = children(PENDING)
    running = settle(PENDING, Observed(configmap, with_job_status(job, startTime="2025-01-01Z")))
    actions = reconcile(running, Observed(deleted=True), NOW, config=CONFIG)
    assert actions == [DeletePushgatewayGroups("whale-vs-conformity", False)]


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "config", "reason", "needle"),
    [
        (
            {"parameters": {}, "replicates": 100_001, "runsPerTask": 1},
            CONFIG,
            "TooLarge",
            "spec.runsPerTask: 1 gives 100001 tasks; one Job runs at most 100000: "
            "set runsPerTask to at least 2",
        ),
        (
            {"simulator": {"whale_ratio": 1.7}, "parameters": {}},
            CONFIG,
            "InvalidSpec",
            f"Sweep {NAMESPACE}/whale-vs-conformity: spec.simulator.whale_ratio: 1.7 is outside",
        ),
        (
            {"parameters": {"whale_size": {"values": [1]}}},
            CONFIG,
            "InvalidSpec",
            "spec.parameters.whale_size: unknown parameter",
        ),
        ({}, ControllerConfig(), "InvalidOutput", "spec.output.uri: 'file://results'"),
    ],
    ids=["oversize", "out-of-range", "unknown-parameter", "file-output-no-bucket"],
)
def test_refused_sweeps_fail_at_once_and_create_nothing(
    spec: dict[str, Any], config: ControllerConfig, reason: str, needle: str
) -> None:
    res = resource(spec=spec)
    actions = reconcile(res, Observed(), NOW, config=config)
    assert kinds(actions) == ["UpdateStatus", "EmitEvent"]
    status = status_of(actions)
    assert status["phase"] == "Failed"
    assert needle in status["message"]
    (event,) = events(actions)
    assert (event.type, event.reason) == (EventType.WARNING, reason)
    failed = {c["type"]: c for c in status["conditions"]}["Failed"]
    assert (failed["status"], failed["reason"]) == ("True", reason)
    # Refusal is stable: reconciling the refused resource again changes nothing.
    assert reconcile(apply(res, actions), Observed(), NOW + timedelta(hours=1), config=config) == []


def test_oversize_message_and_tasks_total() -> None:
    res = resource(spec={"parameters": {}, "replicates": 250_000, "runsPerTask": 2})
    status = status_of(reconcile(res, Observed(), NOW, config=CONFIG))
    assert status["tasksTotal"] == 125_000
    assert "runsPerTask to at least 3" in status["message"]


def test_s3_output_needs_no_default_bucket() -> None:
    res = resource(spec={"output": {"uri": "s3://team-bucket/runs"}})
    actions = reconcile(res, Observed(), NOW, config=ControllerConfig())
    assert kinds(actions)[:2] == ["CreateConfigMap", "CreateJob"]
    assert status_of(actions)["resultsUri"] == "s3://team-bucket/runs/whale-vs-conformity/"


# --- Kueue --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec_queue", "default_queue", "expected"),
    [(None, None, None), ("team-a", None, "team-a"), (None, "batch", "batch"), ("a", "b", "a")],
)
def test_queue_label_and_suspend(
    spec_queue: str | None, default_queue: str | None, expected: str | None
) -> None:
    config = ControllerConfig(s3_bucket="govsim-results", default_queue=default_queue)
    res = resource(spec={"queueName": spec_queue} if spec_queue else {})
    _, job = children(res, config)
    assert job["metadata"]["labels"].get("kueue.x-k8s.io/queue-name") == expected
    assert job["spec"].get("suspend", False) is (expected is not None)


def test_suspended_job_is_pending_queued() -> None:
    config = ControllerConfig(s3_bucket="govsim-results", default_queue="batch")
    res = resource()
    actions = reconcile(res, Observed(), NOW, config=config)
    assert events(actions)[-1].reason == "Queued"
    assert "Kueue queue batch" in status_of(actions)["message"]
    pending = apply(res, actions)
    configmap, job = children(res, config)
    suspended = with_job_status(job, conditions=[condition("Suspended", "JobSuspended")])
    assert reconcile(pending, Observed(configmap, suspended), NOW, config=config) == []


# --- Pushgateway cleanup ------------------------------------------------------------------------


def finished_at(end: str) -> dict[str, Any]:
    configmap, job = children(PENDING)
    done = with_job_status(
        job,
        startTime="2025-01-01T00:10:00Z",
        completionTime=end,
        completedIndexes="0-7",
        conditions=[condition("Complete", at=end)],
    )
    return settle(PENDING, Observed(configmap, done))


@pytest.mark.parametrize(
    ("elapsed", "config", "expected"),
    [
        (timedelta(seconds=599), CONFIG, []),
        (
            timedelta(seconds=600),
            CONFIG,
            [DeletePushgatewayGroups("whale-vs-conformity")],
        ),
        (timedelta(days=3), ControllerConfig(s3_bucket="govsim-results"), []),
    ],
    ids=["within-grace", "grace-over", "no-pushgateway"],
)
def test_pushgateway_groups_are_deleted_once_after_the_grace(
    elapsed: timedelta, config: ControllerConfig, expected: list[Action]
) -> None:
    end = datetime(2025, 1, 1, 1, 0, 0, tzinfo=UTC)
    finished = finished_at("2025-01-01T01:00:00Z")
    assert reconcile(finished, Observed(), end + elapsed, config=config) == expected


def test_pushgateway_cleanup_is_not_repeated_once_recorded() -> None:
    finished = finished_at("2025-01-01T01:00:00Z")
    finished["status"]["pushgatewayCleanedUp"] = True
    later = datetime(2025, 1, 5, tzinfo=UTC)
    assert reconcile(finished, Observed(), later, config=CONFIG) == []


def test_refused_sweep_never_cleans_up_groups_it_never_pushed() -> None:
    res = resource(spec={"simulator": {"whale_ratio": 2}, "parameters": {}})
    refused = apply(res, reconcile(res, Observed(), NOW, config=CONFIG))
    later = NOW + timedelta(days=1)
    assert reconcile(refused, Observed(), later, config=CONFIG) == []


# --- helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("intervals", "count"),
    [(None, 0), ("", 0), ("0", 1), ("1,3-5,7", 5), ("0-99999", 100_000), ("2-2", 1)],
)
def test_count_indexes(intervals: str | None, count: int) -> None:
    assert count_indexes(intervals) == count


def test_status_patch_removes_keys_that_no_longer_apply() -> None:
    configmap, job = children(PENDING)
    failing = with_job_status(job, startTime="2025-01-01T00:10:00Z", failedIndexes="3")
    with_failure = settle(PENDING, Observed(configmap, failing))
    assert with_failure["status"]["failedIndexes"] == "3"
    # A Job re-created by hand starts with no failed indexes: the key must disappear.
    fresh = with_job_status(job, startTime="2025-01-01T00:20:00Z")
    actions = reconcile(with_failure, Observed(configmap, fresh), NOW, config=CONFIG)
    assert status_of(actions)["failedIndexes"] is None
    assert "failedIndexes" not in apply(with_failure, actions)["status"]


# --- tolerated failures and changed cluster config ----------------------------------------------


@pytest.mark.parametrize(
    ("max_failed", "failed_indexes", "phase", "reason"),
    [
        (2, "3", "Succeeded", "SucceededWithFailedTasks"),
        (2, "3,5", "Succeeded", "SucceededWithFailedTasks"),
        (None, "3", "Failed", "FailedIndexes"),
        (0, "3", "Failed", "FailedIndexes"),
    ],
)
def test_failed_indexes_within_max_failed_indexes_are_tolerated(
    max_failed: int | None, failed_indexes: str, phase: str, reason: str
) -> None:
    res = resource(spec={"maxFailedIndexes": max_failed})
    pending = settle(res, Observed())
    configmap, job = children(res)
    ended = with_job_status(
        job,
        startTime="2025-01-01T00:10:00Z",
        completedIndexes="0-2,4,6-7",
        failedIndexes=failed_indexes,
        conditions=[condition("Failed", "FailedIndexes", "Job has failed indexes")],
    )
    actions = reconcile(pending, Observed(configmap, ended), NOW, config=CONFIG)
    status = status_of(actions)
    assert (status["phase"], events(actions)[0].reason) == (phase, reason)
    assert status["failedIndexes"] == failed_indexes


def test_running_job_is_still_followed_after_the_default_bucket_is_removed() -> None:
    _, job = children(PENDING)
    running = with_job_status(job, startTime="2025-01-01T00:10:00Z", completedIndexes="0")
    bucketless = ControllerConfig()
    actions = reconcile(PENDING, Observed(None, running), NOW, config=bucketless)
    assert kinds(actions) == ["UpdateStatus", "EmitEvent"]  # no ConfigMap it cannot build
    assert status_of(actions)["phase"] == "Running"
    assert apply(PENDING, actions)["status"]["resultsUri"] == RESULTS


def test_a_resource_with_the_deprecated_points_per_task_gets_the_same_children() -> None:
    current = resource()
    legacy = resource()
    legacy["spec"]["pointsPerTask"] = legacy["spec"].pop("runsPerTask")
    with pytest.warns(SpecDeprecationWarning, match=r"^Sweep research/whale-vs-conformity: spec\."):
        actions = reconcile(legacy, Observed(), NOW, config=CONFIG)
    created = [a.body for a in actions if isinstance(a, (CreateConfigMap, CreateJob))]
    assert created == list(children(current))
    resolved = yaml.safe_load(created[0]["data"]["sweep.yaml"])
    assert resolved["spec"]["runsPerTask"] == 10
    assert "pointsPerTask" not in resolved["spec"]


# --- a create the API server refuses -------------------------------------------------------------


def test_rejected_job_fails_the_sweep_with_the_server_message() -> None:
    res = resource()
    configmap, _ = children(res)
    error = CreateError("Job", True, "create Job research/x: 422 Unprocessable Entity: bad field")
    actions = reconcile(res, Observed(configmap=configmap, create_error=error), NOW, config=CONFIG)
    assert kinds(actions) == ["UpdateStatus", "EmitEvent"]  # no create is retried
    status = status_of(actions)
    assert status["phase"] == "Failed"
    assert "422 Unprocessable Entity: bad field" in status["message"]
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert (failed["status"], failed["reason"]) == ("True", "JobRejected")
    (event,) = events(actions)
    assert (event.type, event.reason) == (EventType.WARNING, "JobRejected")
    # Final: the next reconcile (still no Job) creates nothing.
    after = apply(res, actions)
    assert reconcile(after, Observed(configmap=configmap), NOW, config=NO_PUSHGATEWAY) == []


def test_temporary_create_failure_is_pending_with_the_message() -> None:
    res = resource()
    error = CreateError("Job", False, "create Job research/x: 403 Forbidden: exceeded quota")
    actions = reconcile(res, Observed(create_error=error), NOW, config=CONFIG)
    assert kinds(actions) == ["UpdateStatus", "EmitEvent"]
    status = status_of(actions)
    assert status["phase"] == "Pending"
    assert "retrying" in status["message"] and "exceeded quota" in status["message"]
    (event,) = events(actions)
    assert (event.type, event.reason) == (EventType.WARNING, "CreateRetrying")
    # Once the create succeeds the message goes; the phase stays Pending (no second Event).
    after = apply(res, actions)
    again = reconcile(after, Observed(), NOW, config=CONFIG)
    # The Job is created only now, so its TaskSize warning comes now.
    assert kinds(again) == ["CreateConfigMap", "CreateJob", "EmitEvent", "UpdateStatus"]
    assert "retrying" not in status_of(again)["message"]


# --- pods that are never created -----------------------------------------------------------------

FIRST = datetime(2025, 1, 1, 1, 50, 0, tzinfo=UTC)
QUOTA = 'pods "x-0" is forbidden: exceeded quota: compute, requested: cpu=1, limited: cpu=0'


def podless(res: dict[str, Any], **status: Any) -> dict[str, Any]:
    _, job = children(res)
    return with_job_status(job, startTime="2025-01-01T01:49:00Z", **status)


def failures(*messages: str, first: datetime = FIRST) -> tuple[FailedCreate, ...]:
    return tuple(
        FailedCreate(first, first + timedelta(minutes=i), m) for i, m in enumerate(messages)
    )


def pods_condition(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "PodsCreated")


@pytest.mark.parametrize(
    ("timeout", "minutes_later", "phase", "reason"),
    [
        (900, 5, "Pending", "FailedCreate"),  # 15 min not yet over
        (900, 20, "Failed", "PodsNotCreated"),
        (0, 600, "Pending", "FailedCreate"),  # 0: never times out
    ],
)
def test_failed_create_is_surfaced_then_times_out(
    timeout: int, minutes_later: int, phase: str, reason: str
) -> None:
    config = CONFIG.model_copy(update={"pod_creation_timeout_seconds": timeout})
    res = resource()
    configmap, _ = children(res)
    observed = Observed(
        configmap=configmap,
        job=podless(res),
        failed_create=failures('serviceaccount "govsim-worker" not found', QUOTA),
    )
    now = FIRST + timedelta(minutes=minutes_later)
    actions = reconcile(res, observed, now, config=config)
    status = status_of(actions)
    assert status["phase"] == phase
    assert QUOTA in status["message"]  # the latest failure
    cond = pods_condition(status)
    assert cond["status"] == "False"
    assert cond["reason"] == reason
    assert cond["message"] == QUOTA
    if phase == "Failed":
        failed = next(c for c in status["conditions"] if c["type"] == "Failed")
        assert failed["reason"] == "PodsNotCreated"
        assert events(actions)[0].type is EventType.WARNING


def test_timeout_counts_from_the_first_failure_seen_even_after_events_expire() -> None:
    res = resource()
    configmap, _ = children(res)
    job = podless(res)
    early = Observed(configmap=configmap, job=job, failed_create=failures(QUOTA))
    res = apply(res, reconcile(res, early, FIRST, config=CONFIG))
    # An hour later the Events have expired and been recreated: the condition keeps the start.
    late = Observed(
        configmap=configmap,
        job=job,
        failed_create=failures(QUOTA, first=FIRST + timedelta(hours=1)),
    )
    status = status_of(reconcile(res, late, FIRST + timedelta(hours=1), config=CONFIG))
    assert status["phase"] == "Failed"


def test_suspended_job_never_times_out() -> None:
    res = resource()
    configmap, _ = children(res)
    _, job = children(res)
    job = with_job_status({**job, "spec": {**job["spec"], "suspend": True}})
    observed = Observed(configmap=configmap, job=job, failed_create=failures(QUOTA))
    status = status_of(reconcile(res, observed, FIRST + timedelta(days=1), config=CONFIG))
    assert status["phase"] == "Pending"
    assert "PodsCreated" not in [c["type"] for c in status["conditions"]]


def test_pods_not_created_is_final_and_pods_created_turns_true_when_pods_run() -> None:
    res = resource()
    configmap, _ = children(res)
    observed = Observed(configmap=configmap, job=podless(res), failed_create=failures(QUOTA))
    # The quota is raised in time: the pods run, the condition turns True.
    res_pending = apply(res, reconcile(res, observed, FIRST, config=CONFIG))
    running = Observed(configmap=configmap, job=podless(res, active=3))
    status = status_of(reconcile(res_pending, running, FIRST, config=CONFIG))
    assert (status["phase"], pods_condition(status)["status"]) == ("Running", "True")
    # Timed out: final, even if pods appear afterwards.
    failed = apply(
        res_pending, reconcile(res_pending, observed, FIRST + timedelta(hours=1), config=CONFIG)
    )
    assert failed["status"]["phase"] == "Failed"
    assert reconcile(failed, running, FIRST + timedelta(hours=2), config=NO_PUSHGATEWAY) == []


# --- which sweeps a resync skips -----------------------------------------------------------------

DONE = {
    "phase": "Succeeded",
    "startTime": "2025-01-01T00:10:00Z",
    "tasksTotal": 8,
    "completionTime": "2025-01-01T01:00:00Z",
}


@pytest.mark.parametrize(
    ("status", "config", "deleting", "expected"),
    [
        ({**DONE, "pushgatewayCleanedUp": True}, CONFIG, False, True),
        (DONE, NO_PUSHGATEWAY, False, True),
        (DONE, CONFIG, False, False),  # cleanup still due
        ({**DONE, "phase": "Failed", "startTime": None}, CONFIG, False, True),  # nothing pushed
        ({**DONE, "phase": "Running"}, NO_PUSHGATEWAY, False, False),
        ({**DONE, "pushgatewayCleanedUp": True}, CONFIG, True, False),
        (None, CONFIG, False, False),
    ],
)
def test_settled_sweeps_are_skipped_by_a_resync(
    status: dict[str, Any] | None, config: ControllerConfig, deleting: bool, expected: bool
) -> None:
    clean = None if status is None else {k: v for k, v in status.items() if v is not None}
    assert settled(resource(status=clean, deleting=deleting), config) is expected
