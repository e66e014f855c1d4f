"""The adapter against a fake API server at the HTTP boundary (kmock), through the real client.

kmock emulates the Kubernetes API in memory over HTTP: it stores, patches and lists objects and
answers 409 to a second create, but it has no validation, defaulting or Job controller. So these
tests check the adapter's API calls (paths, verbs, bodies, error translation), while
``test_k8s_reconcile`` checks the decisions. The adapter's client is synchronous, so every call
runs in a thread while the fake server serves on the test's event loop.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import kopf
import kubernetes_validate
import pytest
from kit.kube import NAMESPACE, UID, api_for, call, requests, resource
from kubernetes import client as k8s
from prometheus_client import CollectorRegistry

from sweep_controller.k8s.api import KubeApi, translate
from sweep_controller.k8s.config import ControllerConfig
from sweep_controller.k8s.controller import Controller
from sweep_controller.k8s.reconcile import (
    CreateConfigMap,
    CreateJob,
    DeletePushgatewayGroups,
    EmitEvent,
    EventType,
    Observed,
    UpdateStatus,
    reconcile,
)
from sweep_controller.k8s.status import Phase
from sweep_controller.metrics import ControllerMetrics

pytestmark = pytest.mark.asyncio

NOW = datetime(2025, 1, 1, 2, 0, 0, tzinfo=UTC)
NAME = "whale-vs-conformity"
SWEEPS = "govsim.io/v1alpha1/sweeps"
JOBS = "batch/v1/jobs"
CONFIGMAPS = "v1/configmaps"
EVENTS = "v1/events"
CONFIG = ControllerConfig(s3_bucket="govsim-results", s3_prefix="sweeps")


def objects(kmock: Any, kind: str) -> dict[tuple[str | None, str], dict[str, Any]]:
    """Live (not deleted) objects of a resource, by (namespace, name)."""
    out = {}
    for (res, ns, name), obj in kmock.objects.items():
        if f"{res.group}/{res.version}/{res.plural}".lstrip("/") == kind and not obj.deleted:
            out[ns, name] = dict(obj.raw)
    return out


def new_sweep(kmock: Any, **kwargs: Any) -> dict[str, Any]:
    body = resource(**kwargs)
    kmock.objects[SWEEPS, NAMESPACE, NAME] = body
    return body


def children_actions(body: dict[str, Any]) -> list[Any]:
    actions = reconcile(body, Observed(), NOW, config=CONFIG)
    return [a for a in actions if isinstance(a, (CreateConfigMap, CreateJob))]


# --- creation is idempotent ---------------------------------------------------------------------


async def test_creating_children_twice_makes_one_job(kmock: Any) -> None:
    api = api_for(kmock)
    body = new_sweep(kmock)
    actions = children_actions(body)
    assert [type(a) for a in actions] == [CreateConfigMap, CreateJob]
    controller = Controller(api, CONFIG)
    await call(controller.carry_out, body, actions, NOW)
    await call(controller.carry_out, body, actions, NOW)  # a restarted controller, same decision
    assert list(objects(kmock, JOBS)) == [(NAMESPACE, NAME)]
    assert list(objects(kmock, CONFIGMAPS)) == [(NAMESPACE, f"{NAME}-spec")]
    posts = requests(kmock, "POST", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs")
    assert len(posts) == 2  # the second answered 409 and counted as success
    assert json.loads(posts[0].body) == actions[1].body
    job = objects(kmock, JOBS)[NAMESPACE, NAME]
    assert job["metadata"]["ownerReferences"][0]["uid"] == UID


async def test_create_reports_created_then_existing(kmock: Any) -> None:
    api = api_for(kmock)
    _, job = children_actions(new_sweep(kmock))
    assert await call(api.create, job.body) is True
    assert await call(api.create, job.body) is False


# --- status goes to the status subresource ------------------------------------------------------


async def test_status_patch_goes_to_the_status_subresource(kmock: Any) -> None:
    api = api_for(kmock)
    body = new_sweep(kmock)
    patch = {"phase": "Running", "tasksDone": 3, "message": None}
    await call(Controller(api, CONFIG).carry_out, body, [UpdateStatus(patch)], NOW)
    (request,) = requests(kmock, "PATCH", f"/apis/govsim.io/v1alpha1/namespaces/{NAMESPACE}/.*")
    assert request.url.path.endswith(f"/sweeps/{NAME}/status")
    assert request.subresource == "status"
    assert request.headers["Content-Type"] == "application/merge-patch+json"
    assert json.loads(request.body) == {"status": patch}
    stored = objects(kmock, SWEEPS)[NAMESPACE, NAME]
    assert stored["status"]["phase"] == "Running"
    assert stored["spec"] == body["spec"]  # nothing but status was sent


async def test_status_patch_of_a_deleted_sweep_is_not_an_error(kmock: Any) -> None:
    kmock.resources[SWEEPS] = kmock.ResourceInfo(kind="Sweep", namespaced=True)
    assert await call(api_for(kmock).patch_status, NAMESPACE, "gone", {"phase": "Failed"}) is False


# --- events -------------------------------------------------------------------------------------


async def test_event_is_posted_about_the_sweep_and_valid(kmock: Any) -> None:
    api = api_for(kmock)
    body = new_sweep(kmock)
    event = EmitEvent(EventType.WARNING, "TooLarge", "spec.runsPerTask: raise it " + "x" * 2000)
    await call(Controller(api, CONFIG).carry_out, body, [event], NOW)
    (request,) = requests(kmock, "POST", f"/api/v1/namespaces/{NAMESPACE}/events")
    posted = json.loads(request.body)
    assert posted["involvedObject"] == {
        "apiVersion": "govsim.io/v1alpha1",
        "kind": "Sweep",
        "name": NAME,
        "namespace": NAMESPACE,
        "uid": UID,
        "resourceVersion": "1001",
    }
    assert (posted["type"], posted["reason"]) == ("Warning", "TooLarge")
    assert len(posted["message"]) == 1024
    assert posted["lastTimestamp"] == "2025-01-01T02:00:00Z"
    assert kubernetes_validate.validate(posted, "1.31.0", strict=True)


async def test_event_refused_by_the_api_does_not_fail_the_reconcile(kmock: Any) -> None:
    kmock["post", re.compile(r"/api/v1/namespaces/.*/events")] << 403 << {"message": "no"}
    event = EmitEvent(EventType.NORMAL, "Created", "created")
    assert await call(api_for(kmock).post_event, new_sweep(kmock), event, NOW) is False


# --- errors are translated at the seam ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "delay"),
    [
        (422, kopf.PermanentError, None),
        (400, kopf.PermanentError, None),
        (403, kopf.TemporaryError, 60.0),
        (429, kopf.TemporaryError, 10.0),
        (500, kopf.TemporaryError, 10.0),
        (503, kopf.TemporaryError, 10.0),
    ],
)
async def test_api_errors_become_kopf_retry_policy(
    kmock: Any, status: int, error: type[Exception], delay: float | None
) -> None:
    reply = {"kind": "Status", "code": status, "message": f"denied with {status}"}
    kmock["post", re.compile(r"/apis/batch/v1/namespaces/.*/jobs")] << status << reply
    _, job = children_actions(new_sweep(kmock))
    with pytest.raises(error) as info:
        await call(api_for(kmock).create, job.body)
    assert type(info.value) is error
    assert f"create Job {NAMESPACE}/{NAME}: {status}" in str(info.value)
    assert f"denied with {status}" in str(info.value)
    if delay is not None:
        assert info.value.delay == delay  # type: ignore[attr-defined]
    assert isinstance(info.value.__cause__, k8s.ApiException)


async def test_unreachable_api_server_is_temporary() -> None:
    api = KubeApi(k8s.ApiClient(k8s.Configuration(host="http://127.0.0.1:9")))
    with pytest.raises(kopf.TemporaryError, match="read Job research/x"):
        await call(api.read_job, NAMESPACE, "x")


async def test_translate_keeps_unknown_errors_temporary() -> None:
    assert isinstance(translate(ConnectionResetError("reset"), "read"), kopf.TemporaryError)


# --- the whole loop: observe, decide, act -------------------------------------------------------


async def test_controller_drives_a_sweep_from_creation_to_success(kmock: Any) -> None:
    kmock.resources[JOBS] = kmock.ResourceInfo(kind="Job", namespaced=True)
    kmock.resources[CONFIGMAPS] = kmock.ResourceInfo(kind="ConfigMap", namespaced=True)
    api = api_for(kmock)
    metrics = ControllerMetrics(CollectorRegistry(), phases=[p.value for p in Phase])
    controller = Controller(api, CONFIG, metrics=metrics, clock=lambda: NOW)
    new_sweep(kmock)

    first = await call(controller.reconcile_named, NAMESPACE, NAME)
    assert [type(a).__name__ for a in first] == [
        "CreateConfigMap",
        "CreateJob",
        "EmitEvent",  # TaskSize: the example's tasks are tiny
        "UpdateStatus",
        "EmitEvent",
    ]
    assert objects(kmock, SWEEPS)[NAMESPACE, NAME]["status"]["phase"] == "Pending"

    # A restarted controller reads everything back and does nothing more.
    assert await call(controller.reconcile_named, NAMESPACE, NAME) == []
    assert len(requests(kmock, "POST", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs")) == 1

    # The Job controller reports success; the next reconcile follows.
    batch = k8s.BatchV1Api(api.batch.api_client)
    done = {
        "status": {
            "startTime": "2025-01-01T00:10:00Z",
            "completionTime": "2025-01-01T01:00:00Z",
            "completedIndexes": "0-7",
            "succeeded": 8,
            "conditions": [
                {"type": "Complete", "status": "True", "lastTransitionTime": "2025-01-01T01:00:00Z"}
            ],
        }
    }
    await call(batch.patch_namespaced_job_status, NAME, NAMESPACE, done)
    last = await call(controller.reconcile_named, NAMESPACE, NAME)
    assert [type(a).__name__ for a in last] == ["UpdateStatus", "EmitEvent"]
    status = objects(kmock, SWEEPS)[NAMESPACE, NAME]["status"]
    assert (status["phase"], status["tasksDone"], status["tasksTotal"]) == ("Succeeded", 8, 8)
    reasons = [json.loads(r.body)["reason"] for r in requests(kmock, "POST", r"/api/v1/.*/events")]
    assert reasons == ["TaskSize", "Created", "Succeeded"]  # TaskSize once, at the create
    registry = metrics.registry
    assert registry.get_sample_value("govsim_controller_sweeps", {"phase": "Succeeded"}) == 1
    assert registry.get_sample_value("govsim_controller_sweeps", {"phase": "Pending"}) == 0
    done_tasks = {"sweep_namespace": NAMESPACE, "sweep": NAME, "state": "done"}
    assert registry.get_sample_value("govsim_controller_sweep_tasks", done_tasks) == 8
    assert registry.get_sample_value("govsim_controller_reconciles_total", {"result": "ok"}) == 3


async def test_reconcile_of_a_missing_sweep_does_nothing(kmock: Any) -> None:
    kmock.resources[SWEEPS] = kmock.ResourceInfo(kind="Sweep", namespaced=True)
    assert await call(Controller(api_for(kmock), CONFIG).reconcile_named, NAMESPACE, "gone") == []


async def test_failed_api_call_counts_a_temporary_error(kmock: Any) -> None:
    kmock["post", re.compile(r"/apis/batch/v1/namespaces/.*/jobs")] << 503 << {"message": "busy"}
    metrics = ControllerMetrics(CollectorRegistry())
    controller = Controller(api_for(kmock), CONFIG, metrics=metrics, clock=lambda: NOW)
    body = new_sweep(kmock)
    with pytest.raises(kopf.TemporaryError):
        await call(controller.reconcile_resource, body)
    registry = metrics.registry
    assert registry.get_sample_value("govsim_controller_errors_total", {"kind": "temporary"}) == 1
    assert registry.get_sample_value("govsim_controller_reconciles_total", {"result": "error"}) == 1


# --- Pushgateway cleanup over HTTP --------------------------------------------------------------


def serve_groups(kmock: Any, *groups: dict[str, str]) -> None:
    """Answer the Pushgateway's group listing (``/api/v1/metrics``) with ``groups``' labels."""
    data = [{"labels": {"job": "govsim-worker", **labels}} for labels in groups]
    kmock["get", "/api/v1/metrics"] << {"status": "success", "data": data}


async def test_pushgateway_groups_deleted_then_recorded_in_status(kmock: Any) -> None:
    kmock["delete", re.compile(r"/metrics/job/govsim-worker/.*")] << 202
    ours = {"sweep": NAME, "sweep_namespace": NAMESPACE}
    serve_groups(
        kmock,
        *({**ours, "slot": str(s)} for s in (0, 2, 1)),
        {**ours, "sweep_namespace": "elsewhere", "slot": "7"},  # same name, other namespace
        {"sweep": "other", "sweep_namespace": NAMESPACE, "slot": "5"},
    )
    config = ControllerConfig(s3_bucket="govsim-results", pushgateway_url=str(kmock.url))
    metrics = ControllerMetrics(CollectorRegistry())
    controller = Controller(api_for(kmock), config, metrics=metrics)
    body = new_sweep(kmock)
    action = DeletePushgatewayGroups(NAME)
    await call(controller.carry_out, body, [action], NOW)
    # The slot groups the Pushgateway lists for this namespace's sweep only (concurrent deletes:
    # in any order), not one per task.
    deleted = sorted(r.url.path for r in requests(kmock, "DELETE", r"/metrics/.*"))
    prefix = "/metrics/job/govsim-worker"
    assert deleted == [
        f"{prefix}/slot/{i}/sweep/{NAME}/sweep_namespace/{NAMESPACE}" for i in [0, 1, 2]
    ]
    assert objects(kmock, SWEEPS)[NAMESPACE, NAME]["status"] == {"pushgatewayCleanedUp": True}
    ok = {"result": "ok"}
    assert (
        metrics.registry.get_sample_value("govsim_controller_pushgateway_group_deletions_total", ok)
        == 3
    )


async def test_an_unreadable_group_listing_deletes_nothing_and_is_retried_later(
    kmock: Any,
) -> None:
    kmock["get", "/api/v1/metrics"] << 503
    config = ControllerConfig(s3_bucket="govsim-results", pushgateway_url=str(kmock.url))
    body = new_sweep(kmock)
    await call(
        Controller(api_for(kmock), config).carry_out, body, [DeletePushgatewayGroups(NAME)], NOW
    )
    assert requests(kmock, "DELETE", r"/metrics/.*") == []
    assert "status" not in objects(kmock, SWEEPS)[NAMESPACE, NAME]


async def test_failed_group_deletion_is_not_recorded_and_retried_later(kmock: Any) -> None:
    kmock["delete", re.compile(r"/metrics/job/govsim-worker/.*")] << 500
    serve_groups(kmock, {"sweep": NAME, "sweep_namespace": NAMESPACE, "slot": "0"})
    config = ControllerConfig(s3_bucket="govsim-results", pushgateway_url=str(kmock.url))
    body = new_sweep(kmock)
    await call(
        Controller(api_for(kmock), config).carry_out,
        body,
        [DeletePushgatewayGroups(NAME)],
        NOW,
    )
    assert len(requests(kmock, "DELETE", r"/metrics/.*")) == 1
    assert "status" not in objects(kmock, SWEEPS)[NAMESPACE, NAME]
    assert requests(kmock, "PATCH", r".*") == []
